"""weather.nsrdb: NSRDB PSM3/PSM4 CSV files, written here in the NSRDB layout from a real EPW.

The metadata lines are those of the files the NSRDB API returns (PSM4 4.0.1 and PSM3 3.0.1, as in
pvlib's tests/data/test_read_psm4.csv and pvlib/data/test_read_psm3.csv), including the empty
columns that pad the column header and every row to the width of the metadata line.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from weather.epw import read_epw
from weather.errors import WeatherError
from weather.nsrdb import read_nsrdb
from weather.qc import report_from_attrs

SHARED_WEATHER = Path(__file__).resolve().parents[2] / "shared" / "weather"
HAMI = SHARED_WEATHER / "CHN_Xinjiang.Uygur.Hami.522030_CSWD.epw"
# a typical year takes each month from its own year; 2005 (the EPW's year) is the most common
MONTH_YEARS = {1: 2005, 2: 2007, 3: 2005, 4: 2013, 5: 2008, 6: 2005, 7: 2011, 8: 2010, 9: 2020,
               10: 2006, 11: 2007, 12: 2016}
ALBEDO = 0.25

PSM4_NAMES = (
    "Source,Location ID,City,State,Country,Latitude,Longitude,Time Zone,Elevation,Local Time Zone,"
    "Clearsky DHI Units,Clearsky DNI Units,Clearsky GHI Units,Dew Point Units,DHI Units,DNI Units,"
    "GHI Units,Solar Zenith Angle Units,Temperature Units,Pressure Units,Relative Humidity Units,"
    "Precipitable Water Units,Wind Direction Units,Wind Speed Units,Cloud Type -15,Cloud Type 0,"
    "Cloud Type 1,Cloud Type 2,Cloud Type 3,Cloud Type 4,Cloud Type 5,Cloud Type 6,Cloud Type 7,"
    "Cloud Type 8,Cloud Type 9,Cloud Type 10,Cloud Type 11,Cloud Type 12,Fill Flag 0,Fill Flag 1,"
    "Fill Flag 2,Fill Flag 3,Fill Flag 4,Fill Flag 5,Surface Albedo Units,Version")
UNIT_AND_CODE_VALUES = (
    "w/m2,w/m2,w/m2,c,w/m2,w/m2,w/m2,Degree,c,{pressure_units},%,cm,Degrees,m/s,N/A,Clear,"
    "Probably Clear,Fog,Water,Super-Cooled Water,Mixed,Opaque Ice,Cirrus,Overlapping,Overshooting,"
    "Unknown,Dust,Smoke,N/A,Missing Image,Low Irradiance,Exceeds Clearsky,"
    "Missing CLoud Properties,Rayleigh Violation,N/A")
PSM4_COLUMNS = ("Year,Month,Day,Hour,Minute,Temperature,AOD,Clearsky DHI,Clearsky DNI,"
                "Clearsky GHI,Cloud Fill Flag,Cloud Type,Dew Point,DHI,DNI,Fill Flag,GHI,Ozone,"
                "Relative Humidity,"
                "Solar Zenith Angle,SSA,Surface Albedo,Pressure,Precipitable Water,Wind Direction,"
                "Wind Speed")
PSM3_COLUMNS = ("Year,Month,Day,Hour,Minute,DHI,DNI,GHI,Clearsky DHI,Clearsky DNI,Clearsky GHI,"
                "Cloud Type,Dew Point,Solar Zenith Angle,Fill Flag,Surface Albedo,Wind Speed,"
                "Precipitable Water,Wind Direction,Relative Humidity,Temperature,Pressure")


def _epw_frame():
    """The raw EPW rows (local standard time, hour-start labels, no QC) and the EPW metadata."""
    if not HAMI.exists():
        pytest.skip(f"shared EPW files not found at {SHARED_WEATHER} (../shared next to the repo)")
    frame, meta = pvlib.iotools.read_epw(HAMI)
    return frame, meta


def _row_values(frame: pd.DataFrame, zenith: np.ndarray) -> pd.DataFrame:
    """NSRDB columns from EPW columns; pressure in mbar as NSRDB writes it."""
    pw = pvlib.atmosphere.gueymard94_pw(frame["temp_air"], frame["relative_humidity"])
    return pd.DataFrame({
        "Temperature": frame["temp_air"], "Dew Point": frame["temp_dew"],
        "Relative Humidity": frame["relative_humidity"].astype(float),
        "GHI": frame["ghi"], "DNI": frame["dni"], "DHI": frame["dhi"],
        "Clearsky GHI": 0, "Clearsky DNI": 0, "Clearsky DHI": 0,
        "Cloud Type": 0, "Cloud Fill Flag": 0, "Fill Flag": 0, "AOD": 0.05, "Ozone": 0.3,
        "SSA": 0.9, "Solar Zenith Angle": np.round(zenith, 2), "Surface Albedo": ALBEDO,
        "Pressure": frame["atmospheric_pressure"] / 100.0,
        "Precipitable Water": np.round(pw, 2), "Wind Direction": frame["wind_direction"],
        "Wind Speed": frame["wind_speed"],
    }, index=frame.index)


def write_nsrdb(path: Path, frame: pd.DataFrame, meta: dict, *, layout: str = "psm4",
                years=None, minute: int = 30, time_zone: int = 8, latitude=None,
                pressure_units: str = "mbar") -> Path:
    """Write EPW rows (local standard time) as an NSRDB PSM CSV (\\n line ends, as the API).
    ``years``: month -> year, as a typical year takes them (default: each row's own year).
    ``minute`` is added to each row's minute: 30 labels hourly values at the middle of the hour
    as PSM4 does, 0 at the hour start."""
    names = PSM4_NAMES  # PSM3 3.0.1 files carry the same metadata names
    version = "4.0.1" if layout == "psm4" else "v3.0.1"
    lat = meta["latitude"] if latitude is None else latitude
    values = (f"NSRDB,522030,-,-,-,{lat},{meta['longitude']},{time_zone},"
              f"{int(round(meta['altitude']))},{time_zone},"
              + UNIT_AND_CODE_VALUES.format(pressure_units=pressure_units) + f",{version}")
    columns = (PSM4_COLUMNS if layout == "psm4" else PSM3_COLUMNS).split(",")
    pad = "," * (len(names.split(",")) - len(columns))
    zenith = pvlib.solarposition.get_solarposition(
        frame.index + pd.Timedelta(minutes=minute), meta["latitude"], meta["longitude"])["zenith"]
    data = _row_values(frame, zenith.to_numpy())
    lines = [names, values, ",".join(columns) + pad]
    row_years = [years[m] for m in frame.index.month] if years else frame.index.year
    stamp = pd.DataFrame({"Year": row_years,
                          "Month": frame.index.month, "Day": frame.index.day,
                          "Hour": frame.index.hour, "Minute": frame.index.minute + minute},
                         index=frame.index)
    table = pd.concat([stamp, data], axis=1)[columns]
    for row in table.itertuples(index=False):
        lines.append(",".join(_fmt(v) for v in row) + pad)
    path.write_text("\n".join(lines) + "\n")
    return path


def _fmt(value) -> str:
    if isinstance(value, (int, np.integer)) or float(value).is_integer():
        return str(int(value))
    return repr(round(float(value), 6))


def synthetic_frame(hours: int = 48, freq: str = "h"):
    """EPW-like rows (local standard time, UTC+8) that need no shared file: clear sky at Hami."""
    meta = {"latitude": 42.82, "longitude": 93.52, "altitude": 737.2}
    index = pd.date_range("2019-01-01", periods=hours, freq=freq, tz="Etc/GMT-8")
    sky = pvlib.location.Location(42.82, 93.52, altitude=737.2).get_clearsky(
        index + pd.Timedelta(minutes=30))  # the hour's (or half hour's) clear sky
    temp = np.round(-5 + 8 * np.sin(2 * np.pi * (index.hour.to_numpy() - 9) / 24), 1)
    frame = pd.DataFrame({
        "temp_air": temp, "temp_dew": temp - 10, "relative_humidity": 46.0,
        "ghi": np.round(sky["ghi"].to_numpy()), "dni": np.round(sky["dni"].to_numpy()),
        "dhi": np.round(sky["dhi"].to_numpy()), "atmospheric_pressure": 94_700.0,
        "wind_direction": 90.0,
        "wind_speed": np.round(2.5 + np.sin(2 * np.pi * index.hour.to_numpy() / 24), 1),
    }, index=index)
    return frame, meta


@pytest.fixture(scope="module")
def epw():
    frame, meta = _epw_frame()
    return frame, meta, read_epw(HAMI)


@pytest.fixture(scope="module")
def tmy_file(epw, tmp_path_factory):
    frame, meta, _ = epw
    return write_nsrdb(tmp_path_factory.mktemp("nsrdb") / "nsrdb_522030_tmy-2023.csv", frame, meta,
                       years=MONTH_YEARS)


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    """Two days of a PSM4 file: enough rows to exercise the layout checks quickly."""
    frame, meta = synthetic_frame()
    return write_nsrdb(tmp_path_factory.mktemp("nsrdb") / "small.csv", frame, meta)


def test_psm4_tmy_gives_the_epw_values_at_the_same_utc_hours(epw, tmy_file):
    """An NSRDB TMY in local standard time (UTC+8, hh:30 labels) written from an EPW reads back
    as the EPW does: same UTC hour starts, same temperature, dew point, humidity, wind and
    pressure (converted from mbar), irradiance equal after the same QC (monthly means within 1 %:
    both pass QC, which may re-time and repair the CSWD irradiance)."""
    _, _, from_epw = epw
    ds = read_nsrdb(tmy_file)
    assert ds.attrs["source_year_type"] == "typical year"
    np.testing.assert_array_equal(ds["time"].to_numpy(), from_epw["time"].to_numpy())
    for var in ("temp_air", "temp_dew", "relative_humidity", "wind_speed"):
        np.testing.assert_array_equal(ds[var].to_numpy(), from_epw[var].to_numpy(), err_msg=var)
    np.testing.assert_allclose(ds["pressure"].to_numpy(), from_epw["pressure"].to_numpy(),
                               rtol=1e-12)
    for var in ("ghi", "dni", "dhi"):
        np.testing.assert_allclose(ds[var].groupby("time.month").mean(),
                                   from_epw[var].groupby("time.month").mean(), rtol=0.01,
                                   err_msg=var)
    assert ds["wind_speed"].attrs["height"] == 2.0
    assert ds["pressure"].attrs["units"] == "Pa"
    assert (float(ds.latitude), float(ds.longitude), float(ds.altitude)) == (42.82, 93.52, 737.0)


def test_pressure_is_converted_by_the_reader_not_guessed_by_qc(tmy_file):
    """mbar -> Pa is the reader's explicit conversion from the stated unit: QC finds nothing to
    convert, and albedo and precipitable water (cm) are kept."""
    ds = read_nsrdb(tmy_file)
    report = report_from_attrs(ds.attrs)
    assert not report["check"].str.startswith("unit").any()
    assert ds.attrs["source_pressure_unit"] == "mbar"
    assert 90_000 < float(ds["pressure"].mean()) < 100_000
    np.testing.assert_array_equal(np.unique(ds["albedo"].to_numpy()), [ALBEDO])
    assert ds["precipitable_water"].attrs["units"] == "cm"
    assert 0.05 < float(ds["precipitable_water"].mean()) < 5


def test_psm3_actual_year_in_local_time(epw, tmp_path):
    """A PSM3-layout file (v3.0.1 columns, hh:00 labels) whose months are all 2019 is an actual
    year: converted from UTC+8 it starts at 2018-12-31 16:00 UTC, values unchanged, not wrapped."""
    frame, meta, from_epw = epw
    path = write_nsrdb(tmp_path / "psm3_2019.csv", frame, meta, layout="psm3", minute=0,
                       years={m: 2019 for m in range(1, 13)})
    ds = read_nsrdb(path)
    assert ds.attrs["source_year_type"] == "actual year"
    assert ds.attrs["source_format"] == "NSRDB PSM CSV v3.0.1"
    assert ds["time"].to_numpy()[0] == np.datetime64("2018-12-31T16:00")
    assert ds.sizes["time"] == 8760
    # EPW hour i (local) is UTC hour i - 8 of the EPW's wrapped year, hour i of this one
    np.testing.assert_array_equal(ds["temp_air"].to_numpy(),
                                  np.roll(from_epw["temp_air"].to_numpy(), 8))


def test_pressure_in_an_unknown_unit_is_refused(tmp_path):
    frame, meta = synthetic_frame()
    path = write_nsrdb(tmp_path / "psi.csv", frame, meta, pressure_units="psi")
    with pytest.raises(WeatherError, match=r"psi\.csv.*variable 'pressure'.*'psi'"):
        read_nsrdb(path)


def _edit(path: Path, out: Path, line_no: int, edit) -> Path:
    lines = path.read_text().split("\n")
    lines[line_no - 1] = edit(lines[line_no - 1])
    out.write_text("\n".join(lines))
    return out


def test_truncated_file_names_the_cut_row(small_file, tmp_path):
    text = small_file.read_text()
    cut = tmp_path / "cut.csv"
    cut.write_text(text[: text.index("\n", 2000) + 20])  # ends inside a data row
    n_lines = cut.read_text().count("\n") + 1
    with pytest.raises(WeatherError, match=rf"cut\.csv, row {n_lines}: \d+ fields where the "
                                           r"header names 26 columns"):
        read_nsrdb(cut)


def test_wrong_column_count_names_the_row(small_file, tmp_path):
    bad = _edit(small_file, tmp_path / "extra.csv", 10, lambda ln: "1," + ln)
    with pytest.raises(WeatherError, match=r"extra\.csv, row 10: 27 fields"):
        read_nsrdb(bad)


def test_non_numeric_value_names_column_and_row(small_file, tmp_path):
    def temperature_to_text(line):
        fields = line.split(",")
        fields[5] = "n/a"  # Temperature
        return ",".join(fields)
    bad = _edit(small_file, tmp_path / "text.csv", 7, temperature_to_text)
    with pytest.raises(WeatherError, match=r"text\.csv, variable 'Temperature', row 7: "
                                           r"non-numeric value 'n/a'"):
        read_nsrdb(bad)


def test_missing_metadata_is_refused(small_file, tmp_path):
    bad = _edit(small_file, tmp_path / "nometa.csv", 1, lambda ln: ln.replace("Latitude", "Lat"))
    with pytest.raises(WeatherError, match=r"nometa\.csv, row 1: .*Latitude"):
        read_nsrdb(bad)


def test_missing_variable_is_refused(small_file, tmp_path):
    bad = _edit(small_file, tmp_path / "nopres.csv", 3, lambda ln: ln.replace("Pressure", "P"))
    with pytest.raises(WeatherError, match=r"nopres\.csv, row 3: column header lacks Pressure"):
        read_nsrdb(bad)


def test_latitude_out_of_range_is_refused(tmp_path):
    frame, meta = synthetic_frame()
    path = write_nsrdb(tmp_path / "lat.csv", frame, meta, latitude=95.0)
    with pytest.raises(WeatherError, match=r"lat\.csv, variable 'latitude': latitude 95.0"):
        read_nsrdb(path)


def test_sub_hourly_file_is_refused(tmp_path):
    frame, meta = synthetic_frame(freq="30min")
    path = write_nsrdb(tmp_path / "psm4_30min.csv", frame, meta, minute=0)
    with pytest.raises(WeatherError, match=r"psm4_30min\.csv.*sub-hourly"):
        read_nsrdb(path)


def test_clean_actual_year_in_utc_passes_strict_qc(tmp_path):
    """A clear-sky year requested in UTC (Time Zone 0, hh:30 labels): no repair, values at their
    UTC hour starts, pressure in Pa."""
    local, meta = synthetic_frame(hours=8760)
    frame = local.tz_convert("UTC")
    path = write_nsrdb(tmp_path / "utc_2019.csv", frame, meta, time_zone=0)
    ds = read_nsrdb(path, strict=True)
    assert ds.attrs["qc_repaired_values"] == 0
    assert ds["time"].to_numpy()[0] == np.datetime64("2018-12-31T16:00")
    np.testing.assert_array_equal(ds["temp_air"].to_numpy(), frame["temp_air"].to_numpy())
    np.testing.assert_array_equal(ds["ghi"].to_numpy(), frame["ghi"].to_numpy())
    np.testing.assert_allclose(ds["pressure"], 94_700.0)
