"""Issue 19, weather part: bad weather input gets a clear error or a correct answer, never a wrong
number. Each bad file is made from a real EPW (Golmud) or a small synthetic frame."""

import json

import numpy as np
import pandas as pd
import pytest

import weather
from tests.conftest import SHARED_WEATHER as EPW_DIR
from tests.conftest import needs_shared
from tests.test_epw_qc import _clear_frame

# EPW data fields (EnergyPlus Auxiliary Programs, EPW data dictionary)
TEMP, DEW, RH, GHI, DNI, DHI, WIND = 6, 7, 8, 13, 14, 15, 21
HEADER = 8


def _mutate(src, dst, edit):
    """``src`` with every data row's fields passed through ``edit(fields, i)``."""
    lines = src.read_text(encoding="latin-1").splitlines()
    for i in range(HEADER, len(lines)):
        f = lines[i].split(",")
        edit(f, i - HEADER)
        lines[i] = ",".join(f)
    dst.write_text("\n".join(lines) + "\n", encoding="latin-1")
    return dst


def _scale(*fields, factor, fmt="{:.1f}"):
    def edit(f, i):
        for k in fields:
            f[k] = fmt.format(float(f[k]) * factor)
    return edit


@pytest.fixture(scope="module")
def golmud(golmud_path):
    return weather.read_epw(golmud_path)


# --- wrong numbers: refused, naming the file, the variable and the evidence ---------------------

def _swap(f, i):
    f[DNI], f[DHI] = f[DHI], f[DNI]


def _degf(f, i):
    for k in (TEMP, DEW):
        f[k] = f"{float(f[k]) * 9 / 5 + 32:.1f}"


def _constant_45(f, i):
    f[TEMP] = "45.0"


def _calm(f, i):
    f[WIND] = "0.0"


def _dark(f, i):
    f[GHI] = f[DNI] = f[DHI] = "0"


def _dark_spring(f, i):  # March to June written as zero: too much to fill from its neighbours
    if f[1] in ("3", "4", "5", "6"):
        _dark(f, i)


