"""EPW reading and quality control, on real CSWD files and on tiny files the tests make."""

import json

import numpy as np
import pandas as pd
import pvlib
import pytest

import weather
from tests.conftest import EPW_FILES, needs_shared
from weather.qc import fill_gaps
from weather.solar_geometry import sun_and_sky


@pytest.fixture(scope="module")
def golmud(golmud_path):
    return weather.read_epw(golmud_path)


def test_epw_becomes_the_cf_dataset(golmud):
    ds = golmud
    assert ds.sizes == {"time": 8760}
    t = pd.DatetimeIndex(ds.time.values)
    assert t[0] == pd.Timestamp("2005-01-01 00:00") and t[-1] == pd.Timestamp("2005-12-31 23:00")
    assert (np.diff(t.values) == np.timedelta64(1, "h")).all()
    for v in ("ghi", "dni", "dhi", "temp_air", "temp_dew", "relative_humidity", "pressure",
              "wind_speed"):
        assert {"units", "long_name", "standard_name"} <= set(ds[v].attrs), v
        assert np.isfinite(ds[v]).all(), v
    assert ds.temp_air.attrs["units"] == "degC" and ds.pressure.attrs["units"] == "Pa"
    assert ds.wind_speed.attrs["height"] == 10.0
    assert float(ds.altitude) == pytest.approx(2807.6)
    assert len(ds.attrs["source_sha256"]) == 64
    # Golmud at 2,800 m: about 72-73 kPa, never sea-level pressure
    assert 70_000 < float(ds.pressure.mean()) < 75_000


def test_epw_times_are_utc(golmud_path, golmud):
    """EPW local hour 1 (00:00-01:00 Beijing time) is 16:00 UTC the day before; a typical year
    wraps, so UTC 31 Dec 16:00 holds the local 1 January 00:00 record."""
    raw, _ = pvlib.iotools.read_epw(golmud_path)
    assert float(golmud.temp_air.sel(time="2005-12-31T16:00")) == raw["temp_air"].iloc[0]
    assert float(golmud.temp_air.sel(time="2005-01-01T00:00")) == raw["temp_air"].iloc[8]


def test_golmud_dark_daylight_hours_are_found_and_repaired(golmud):
    report = weather.qc_report(golmud.attrs)
    dark = report[report.check.str.startswith("dark daylight") & (report.variable == "ghi")]
    assert int(dark["count"].iloc[0]) > 10
    sky = sun_and_sky(pd.DatetimeIndex(golmud.time.values), 36.42, 94.9, 2807.6)
    high_sun = sky["elevation"].to_numpy() > 30
    assert (golmud.ghi.values[high_sun] > 0.02 * sky["ghi_extra"].to_numpy()[high_sun]).all()
    assert golmud.attrs["qc_repaired_values"] == int(report["count"].sum())


@needs_shared
@pytest.mark.parametrize("path", EPW_FILES, ids=lambda p: p.stem[:24])
def test_every_real_file_is_physical_after_qc(path):
    ds = weather.read_epw(path)
    sky = sun_and_sky(pd.DatetimeIndex(ds.time.values), float(ds.latitude), float(ds.longitude),
                      float(ds.altitude))
    ghi, dni, dhi = ds.ghi.values, ds.dni.values, ds.dhi.values
    assert (ghi >= 0).all() and (dni >= 0).all() and (dhi >= 0).all()
    assert (ghi[sky["elevation"] < -1] == 0).all()  # nothing at night
    cos_z = np.cos(np.radians(sky["zenith"].to_numpy()))
    lit = ghi > 50
    closure = (dni * cos_z + dhi)[lit] / ghi[lit]
    assert np.percentile(np.abs(closure - 1), 99) < 0.1  # components close to within QCRad's 8-15 %
    assert (ghi <= 1.5 * sky["dni_extra"] * np.clip(cos_z, 0, None) ** 1.2 + 100).all()
    assert (dni <= sky["dni_extra"].to_numpy()).all()  # no beam above the extraterrestrial one
    assert (ds.temp_dew <= ds.temp_air + 1e-9).all()
    # re-timing moves the irradiance peak to the sun: mean diurnal centroid within 0.25 h
    offsets = json.loads(ds.attrs["qc_report"])["irradiance_timing_offset_h"]
    assert len(offsets) == 12


def _write_epw(src, dst, transform):
    lines = src.read_text(encoding="latin-1").splitlines()
    dst.write_text("\n".join(transform(lines)) + "\n", encoding="latin-1")
    return dst


