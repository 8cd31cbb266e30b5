"""weather.pvgis: PVGIS TMY CSV and JSON, written here in the PVGIS layout from a real EPW.

Layout as in pvlib's tests/data/tmy_45.000_8.000_2005_2023.{csv,json} (PVGIS 5.3 output): header
lines with latitude, longitude, elevation and the irradiance time offset, the months_selected
table, 8760 rows ``YYYYMMDD:HHMM`` in UTC, a blank line, the column descriptions and the
copyright line. The PVGIS API ends CSV lines with \\r\\n; the copy in pvlib's repository has \\n.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from weather.epw import read_epw
from weather.errors import WeatherError
from weather.pvgis import read_pvgis_tmy

SHARED_WEATHER = Path(__file__).resolve().parents[2] / "shared" / "weather"
HAMI = SHARED_WEATHER / "CHN_Xinjiang.Uygur.Hami.522030_CSWD.epw"
# PVGIS stitches each month from its own year; 2005 (the EPW's year) is the most common here
MONTH_YEARS = {1: 2005, 2: 2007, 3: 2005, 4: 2013, 5: 2008, 6: 2005, 7: 2011, 8: 2010, 9: 2020,
               10: 2006, 11: 2007, 12: 2016}
OFFSET_H = 0.5  # PVGIS-ERA5 (used east of the SARAH disc, e.g. in western China): hour means
COLUMNS = ["T2m", "RH", "G(h)", "Gb(n)", "Gd(h)", "IR(h)", "WS10m", "WD10m", "SP"]
DESCRIPTIONS = [
    "T2m: 2-m air temperature (degree Celsius)",
    "RH: relative humidity (%)",
    "G(h): Global irradiance on the horizontal plane (W/m2)",
    "Gb(n): Beam/direct irradiance on a plane always normal to sun rays (W/m2)",
    "Gd(h): Diffuse irradiance on the horizontal plane (W/m2)",
    "IR(h): Surface infrared (thermal) irradiance on a horizontal plane (W/m2)",
    "WS10m: 10-m total wind speed (m/s)",
    "WD10m: 10-m wind direction (0 = N, 90 = E) (degree)",
    "SP: Surface (air) pressure (Pa)",
]
FIRST_DATA_LINE = 19  # 4 header lines, month,year + 12 months, the column header


def pvgis_rows():
    """The EPW's rows in PVGIS order: UTC hours of the year from 1 January 00:00, each with the
    year PVGIS would write for its month. Raw EPW values (no QC)."""
    if not HAMI.exists():
        pytest.skip(f"shared EPW files not found at {SHARED_WEATHER} (../shared next to the repo)")
    frame, meta = pvlib.iotools.read_epw(HAMI)
    shift = int(meta["TZ"])  # local standard time UTC+8: local hour i is UTC hour i - 8
    rows = frame.iloc[np.r_[shift:len(frame), 0:shift]]
    utc = pd.date_range("2005-01-01", periods=len(rows), freq="h")
    times = [f"{MONTH_YEARS[t.month]}{t:%m%d:%H%M}" for t in utc]
    values = pd.DataFrame({
        "T2m": rows["temp_air"].to_numpy(), "RH": rows["relative_humidity"].to_numpy(float),
        "G(h)": rows["ghi"].to_numpy(float), "Gb(n)": rows["dni"].to_numpy(float),
        "Gd(h)": rows["dhi"].to_numpy(float), "IR(h)": rows["ghi_infrared"].to_numpy(float),
        "WS10m": rows["wind_speed"].to_numpy(), "WD10m": rows["wind_direction"].to_numpy(float),
        "SP": rows["atmospheric_pressure"].to_numpy(float)})
    return times, values, meta


def synthetic_rows():
    """A clean PVGIS year that needs no shared file: clear-sky irradiance at Hami (pvlib Ineichen
    at each hour's middle), daily temperature and wind cycles, constant humidity and pressure."""
    meta = {"latitude": 42.82, "longitude": 93.52, "altitude": 737.2}
    utc = pd.date_range("2005-01-01", periods=8760, freq="h", tz="UTC")
    location = pvlib.location.Location(meta["latitude"], meta["longitude"], altitude=737.2)
    sky = location.get_clearsky(utc + pd.Timedelta(minutes=30))
    temp = 10 + 10 * np.sin(2 * np.pi * (utc.hour.to_numpy() - 2) / 24)
    values = pd.DataFrame({
        "T2m": np.round(temp, 2), "RH": 40.0, "G(h)": np.round(sky["ghi"].to_numpy(), 2),
        "Gb(n)": np.round(sky["dni"].to_numpy(), 2), "Gd(h)": np.round(sky["dhi"].to_numpy(), 2),
        "IR(h)": 300.0,
        "WS10m": np.round(3.0 + np.sin(2 * np.pi * utc.hour.to_numpy() / 24), 2),
        "WD10m": 180.0, "SP": 93_000.0})
    times = [f"{MONTH_YEARS[t.month]}{t:%m%d:%H%M}" for t in utc]
    return times, values[COLUMNS], meta


def write_pvgis_csv(path: Path, times, values, meta, *, newline="\r\n", latitude=None) -> Path:
    lat = meta["latitude"] if latitude is None else latitude
    lines = [f"Latitude (decimal degrees): {lat:.3f}",
             f"Longitude (decimal degrees): {meta['longitude']:.3f}",
             f"Elevation (m): {meta['altitude']:.1f}",
             f"Irradiance Time Offset (h): {OFFSET_H:.4f}", "month,year"]
    lines += [f"{m},{y}" for m, y in MONTH_YEARS.items()]
    lines.append("time(UTC)," + ",".join(COLUMNS))
    for t, row in zip(times, values.itertuples(index=False)):
        lines.append(t + "," + ",".join(repr(float(v)) for v in row))
    lines += ["", *DESCRIPTIONS, "", "PVGIS (c) European Union, 2001-2025", ""]
    path.write_bytes(newline.join(lines).encode())
    return path


def write_pvgis_json(path: Path, times, values, meta) -> Path:
    records = [{"time(UTC)": t, **{c: float(v) for c, v in zip(COLUMNS, row)}}
               for t, row in zip(times, values.itertuples(index=False))]
    doc = {
        "inputs": {"location": {"latitude": meta["latitude"], "longitude": meta["longitude"],
                                "elevation": meta["altitude"], "irradiance_time_offset": OFFSET_H},
                   "meteo_data": {"radiation_db": "PVGIS-ERA5", "meteo_db": "ERA5",
                                  "year_min": 2005, "year_max": 2023, "use_horizon": True,
                                  "horizon_db": "DEM-calculated"}},
        "outputs": {"months_selected": [{"month": m, "year": y} for m, y in MONTH_YEARS.items()],
                    "tmy_hourly": records},
        "meta": {"inputs": {"location": {"description": "Selected location"}},
                 "outputs": {"tmy_hourly": {"type": "time series", "timestamp": "hourly"}}},
    }
    path.write_text(json.dumps(doc))  # PVGIS writes the document on one line
    return path


@pytest.fixture(scope="module")
def rows():
    return pvgis_rows()


@pytest.fixture(scope="module")
def clean_rows():
    return synthetic_rows()


@pytest.fixture(scope="module")
def clean_csv(clean_rows, tmp_path_factory):
    return write_pvgis_csv(tmp_path_factory.mktemp("pvgis") / "clean.csv", *clean_rows)


@pytest.fixture(scope="module")
def from_epw():
    if not HAMI.exists():
        pytest.skip(f"shared EPW files not found at {SHARED_WEATHER} (../shared next to the repo)")
    return read_epw(HAMI)


@pytest.fixture(scope="module")
def csv_file(rows, tmp_path_factory):
    return write_pvgis_csv(tmp_path_factory.mktemp("pvgis") / "tmy_42.820_93.520_2005_2023.csv",
                           *rows)


@pytest.fixture(scope="module")
def from_csv(csv_file):
    return read_pvgis_tmy(csv_file)


def test_csv_gives_the_epw_values_at_the_same_utc_hours(from_csv, from_epw):
    """The PVGIS CSV written from the EPW, read back: the same UTC hour starts as read_epw, the
    same temperature, humidity, wind and pressure; irradiance (through the same QC, which may
    re-time and repair CSWD irradiance) with monthly means within 1 %."""
    np.testing.assert_array_equal(from_csv["time"].to_numpy(), from_epw["time"].to_numpy())
    for var in ("temp_air", "relative_humidity", "wind_speed", "pressure"):
        np.testing.assert_array_equal(from_csv[var].to_numpy(), from_epw[var].to_numpy(),
                                      err_msg=var)
    for var in ("ghi", "dni", "dhi"):
        np.testing.assert_allclose(from_csv[var].groupby("time.month").mean(),
                                   from_epw[var].groupby("time.month").mean(), rtol=0.01,
                                   err_msg=var)
    # the dew point is derived from T2m and RH (PVGIS has no dew point): close to the EPW's
    assert float(np.abs(from_csv["temp_dew"] - from_epw["temp_dew"]).median()) < 0.5


def test_site_and_provenance_from_the_file(from_csv, csv_file):
    assert (float(from_csv.latitude), float(from_csv.longitude), float(from_csv.altitude)) == \
        (42.82, 93.52, 737.2)
    assert from_csv["wind_speed"].attrs["height"] == 10.0
    assert from_csv.attrs["source_file"] == csv_file.name
    assert from_csv.attrs["source_format"] == "PVGIS TMY CSV"
    assert from_csv.attrs["irradiance_time_offset_h"] == OFFSET_H
    assert json.loads(from_csv.attrs["source_months_selected"]) == \
        {str(m): y for m, y in MONTH_YEARS.items()}
    assert "typical year placed on 2005" in from_csv.attrs["history"]


def test_json_reads_as_the_csv(rows, from_csv, tmp_path):
    ds = read_pvgis_tmy(write_pvgis_json(tmp_path / "tmy_42.820_93.520_2005_2023.json", *rows))
    for var in from_csv.data_vars:
        np.testing.assert_array_equal(ds[var].to_numpy(), from_csv[var].to_numpy(), err_msg=var)
    assert ds.attrs["source_radiation_db"] == "PVGIS-ERA5"
    assert ds.attrs["irradiance_time_offset_h"] == OFFSET_H


def test_lf_line_ends_read_like_crlf(rows, csv_file, tmp_path):
    """The \\n copy of a PVGIS CSV passes the same layout check and pvlib parse (the values
    then go through the same from_dataframe, compared above)."""
    import weather.pvgis as pvgis
    lf = write_pvgis_csv(tmp_path / "lf.csv", *rows, newline="\n")
    assert pvgis._check_csv(lf, str(lf)) == pvgis._check_csv(csv_file, str(csv_file)) == \
        FIRST_DATA_LINE
    a, _ = pvlib.iotools.read_pvgis_tmy(lf)
    b, _ = pvlib.iotools.read_pvgis_tmy(csv_file)
    pd.testing.assert_frame_equal(a, b)


def _lines(path: Path) -> list[str]:
    return path.read_bytes().decode().split("\r\n")


def _write(path: Path, lines: list[str]) -> Path:
    path.write_bytes("\r\n".join(lines).encode())
    return path


def test_truncated_csv_names_the_first_missing_row(clean_csv, tmp_path):
    lines = _lines(clean_csv)
    cut = _write(tmp_path / "cut.csv", lines[:FIRST_DATA_LINE - 1 + 100])
    with pytest.raises(WeatherError, match=rf"cut\.csv, row {FIRST_DATA_LINE + 100}: truncated: "
                                           r"100 hourly rows"):
        read_pvgis_tmy(cut)


def test_csv_cut_inside_a_row_names_that_row(clean_csv, tmp_path):
    lines = _lines(clean_csv)[:FIRST_DATA_LINE + 100]
    lines[-1] = lines[-1][:20]
    cut = _write(tmp_path / "cut.csv", lines)
    with pytest.raises(WeatherError, match=rf"cut\.csv, row {FIRST_DATA_LINE + 100}: 3 fields "
                                           r"where the header has 10"):
        read_pvgis_tmy(cut)


def test_wrong_column_count_names_the_row(clean_csv, tmp_path):
    lines = _lines(clean_csv)
    lines[FIRST_DATA_LINE + 9] += ",0.0"
    with pytest.raises(WeatherError, match=rf"extra\.csv, row {FIRST_DATA_LINE + 10}: 11 fields"):
        read_pvgis_tmy(_write(tmp_path / "extra.csv", lines))


def test_non_numeric_value_names_variable_and_row(clean_csv, tmp_path):
    lines = _lines(clean_csv)
    fields = lines[FIRST_DATA_LINE + 4].split(",")
    fields[1] = "abc"  # T2m
    lines[FIRST_DATA_LINE + 4] = ",".join(fields)
    with pytest.raises(WeatherError, match=rf"text\.csv, variable 'T2m', row {FIRST_DATA_LINE + 5}"
                                           r": non-numeric value 'abc'"):
        read_pvgis_tmy(_write(tmp_path / "text.csv", lines))


def test_extra_rows_are_refused(clean_csv, tmp_path):
    lines = _lines(clean_csv)
    last = FIRST_DATA_LINE - 1 + 8760
    lines.insert(last, lines[last - 1])
    with pytest.raises(WeatherError, match=rf"long\.csv, row {last + 1}: more than 8760"):
        read_pvgis_tmy(_write(tmp_path / "long.csv", lines))


def test_latitude_out_of_range_is_refused(clean_rows, tmp_path):
    path = write_pvgis_csv(tmp_path / "lat.csv", *clean_rows, latitude=95.0)
    with pytest.raises(WeatherError, match=r"lat\.csv, variable 'latitude': latitude 95.0"):
        read_pvgis_tmy(path)


def test_truncated_json_is_refused(clean_rows, tmp_path):
    path = write_pvgis_json(tmp_path / "cut.json", *clean_rows)
    path.write_bytes(path.read_bytes()[:50_000])
    with pytest.raises(WeatherError, match=r"cut\.json, row 1: not valid JSON"):
        read_pvgis_tmy(path)


def test_json_record_with_missing_or_bad_value_names_variable_and_record(clean_rows, tmp_path):
    path = write_pvgis_json(tmp_path / "bad.json", *clean_rows)
    doc = json.loads(path.read_text())
    doc["outputs"]["tmy_hourly"][41]["SP"] = "n/a"
    path.write_text(json.dumps(doc))
    with pytest.raises(WeatherError, match=r"bad\.json, variable 'SP', row 42: non-numeric"):
        read_pvgis_tmy(path)
    del doc["outputs"]["tmy_hourly"][6]["T2m"]
    path.write_text(json.dumps(doc))
    with pytest.raises(WeatherError, match=r"bad\.json, variable 'T2m', row 7: field missing"):
        read_pvgis_tmy(path)


def test_unknown_suffix_is_refused(tmp_path):
    path = tmp_path / "tmy.txt"
    path.write_text("Latitude (decimal degrees): 45.000\n")
    with pytest.raises(WeatherError, match=r"tmy\.txt: unknown PVGIS TMY suffix"):
        read_pvgis_tmy(path)


def test_layout_before_the_irradiance_time_offset_line(csv_file, from_csv, tmp_path):
    """PVGIS files written before December 2024 have no 'Irradiance Time Offset' line."""
    lines = _lines(csv_file)
    del lines[3]
    ds = read_pvgis_tmy(_write(tmp_path / "tmy_2005_2020.csv", lines))
    assert "irradiance_time_offset_h" not in ds.attrs
    np.testing.assert_array_equal(ds["temp_air"].to_numpy(), from_csv["temp_air"].to_numpy())


def test_clean_year_passes_strict_qc_without_repairs(clean_csv, clean_rows):
    """Clear-sky irradiance labelled as PVGIS-ERA5 does (hour means) needs no repair; the values
    come back at their UTC hours."""
    ds = read_pvgis_tmy(clean_csv, strict=True)
    times, values, _ = clean_rows
    assert ds.attrs["qc_repaired_values"] == 0
    np.testing.assert_array_equal(ds["temp_air"].to_numpy(), values["T2m"].to_numpy())
    np.testing.assert_array_equal(ds["ghi"].to_numpy(), values["G(h)"].to_numpy())
    assert ds["time"].to_numpy()[0] == np.datetime64("2005-01-01T00:00")
