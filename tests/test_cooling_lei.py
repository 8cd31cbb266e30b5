"""The cooling model against Lei and Masanet's published hourly PUE/WUE model
(``benchmarks/validate_cooling_lei.py``) on three of the reference files: a hot desert (Phoenix),
the dry western hub of the catalog (Hami) and a hot humid eastern city (Shanghai), each for the
air-side economiser + adiabatic design with water-cooled chillers and the waterside economiser.
The tolerances are those of the benchmark (issue 20): annual PUE within 0.02, hourly PUE r >= 0.9,
WUE within 30 %, and the hours of free cooling within 2 % of the reference's."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.validate_cooling_lei import DEFAULT_REFERENCE_DIR, run
from tests.conftest import SHARED_WEATHER

STATIONS = ["USA_AZ_Phoenix-Sky.Harbor", "CHN_Xinjiang.Uygur.Hami.522030_CSWD",
            "CHN_Shanghai.Shanghai.583620_CSWD"]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    missing = [s for s in STATIONS if not (DEFAULT_REFERENCE_DIR / f"{s}.csv.gz").is_file()
               or not (SHARED_WEATHER / f"{s}.epw").is_file()]
    if missing:
        pytest.skip(f"Lei reference files or EPWs not found in {DEFAULT_REFERENCE_DIR} / "
                    f"{SHARED_WEATHER} (../shared beside the repository): {', '.join(missing)}")
    selected = tmp_path_factory.mktemp("lei")
    for s in STATIONS:
        (selected / f"{s}.csv.gz").symlink_to(DEFAULT_REFERENCE_DIR / f"{s}.csv.gz")
    return run(selected, SHARED_WEATHER)


def test_every_station_and_design_within_the_tolerances(table):
    assert len(table) == 2 * len(STATIONS)
    for _, r in table.iterrows():
        name = f"{r.station} {r.design}"
        assert abs(r["PUE twin"] - r["PUE ref"]) <= 0.02, name
        assert r["r hourly"] >= 0.9, name
        assert abs(r["WUE twin"] - r["WUE ref"]) <= 0.3 * r["WUE ref"], name
        assert r.ok, name


def test_the_free_cooling_hours_agree(table):
    """The mode of each hour comes from the humidity envelope, the floating supply and the
    waterside-economiser temperatures: free-cooling hours (economiser, with or without
    humidification) within 2 % of the reference's."""
    for _, r in table.iterrows():
        twin = sum(map(int, r["h free/wet/mech twin"].split("/")[:2]))
        ref = sum(map(int, r["h free/wet/mech ref"].split("/")[:2]))
        assert abs(twin - ref) <= 0.02 * ref, f"{r.station} {r.design}: {twin} vs {ref}"


def test_missing_weather_file_is_named(tmp_path):
    if not (DEFAULT_REFERENCE_DIR / f"{STATIONS[0]}.csv.gz").is_file():
        pytest.skip(f"Lei reference files not found in {DEFAULT_REFERENCE_DIR}")
    (tmp_path / f"{STATIONS[0]}.csv.gz").symlink_to(DEFAULT_REFERENCE_DIR / f"{STATIONS[0]}.csv.gz")
    with pytest.raises(FileNotFoundError, match="no weather file"):
        run(tmp_path, Path(tmp_path / "nowhere"))