def test_truncated_epw_names_file_and_row(golmud_path, tmp_path):
    bad = _write_epw(golmud_path, tmp_path / "cut.epw", lambda ls: ls[:8 + 5000])
    with pytest.raises(weather.WeatherError, match=r"cut\.epw.*row 5008.*truncated"):
        weather.read_epw(bad)


def test_wrong_column_count_names_row(golmud_path, tmp_path):
    def drop_field(ls):
        ls[8 + 99] = ",".join(ls[8 + 99].split(",")[:-3])
        return ls
    bad = _write_epw(golmud_path, tmp_path / "short.epw", drop_field)
    with pytest.raises(weather.WeatherError, match=r"short\.epw.*row 108.*32 fields"):
        weather.read_epw(bad)


def test_not_an_epw(tmp_path):
    p = tmp_path / "x.epw"
    p.write_text("hello\n")
    with pytest.raises(weather.WeatherError, match="not an EPW"):
        weather.read_epw(p)
    with pytest.raises(weather.WeatherError, match="no such file"):
        weather.read(tmp_path / "missing.epw")


def test_strict_refuses_repairs_naming_variable_and_row(golmud_path):
    with pytest.raises(weather.WeatherError, match=r"Golmud.*variable 'ghi.*row \d+.*strict"):
        weather.read_epw(golmud_path, strict=True)


def test_missing_codes_become_repairs_not_numbers(golmud_path, tmp_path):
    def blank_temperature(ls):  # EPW missing code 99.9 for 3 hours at row 2009..2011
        for i in range(2000, 2003):
            f = ls[8 + i].split(",")
            f[6] = "99.9"
            ls[8 + i] = ",".join(f)
        return ls
    ds = weather.read_epw(_write_epw(golmud_path, tmp_path / "gap.epw", blank_temperature))
    report = weather.qc_report(ds.attrs)
    row = report[(report.variable == "temp_air") & report.check.str.startswith("missing")]
    assert int(row["count"].iloc[0]) == 3 and int(row["first_row"].iloc[0]) == 8 + 2001
    assert np.isfinite(ds.temp_air).all() and float(ds.temp_air.max()) < 40


# from_dataframe on tiny frames: wrong units, time zones, gaps, duplicates

def _clear_frame(hours=24 * 10, tz="UTC", lat=40.0, lon=95.0, alt=1500.0, start="2025-06-01"):
    times = pd.date_range(start, periods=hours, freq="h", tz=tz)
    loc = pvlib.location.Location(lat, lon, altitude=alt)
    cs = loc.get_clearsky(times + pd.Timedelta("30min"))
    cs.index = times
    day = 2 * np.pi * (times.hour.to_numpy() - 8) / 24
    return pd.DataFrame({"ghi": cs.ghi, "dni": cs.dni, "dhi": cs.dhi,
                         "temp_air": 25 + 8 * np.sin(day), "temp_dew": 0.0 + np.zeros(hours),
                         "pressure": pvlib.atmosphere.alt2pres(alt) + np.zeros(hours),
                         "wind_speed": 3.0 + np.sin(day)}, index=times)


def test_clean_frame_needs_no_repair():
    frame = _clear_frame()
    ds = weather.from_dataframe(frame, 40.0, 95.0, 1500.0, strict=True)
    np.testing.assert_allclose(ds.temp_air.values, frame.temp_air.values)
    np.testing.assert_allclose(ds.ghi.values, frame.ghi.values, atol=1e-9)
    assert "relative_humidity" in ds and ds.attrs["qc_repaired_values"] == 0


def test_kelvin_and_hpa_are_converted_and_reported():
    frame = _clear_frame()
    frame["temp_air"] += 273.15
    frame["pressure"] /= 100
    ds = weather.from_dataframe(frame, 40.0, 95.0, 1500.0)
    np.testing.assert_allclose(ds.temp_air.values, _clear_frame().temp_air.values, atol=1e-9)
    assert float(ds.pressure.mean()) > 80_000
    checks = set(weather.qc_report(ds.attrs).check)
    assert {"unit: in kelvin", "unit: in hPa"} <= checks
    with pytest.raises(weather.WeatherError, match="temp_air.*kelvin"):
        weather.from_dataframe(frame, 40.0, 95.0, 1500.0, strict=True)


