"""The wind model against numbers it was not built from (benchmarks/validate_wind.py): the
catalog plants' January-September full-load hours against the provinces' published fleet hours
(NEA, January-September 2017), and the twin's log law carrying a measured 40 m wind to 80 m
against the 80 m anemometer of the same mast (brightwind's demo met mast)."""

import numpy as np
import pandas as pd
import pytest

from benchmarks.validate_wind import (
    HOURS_BAND,
    brightwind_demo_dir,
    mast_record,
    plant_hours,
    shear_check,
)
from tests.conftest import SHARED_WEATHER, needs_shared

# Missed on the stations' EPWs, causes in the README ("Wind checks that can fail"): the catalog's
# assumed wind-farm means, not the model chain. strict: a change that brings one into the band
# fails here, so that this list and the README are updated with it.
KNOWN_MISSES = {
    "chongqing": "farm mean 4.6 m/s assumed; the province's hours need ~5.2 m/s",
    "guian": "farm mean 4.8 m/s assumed; Guizhou's hours need ~5.6 m/s",
    "zhongwei": "farm mean 6.3 m/s assumed; Ningxia's 2017 fleet yields as if ~5.2 m/s",
}


@pytest.fixture(scope="module")
def epw_hours():
    return plant_hours(SHARED_WEATHER).set_index("site")


@needs_shared
@pytest.mark.parametrize("site", [
    pytest.param(s, marks=pytest.mark.xfail(reason=KNOWN_MISSES[s], strict=True))
    if s in KNOWN_MISSES else s
    for s in ("chongqing", "dunhuang", "golmud", "guian", "hami", "hohhot", "qingyang",
              "turpan", "ulanqab", "urumqi", "wuhu", "xining", "zhongwei")])
def test_plant_hours_within_band_of_provincial_fleet(epw_hours, site):
    row = epw_hours.loc[site]
    assert row.weather == "EPW"
    low, high = HOURS_BAND
    assert low <= row.ratio <= high, row.to_dict()


@needs_shared
def test_every_catalog_wind_plant_is_compared(epw_hours):
    """No plant drops out of the comparison for lack of a published figure for its province."""
    from sites import load_catalog

    wind_sites = {s.id for s in load_catalog().values() if s.wind.turbine_count > 0}
    assert set(epw_hours.index) == wind_sites
    assert not (epw_hours.verdict == "no figure").any()
    # the hours are the twin's: between no wind and full power for nine months
    assert ((epw_hours.twin_jan_sep_h > 0) & (epw_hours.twin_jan_sep_h < 273 * 24)).all()


def test_without_station_files_the_embedded_normals_are_used(tmp_path):
    table = plant_hours(tmp_path)
    assert table.weather.str.startswith("normals").all()
    assert table.cf_annual.between(0.05, 0.6).all()


needs_mast = pytest.mark.skipif(
    brightwind_demo_dir() is None,
    reason="brightwind's demo met-mast data is not installed (pip install --no-deps brightwind; "
           ".ci/run installs it)")


@needs_mast
def test_log_law_carries_measured_40m_wind_to_80m():
    """The measured 80 m mean lies between the log-law predictions with roughness lengths one
    terrain class either side of the catalog's 0.03 m (0.005 and 0.10 m)."""
    record = mast_record(brightwind_demo_dir())
    assert len(record) > 50_000  # ~22 months of 10-min means after cleaning
    result = shear_check(record)
    assert result["within"], result
    assert abs(result["bias_pct"]) < 2.0, result
    # the mast shows the diurnal cycle a constant shear law cannot: more shear at night
    assert result["alpha_night"] > result["alpha_day"]


def test_shear_check_fails_on_a_strongly_sheared_record():
    """The check can fail: a record with shear exponent 0.3 (80 m = 40 m x 2^0.3) is outside."""
    rng = np.random.default_rng(0)
    v40 = rng.weibull(2.0, 5000) * 7.0 + 0.5
    time = pd.date_range("2020-01-01", periods=v40.size, freq="10min")
    steep = pd.DataFrame({40: v40, 80: v40 * 2 ** 0.3}, index=time)
    assert not shear_check(steep)["within"]
    neutral = pd.DataFrame({40: v40, 80: v40 * np.log(80 / 0.03) / np.log(40 / 0.03)},
                           index=time)
    assert shear_check(neutral)["within"]