REFUSED = {
    "ghi_doubled": (_scale(GHI, factor=2, fmt="{:.0f}"), r"'ghi'.*clear-sky GHI.*is 1\.\d\d"),
    "all_zero_irradiance": (_dark, r"'ghi'.*no irradiance at all"),
    "four_months_zero": (_dark_spring, r"'ghi'.*\d+% of daylight hours .* no irradiance"),
    "wind_in_km_h": (_scale(WIND, factor=3.6), r"'wind_speed'.*km/h"),
    "degF": (_degf, r"'temp_air'.*degF"),
    "dni_dhi_swapped": (_swap, r"'dni'.*swapped"),
    "constant_45_degC": (_constant_45, r"'temp_air'.*one value \(45\) for 8760 .*stuck"),
    "all_zero_wind": (_calm, r"'wind_speed'.*same wind speed \(0\)"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_wrong_numbers_in_a_real_file_are_refused(golmud_path, tmp_path, case):
    edit, message = REFUSED[case]
    bad = _mutate(golmud_path, tmp_path / f"{case}.epw", edit)
    with pytest.raises(weather.WeatherError, match=rf"{case}\.epw, variable {message}"):
        weather.read_epw(bad)


# --- wrong but certain units: converted and reported, giving the right numbers ------------------

def test_kj_irradiance_is_converted_only_when_the_clear_sky_says_so(golmud_path, golmud,
                                                                   tmp_path):
    kj = _mutate(golmud_path, tmp_path / "kj.epw", _scale(GHI, DNI, DHI, factor=3.6,
                                                           fmt="{:.0f}"))
    ds = weather.read_epw(kj)
    assert float(ds.ghi.sum()) == pytest.approx(float(golmud.ghi.sum()), rel=0.01)
    checks = weather.qc_report(ds.attrs)
    assert (checks.check == "unit: in kJ m-2 per hour").sum() == 3


def test_relative_humidity_fraction_with_hours_above_one_is_converted(golmud_path, golmud,
                                                                      tmp_path):
    def fraction(f, i):
        f[RH] = "1.02" if i in (100, 200) else f"{float(f[RH]) / 100:.2f}"
    ds = weather.read_epw(_mutate(golmud_path, tmp_path / "frac.epw", fraction))
    assert float(ds.relative_humidity.mean()) == pytest.approx(
        float(golmud.relative_humidity.mean()), abs=0.5)
    assert "unit: as a fraction" in set(weather.qc_report(ds.attrs).check)


def test_kelvin_epw_is_converted_not_cut_as_missing(golmud_path, golmud, tmp_path):
    def kelvin(f, i):
        for k in (TEMP, DEW):
            f[k] = f"{float(f[k]) + 273.15:.2f}"
    ds = weather.read_epw(_mutate(golmud_path, tmp_path / "kelvin.epw", kelvin))
    np.testing.assert_allclose(ds.temp_air.values, golmud.temp_air.values, atol=0.011)
    assert "unit: in kelvin" in set(weather.qc_report(ds.attrs).check)


# --- the same on small synthetic frames ----------------------------------------------------------

def _with_rh(frame):
    import pvlib

    frame = frame.copy()
    frame["temp_dew"] = frame["temp_air"] - 15
    frame["relative_humidity"] = pvlib.atmosphere.rh_from_tdew(frame.temp_air, frame.temp_dew)
    return frame


@pytest.mark.parametrize("mutation, message", [
    (lambda f: f.assign(ghi=2 * f.ghi, dni=2 * f.dni, dhi=2 * f.dhi), r"'ghi'.*clear-sky"),
    (lambda f: f.assign(ghi=0.0, dni=0.0, dhi=0.0), r"'ghi'.*no irradiance"),
    (lambda f: f.assign(dni=f.dhi, dhi=f.dni), r"'dni'.*swapped"),
    (lambda f: f.assign(wind_speed=f.wind_speed * 3.6 + 25), r"'wind_speed'.*km/h"),
    (lambda f: f.assign(wind_speed=0.0), r"'wind_speed'.*same wind speed"),
    (lambda f: f.assign(temp_air=45.0), r"'temp_air'.*one value \(45\)"),
    (lambda f: f.assign(temp_air=f.temp_air * 9 / 5 + 32, temp_dew=f.temp_dew * 9 / 5 + 32),
     r"'temp_air'.*degF"),
], ids=["doubled", "dark", "swapped", "km_h", "calm", "constant", "degF"])
def test_wrong_numbers_in_a_frame_are_refused(mutation, message):
    frame = mutation(_with_rh(_clear_frame()))
    with pytest.raises(weather.WeatherError, match=rf"^dataframe, variable {message}"):
        weather.from_dataframe(frame, 40.0, 95.0, 1500.0)


def test_clean_frame_with_all_three_humidity_columns_passes_strict():
    ds = weather.from_dataframe(_with_rh(_clear_frame()), 40.0, 95.0, 1500.0, strict=True)
    assert ds.attrs["qc_repaired_values"] == 0


def test_kj_frame_is_converted():
    frame = _clear_frame()
    kj = frame.assign(ghi=frame.ghi * 3.6, dni=frame.dni * 3.6, dhi=frame.dhi * 3.6)
    ds = weather.from_dataframe(kj, 40.0, 95.0, 1500.0)
    np.testing.assert_allclose(ds.ghi.values, frame.ghi.values, atol=1e-6)
    assert pd.Series(weather.qc_report(ds.attrs).check).eq("unit: in kJ m-2 per hour").sum() == 3


# --- refused with misleading messages before: now read -------------------------------------------

def test_utf8_bom_is_read(golmud_path, golmud, tmp_path):
    bom = tmp_path / "bom.epw"
    bom.write_bytes(b"\xef\xbb\xbf" + golmud_path.read_bytes())
    np.testing.assert_allclose(weather.read_epw(bom).ghi.values, golmud.ghi.values)


def test_leap_year_epw_drops_29_february_and_says_so(golmud_path, golmud, tmp_path):
    lines = golmud_path.read_text(encoding="latin-1").splitlines()
    head, rows = lines[:HEADER], lines[HEADER:]
    rows = [",".join(["2020"] + r.split(",")[1:]) for r in rows]
    feb28 = (31 + 27) * 24
    leap_day = [r.replace("2020,2,28,", "2020,2,29,", 1) for r in rows[feb28:feb28 + 24]]
    leap = tmp_path / "leap.epw"
    leap.write_text("\n".join(head + rows[:feb28 + 24] + leap_day + rows[feb28 + 24:]) + "\n",
                    encoding="latin-1")
    ds = weather.read_epw(leap)
    assert ds.sizes["time"] == 8760
    assert "29 February dropped (24 rows)" in ds.attrs["source_notes"]
    np.testing.assert_allclose(ds.temp_air.values[-2000:], golmud.temp_air.values[-2000:])


# --- the file's coordinates against the site's ----------------------------------------------------

PHOENIX = EPW_DIR / "USA_AZ_Phoenix-Sky.Harbor.epw"


@needs_shared
def test_another_sites_weather_is_refused_unless_allowed(golmud_path):
    from sites import get_site
    from twin.simulate import simulate

    hami, golmud = get_site("hami"), get_site("golmud")
    files = [weather.read(golmud_path, year=2025),
             weather.read(EPW_DIR / "CHN_Xinjiang.Uygur.Hami.522030_CSWD.epw", year=2025)]
    with pytest.raises(weather.WeatherError, match=r"Golmud.*721 km .*from site hami.*"
                                                   r"allow_distant_weather"):
        simulate(files, [hami, golmud], until="generation")  # the two sites' files swapped
    ds = simulate(files, [hami, golmud], until="generation", allow_distant_weather=True)
    where = json.loads(ds.attrs["weather_location"])
    assert where["hami"]["location"] == "weather" and where["hami"]["distance_km"] > 600
    # one location for QC and simulation: the file's
    assert float(ds.latitude.sel(site="hami")) == pytest.approx(36.42, abs=0.01)
    right = simulate(files[::-1], [hami, golmud], until="generation")
    assert json.loads(right.attrs["weather_location"])["hami"]["distance_km"] < 1
    # weather not from a file (a synthetic year) is simulated at the site, and says so
    synthetic = simulate(None, hami, until="generation")
    assert json.loads(synthetic.attrs["weather_location"])["hami"]["location"] == "site"


@needs_shared
def test_a_flipped_latitude_sign_is_refused(golmud_path):
    from sites import get_site
    from twin.simulate import simulate

    wx = weather.read(golmud_path, year=2025)
    flipped = wx.assign_coords(latitude=-float(wx.latitude))
    with pytest.raises(weather.WeatherError, match=r"-36\.42.*km .*from site golmud"):
        simulate(flipped, get_site("golmud"), until="generation")


@needs_shared
def test_phoenix_file_for_hami_is_refused_by_the_cli_unless_allowed():
    from typer.testing import CliRunner

    from twin.cli import app

    runner = CliRunner()
    refused = runner.invoke(app, ["simulate", "hami", "--weather", str(PHOENIX)])
    assert refused.exit_code != 0
    assert "Phoenix" in refused.output and "from site hami" in refused.output
    allowed = runner.invoke(app, ["simulate", "hami", "--weather", str(PHOENIX),
                                  "--allow-distant-weather"])
    assert allowed.exit_code == 0, allowed.output
    assert "simulated at the weather's location 33.43, -112.00" in allowed.output


# --- sparse optional variables: dropped with a QC note, never the whole file ---------------------

def test_sparse_optional_variables_are_dropped_not_the_file():
    frame = _clear_frame()
    frame["albedo"] = np.where(np.arange(len(frame)) % 4 == 0, 0.3, np.nan)  # 25 % of hours
    frame["precipitation"] = np.where(np.arange(len(frame)) % 4 == 0, 0.0, np.nan)
    ds = weather.from_dataframe(frame, 40.0, 95.0, 1500.0)
    assert "albedo" not in ds and "precipitation" not in ds
    report = weather.qc_report(ds.attrs)
    dropped = report[report.action == "variable dropped"]
    assert set(dropped.variable) == {"albedo", "precipitation"}
    assert dropped.check.str.contains("25% of hours").all()


def test_tmy3_style_nsrdb_file_with_sparse_albedo_is_read(tmp_path):
    from tests.test_nsrdb import _epw_frame, write_nsrdb

    frame, meta = _epw_frame()
    path = write_nsrdb(tmp_path / "sparse.csv", frame, meta)
    lines = path.read_text().splitlines()
    column = lines[2].split(",").index("Surface Albedo")
    for i in range(3, len(lines)):
        if i % 4:  # albedo in 25 % of hours only, as in the Las Vegas TMY3 file
            fields = lines[i].split(",")
            fields[column] = ""
            lines[i] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    ds = weather.read(path)
    assert "albedo" not in ds and np.isfinite(ds.ghi).all()
    assert "albedo" in set(weather.qc_report(ds.attrs).variable)


# --- gaps: filled and said so, or left NaN with --allow-missing ---------------------------------

def _gappy(golmud_path, tmp_path):
    """Golmud with temp_air missing (EPW code 99.9) for 6 h from row 3009 and 72 h from row 5009."""
    def gaps(f, i):
        if 3000 <= i < 3006 or 5000 <= i < 5072:
            f[TEMP] = "99.9"
    return _mutate(golmud_path, tmp_path / "gappy.epw", gaps)


def test_reader_leaves_gaps_nan_when_asked(golmud_path, tmp_path):
    path = _gappy(golmud_path, tmp_path)
    filled = weather.read(path)
    assert np.isfinite(filled.temp_air).all()
    kept = weather.read(path, fill_missing=False)
    assert int(np.isnan(kept.temp_air).sum()) == 78
    assert np.isfinite(kept.ghi).all() and np.isfinite(kept.wind_speed).all()
    report = weather.qc_report(kept.attrs)
    assert set(report[report.check == "missing value (NaN)"].action) == {"left missing (NaN)"}


@needs_shared
def test_cli_says_what_it_filled_and_honours_allow_missing(golmud_path, tmp_path):
    import xarray as xr
    from typer.testing import CliRunner

    from twin.cli import app

    path = _gappy(golmud_path, tmp_path)
    runner = CliRunner()
    filled = runner.invoke(app, ["simulate", "golmud", "--weather", str(path)])
    assert filled.exit_code == 0, filled.output
    assert "78 missing value(s) (0 absent hour(s)) filled" in filled.output
    out = tmp_path / "nan.nc"
    kept = runner.invoke(app, ["simulate", "golmud", "--weather", str(path), "--allow-missing",
                               "--out", str(out)])
    assert kept.exit_code == 0, kept.output
    assert "78 missing value(s) (0 absent hour(s)) left NaN" in kept.output
    with xr.open_dataset(out) as ds:
        assert int(np.isnan(ds.temp_air).sum()) == 78
        assert int(np.isnan(ds.facility_power).sum()) == 78
        assert json.loads(ds.attrs["weather_qc"])["golmud"]["missing_values"] == 78


@needs_shared
def test_the_sites_declared_station_is_accepted_beyond_100_km():
    """The catalog pairs Ulanqab with Huade (121 km): its own station runs; Hohhot's file does
    not."""
    from sites import get_site
    from twin.simulate import simulate

    ulanqab = get_site("ulanqab")
    huade = weather.read(EPW_DIR / "CHN_Nei.Mongol.Huade.533910_CSWD.epw", year=2025)
    ds = simulate(huade, ulanqab, until="generation")
    where = json.loads(ds.attrs["weather_location"])["ulanqab"]
    assert where["distance_km"] > 100 and where["declared_station"].startswith("CHN_Nei.Mongol")
    hohhot = weather.read(EPW_DIR / "CHN_Nei.Mongol.Hohhot.534630_CSWD.epw", year=2025)
    with pytest.raises(weather.WeatherError, match="Hohhot.*from site ulanqab"):
        simulate(hohhot, ulanqab, until="generation")


def test_values_qc_rejects_stay_nan_when_asked(golmud_path, tmp_path):
    """A temperature outside the physical range is not a measurement: with fill_missing=False
    (--allow-missing) it stays NaN like a missing one instead of being interpolated."""
    def hot(f, i):
        if i in (4000, 4001):
            f[TEMP] = "75.0"  # above the range of air temperatures (not a missing code)
    path = _mutate(golmud_path, tmp_path / "hot.epw", hot)
    assert np.isfinite(weather.read(path).temp_air).all()
    kept = weather.read(path, fill_missing=False)
    assert int(np.isnan(kept.temp_air).sum()) == 2
    report = weather.qc_report(kept.attrs)
    rejected = report[(report.variable == "temp_air") & report.check.str.startswith("outside")]
    assert list(rejected.action) == ["set missing, left missing (NaN)"]


@needs_shared
def test_twin_weather_checks_the_location_and_honours_allow_missing(golmud_path, tmp_path):
    from typer.testing import CliRunner

    from twin.cli import app

    runner = CliRunner()
    wrong = runner.invoke(app, ["weather", "hami", "--weather", str(golmud_path)])
    assert wrong.exit_code == 2 and "from site hami" in wrong.output, wrong.output
    assert "Traceback" not in wrong.output
    anyway = runner.invoke(app, ["weather", "hami", "--weather", str(golmud_path),
                                 "--allow-distant-weather"])
    assert anyway.exit_code == 0 and "read at the weather's location" in anyway.output
    out = tmp_path / "gappy.nc"
    kept = runner.invoke(app, ["weather", "golmud", "--weather",
                               str(_gappy(golmud_path, tmp_path)), "--allow-missing", "--out",
                               str(out)])
    assert kept.exit_code == 0, kept.output
    import xarray as xr
    with xr.open_dataset(out) as ds:
        assert int(np.isnan(ds.temp_air).sum()) == 78


@needs_shared
def test_a_year_in_degf_is_refused_by_the_sites_climate(golmud):
    """Temperatures in degF where no humidity column can expose them (Magnus): the site's
    normals can. Golmud's own year runs; the same year in degF is refused, naming the
    evidence."""
    from sites import get_site
    from twin.simulate import simulate

    site = get_site("golmud")
    assert simulate(golmud, site, until="generation").sizes["time"] == 8760
    fahrenheit = golmud.copy()
    for name in ("temp_air", "temp_dew"):
        fahrenheit[name] = golmud[name] * 9 / 5 + 32
    with pytest.raises(weather.WeatherError, match=r"temp_air.*normals of site golmud.*degF"):
        simulate(fahrenheit, site, until="generation")


@needs_shared
def test_wind_in_kmh_at_a_calm_site_is_refused_by_the_sites_normals(golmud):
    """Wind in km/h at a calm site passes weather.read's unit limit (its 99.9th percentile, under
    6.9 m s-1, is under 25 km/h); simulate judges it by the site's normals, 3.6x. Golmud's
    station year in km/h stands in (simulate sees a Dataset, whatever its percentile); the year
    in m s-1 runs (the degF test above); with allow_distant_weather it runs anyway, windier."""
    from sites import get_site
    from twin.simulate import simulate

    site = get_site("golmud")
    calm = golmud.copy()
    calm["wind_speed"] = golmud["wind_speed"] * 3.6  # km/h
    with pytest.raises(weather.WeatherError,
                       match=r"wind_speed.*normals of site golmud.*3\.6\d times.*km/h"):
        simulate(calm, site, until="generation")
    ran = simulate(calm, site, until="generation", allow_distant_weather=True,
                   wind_scaling="none")
    assert float(ran.wind_power.mean()) > float(
        simulate(golmud, site, until="generation", wind_scaling="none").wind_power.mean())


@needs_shared
def test_a_year_with_months_missing_is_judged_by_the_normals_of_the_months_it_has(golmud):
    """Golmud's winter alone (December-February; the other hours missing, allow_missing) is
    about 12 K colder than its normals' annual mean (-6.2 against 5.7 degC), so the climate
    check must weigh the normals by the hours the file has in each month: it runs, and the
    same winter in degF is still refused."""
    from sites import get_site
    from twin.simulate import simulate

    site = get_site("golmud")
    winter = golmud.copy()
    summer = ~golmud["time"].dt.month.isin([12, 1, 2])
    winter["temp_air"] = golmud["temp_air"].where(~summer)
    ran = simulate(winter, site, until="generation", allow_missing=True)
    assert int(ran.pv_power.isnull().sum()) == int(summer.sum())
    fahrenheit = winter.copy()
    fahrenheit["temp_air"] = winter["temp_air"] * 9 / 5 + 32
    with pytest.raises(weather.WeatherError, match=r"temp_air.*normals of site golmud.*degF"):
        simulate(fahrenheit, site, until="generation", allow_missing=True)


@needs_shared
def test_weather_is_checked_in_every_block_of_sites(golmud, monkeypatch):
    """simulate checks and stacks the weather block by block on its threads: a site in degF or
    with a missing hour in the last block of three (one site each) is refused, named."""
    import importlib

    from sites import get_site

    module = importlib.import_module("twin.simulate")
    monkeypatch.setattr(module, "BLOCK_ELEMENTS", 1)  # one site per block
    site = get_site("golmud")
    sites = [site.model_copy(update={"id": f"golmud{i}"}) for i in range(3)]
    fahrenheit = golmud.copy()
    fahrenheit["temp_air"] = golmud["temp_air"] * 9 / 5 + 32
    gappy = golmud.copy(deep=True)
    gappy["ghi"][4000] = np.nan
    for bad, match in ((fahrenheit, r"normals of site golmud2 .*degF"),
                       (gappy, r"ghi.*1 missing value\(s\), first at \d{4}-06-16 16:00")):
        with pytest.raises(weather.WeatherError, match=match) as raised:
            module.simulate({"golmud0": golmud, "golmud1": golmud, "golmud2": bad}, sites,
                            until="generation", threads=2)
        assert "golmud2" in str(raised.value)


@needs_shared
def test_weather_locations_checks_the_climate_of_one_file_as_twin_weather_does(golmud):
    """`twin weather` checks one file with weather_locations: its climate by default (the
    year in degF refused), not with climate=False (simulate then checks it block by block)."""
    from sites import get_site
    from twin.simulate import weather_locations

    site = get_site("golmud")
    fahrenheit = golmud.copy()
    fahrenheit["temp_air"] = golmud["temp_air"] * 9 / 5 + 32
    assert weather_locations([golmud], [site])[0][3]["location"] == "weather"
    with pytest.raises(weather.WeatherError, match=r"normals of site golmud .*degF"):
        weather_locations([fahrenheit], [site])
    assert weather_locations([fahrenheit], [site], climate=False)[0][3]["distance_km"] < 1