def test_local_time_is_converted_to_utc():
    utc = _clear_frame()
    local = utc.tz_convert("Asia/Shanghai")
    ds = weather.from_dataframe(local, 40.0, 95.0, 1500.0, strict=True)
    assert pd.Timestamp(ds.time.values[0]) == pd.Timestamp("2025-06-01 00:00")
    np.testing.assert_allclose(ds.temp_air.values, utc.temp_air.values)


def test_naive_times_and_wrong_zone_are_refused():
    frame = _clear_frame().tz_localize(None)
    with pytest.raises(weather.WeatherError, match="no time zone"):
        weather.from_dataframe(frame, 40.0, 95.0, 1500.0)
    # Beijing-time labels declared as UTC put the sun 8 h off: refused, not repaired
    with pytest.raises(weather.WeatherError, match="ghi.*wrong time zone"):
        weather.from_dataframe(frame, 40.0, 95.0, 1500.0, tz="Etc/GMT-8")


def test_duplicate_hours_are_refused_with_row():
    frame = _clear_frame()
    frame = pd.concat([frame.iloc[:50], frame.iloc[49:]])
    with pytest.raises(weather.WeatherError, match="row 51.*duplicate"):
        weather.from_dataframe(frame, 40.0, 95.0, 1500.0)


def test_gaps_are_filled_and_counted():
    frame = _clear_frame().drop(index=_clear_frame().index[100:103])
    ds = weather.from_dataframe(frame, 40.0, 95.0, 1500.0)
    assert ds.sizes["time"] == 240 and np.isfinite(ds.temp_air).all()
    report = weather.qc_report(ds.attrs)
    assert int(report[report.check.str.startswith("hour missing")]["count"].iloc[0]) == 3
    with pytest.raises(weather.WeatherError, match="hour missing"):
        weather.from_dataframe(frame, 40.0, 95.0, 1500.0, strict=True)


def test_impossible_site_and_missing_variable():
    with pytest.raises(weather.WeatherError, match="latitude 95"):
        weather.from_dataframe(_clear_frame(), 95.0, 95.0, 1500.0)
    with pytest.raises(weather.WeatherError, match="wind_speed"):
        weather.from_dataframe(_clear_frame().drop(columns="wind_speed"), 40.0, 95.0, 1500.0)


def test_mostly_empty_variable_is_no_usable_year():
    frame = _clear_frame()
    frame.loc[frame.index[:150], "wind_speed"] = np.nan
    with pytest.raises(weather.WeatherError, match="wind_speed.*usable"):
        weather.from_dataframe(frame, 40.0, 95.0, 1500.0)


def test_fill_gaps_interpolates_short_and_uses_adjacent_days_for_long():
    t = pd.date_range("2025-01-01", periods=24 * 20, freq="h")
    s = pd.Series(10 + 5 * np.sin(2 * np.pi * t.hour / 24), index=t)
    gapped = s.copy()
    gapped.iloc[50:53] = np.nan  # short: linear
    gapped.iloc[200:224] = np.nan  # a whole day: same hours of adjacent days
    filled = fill_gaps(gapped)
    assert filled.notna().all()
    # the same hours of the +-7 adjacent days (one of them holds the interpolated short gap)
    np.testing.assert_allclose(filled.iloc[200:224], s.iloc[200:224], atol=0.05)
    assert filled.iloc[51] == pytest.approx((s.iloc[49] + s.iloc[53]) / 2)


def _typical_year_frame():
    """A clear-sky 8,760-hour typical year in China Standard Time, months from 2005."""
    return _clear_frame(hours=8760, tz="Etc/GMT-8", start="2005-01-01")


def test_a_typical_year_is_placed_on_the_year_asked_or_refused():
    """A typical year has no 29 February (twin.timebase's leap-day rule): placed on a non-leap
    year it covers that year in UTC; a leap year asked for is refused, never swapped for
    another year."""
    frame = _typical_year_frame()
    ds = weather.from_dataframe(frame, 40.0, 95.0, 1500.0, typical_year=True, year=2023)
    t = pd.DatetimeIndex(ds.time.values)
    assert t[0] == pd.Timestamp("2023-01-01 00:00") and t[-1] == pd.Timestamp("2023-12-31 23:00")
    with pytest.raises(weather.WeatherError, match=r"2024 is a leap year.*no 29 February"):
        weather.from_dataframe(frame, 40.0, 95.0, 1500.0, typical_year=True, year=2024)
