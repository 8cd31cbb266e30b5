"""PVGIS typical meteorological year (TMY) files, CSV or JSON as PVGIS writes them, read with pvlib.

PVGIS TMY layout (PVGIS 5.x, ``/api/tmy``): times in UTC, hourly labels ``YYYYMMDD:HHMM``, 8760
rows, each month taken from its own year (``months_selected``); columns ``T2m`` [degC], ``RH``
[%], ``G(h)``, ``Gb(n)``, ``Gd(h)``, ``IR(h)`` [W m-2], ``WS10m`` [m s-1] at 10 m, ``WD10m``
[deg], ``SP`` [Pa]. Since December 2024 PVGIS states an "irradiance time offset" [h]: the
irradiance written at HH:00 belongs to HH:00 + offset. For PVGIS-ERA5 (used outside the Meteosat
discs, e.g. most of China) it is 0.5 h: the mean of the hour starting at HH:00, exactly the twin's
convention. For PVGIS-SARAH it is about 0.18 h: an instantaneous satellite value, about 20 min
before the hour's middle. The reader keeps the labels as hour starts and records the offset in
the attributes; QC's irradiance-timing check sees a SARAH offset (about 0.3 h against the clear
sky) and re-times the irradiance.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pvlib

from weather.dataset import file_attrs, from_dataframe
from weather.errors import WeatherError

TMY_HOURS = 8760
TIME_FORMAT = re.compile(r"^\d{8}:\d{4}$")
# the PVGIS columns the twin needs (the others, IR(h) and WD10m, are read but not kept)
COLUMNS = ("time(UTC)", "T2m", "RH", "G(h)", "Gb(n)", "Gd(h)", "WS10m", "SP")
KEEP = ["ghi", "dni", "dhi", "temp_air", "relative_humidity", "pressure", "wind_speed"]


def _float(text: str) -> float:
    return float(text.split(":", 1)[1])


def _check_csv(path: Path, source: str) -> int:
    """Refuse anything but a complete PVGIS TMY CSV; return the line number of the first data row.

    pvlib reads exactly 8760 lines after the column header without looking at them: a truncated
    file comes back padded with NaT/NaN rows and extra rows are dropped, so the layout is checked
    here, line by line, to name the first bad row."""
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except OSError as err:
        raise WeatherError(source, f"cannot read file ({err.strerror})") from None
    except UnicodeDecodeError:
        raise WeatherError(source, "not a PVGIS TMY CSV (not UTF-8 text)", row=1) from None
    for i, key in enumerate(("Latitude", "Longitude", "Elevation")):
        try:
            if not lines[i].startswith(key):
                raise ValueError
            _float(lines[i])
        except (IndexError, ValueError):
            raise WeatherError(source, f"not a PVGIS TMY CSV: line {i + 1} must be "
                               f"'{key} ...: <number>'", row=i + 1) from None
    i = 3
    if i < len(lines) and lines[i].startswith("Irradiance Time Offset"):
        try:
            _float(lines[i])
        except (IndexError, ValueError):
            raise WeatherError(source, "irradiance time offset is not a number",
                               row=i + 1) from None
        i += 1
    if i >= len(lines) or lines[i].strip() != "month,year":
        raise WeatherError(source, "not a PVGIS TMY CSV: expected the 'month,year' table",
                           row=i + 1)
    for month in range(1, 13):
        i += 1
        fields = lines[i].split(",") if i < len(lines) else []
        if len(fields) != 2 or fields[0].strip() != str(month) or not fields[1].strip().isdigit():
            raise WeatherError(source, f"months_selected table: expected '{month},<year>'",
                               row=i + 1)
    i += 1
    header = [h.strip() for h in lines[i].split(",")] if i < len(lines) else []
    missing = [c for c in COLUMNS if c not in header]
    if missing or header[0] != "time(UTC)":
        problem = ", ".join(missing) or "time(UTC) is not first"
        raise WeatherError(source, f"column header must start with time(UTC) and name "
                           f"{', '.join(COLUMNS[1:])} ({problem})", row=i + 1)
    first = i + 2  # 1-based line number of the first data row
    for k in range(TMY_HOURS):
        n = first + k
        if n > len(lines) or not lines[n - 1].strip():
            raise WeatherError(source, f"truncated: {k} hourly rows where a PVGIS TMY has "
                               f"{TMY_HOURS}", row=n)
        fields = lines[n - 1].split(",")
        if not TIME_FORMAT.match(fields[0].strip()):
            raise WeatherError(source, f"time {fields[0].strip()!r} is not YYYYMMDD:HHMM",
                               variable="time(UTC)", row=n)
        if len(fields) != len(header):
            raise WeatherError(source, f"{len(fields)} fields where the header has {len(header)}",
                               row=n)
        for name, value in zip(header[1:], fields[1:]):
            try:
                float(value)
            except ValueError:
                raise WeatherError(source, f"non-numeric value {value.strip()!r}", variable=name,
                                   row=n) from None
    after = first + TMY_HOURS - 1
    if after < len(lines) and TIME_FORMAT.match(lines[after].split(",", 1)[0].strip()):
        raise WeatherError(source, f"more than {TMY_HOURS} hourly rows", row=after + 1)
    return first


def _check_json(path: Path, source: str):
    """Refuse anything but a complete PVGIS TMY JSON. Rows are record numbers in
    ``outputs.tmy_hourly`` (PVGIS writes the whole document on one line)."""
    try:
        src = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as err:
        raise WeatherError(source, f"cannot read file ({err.strerror})") from None
    except UnicodeDecodeError:
        raise WeatherError(source, "not a PVGIS TMY JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as err:
        raise WeatherError(source, f"not valid JSON: {err.msg} at character {err.pos} "
                           "(truncated file?)", row=err.lineno) from None
    try:
        location = src["inputs"]["location"]
        for key in ("latitude", "longitude", "elevation"):
            if not _is_number(location[key]):
                raise WeatherError(source, f"inputs.location.{key} is not a number", variable=key)
        records = src["outputs"]["tmy_hourly"]
        if not isinstance(src["outputs"]["months_selected"], list):
            raise TypeError("months_selected")
    except (KeyError, TypeError) as err:
        raise WeatherError(source, f"not a PVGIS TMY JSON (no {err} in inputs.location / "
                           "outputs.tmy_hourly / outputs.months_selected)") from None
    if not isinstance(records, list) or len(records) != TMY_HOURS:
        n = len(records) if isinstance(records, list) else 0
        raise WeatherError(source, f"truncated or padded: {n} hourly records where a PVGIS TMY "
                           f"has {TMY_HOURS}", row=n)
    for k, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise WeatherError(source, "hourly record is not an object", row=k)
        for name in COLUMNS:
            if name not in record:
                raise WeatherError(source, "field missing from the hourly record", variable=name,
                                   row=k)
        if not isinstance(record["time(UTC)"], str) or not TIME_FORMAT.match(record["time(UTC)"]):
            raise WeatherError(source, f"time {record['time(UTC)']!r} is not YYYYMMDD:HHMM",
                               variable="time(UTC)", row=k)
        for name in COLUMNS[1:]:
            if not _is_number(record[name]):
                raise WeatherError(source, f"non-numeric value {record[name]!r}", variable=name,
                                   row=k)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_pvgis_tmy(path, *, strict: bool = False, fill_missing: bool = True,
                   name: str | None = None, year: int | None = None):
    """Read a PVGIS TMY file (``.csv`` or ``.json``, as PVGIS writes them) into the twin's weather
    Dataset.

    Parsed with :func:`pvlib.iotools.read_pvgis_tmy`. Times are UTC; the 8760 rows are a typical
    year (months from different years), placed on one calendar year. Site latitude, longitude and
    elevation come from the file; wind speed is at 10 m; dew point is derived from T2m and RH.
    ``_row`` (the row a problem is reported at) is the line number for CSV and the record number
    in ``outputs.tmy_hourly`` for JSON. ``strict=True`` refuses files that need any repair.
    """
    path = Path(path)
    source = str(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt == "csv":
        first = _check_csv(path, source)
        rows = np.arange(first, first + TMY_HOURS)
    elif fmt == "json":
        _check_json(path, source)
        rows = np.arange(1, TMY_HOURS + 1)
    else:
        raise WeatherError(source, f"unknown PVGIS TMY suffix {path.suffix!r}: expected .csv or "
                           ".json (read a PVGIS .epw with weather.epw.read_epw)")
    try:
        frame, meta = pvlib.iotools.read_pvgis_tmy(path, pvgis_format=fmt, map_variables=True)
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise WeatherError(source, f"unreadable PVGIS TMY ({err})") from None
    inputs = meta.get("inputs", {})
    location = inputs.get("location", inputs)  # JSON nests the site under inputs.location
    offset = location.get("irradiance_time_offset", location.get("irradiance time offset"))
    meteo = inputs.get("meteo_data", {}) if isinstance(inputs.get("meteo_data"), dict) else {}
    frame = frame[KEEP].copy()
    frame["_row"] = rows
    latitude, longitude = float(location["latitude"]), float(location["longitude"])
    label = name or f"PVGIS TMY {latitude:.3f} N {longitude:.3f} E"
    attrs = {**file_attrs(path), "source_format": f"PVGIS TMY {fmt.upper()}",
             "source_months_selected": json.dumps(
                 {int(m["month"]): int(m["year"]) for m in meta.get("months_selected", [])})}
    if offset is not None:
        attrs["irradiance_time_offset_h"] = float(offset)
    for key in ("radiation_db", "meteo_db", "year_min", "year_max"):
        if key in meteo:
            attrs[f"source_{key}"] = str(meteo[key])
    return from_dataframe(
        frame, latitude, longitude, float(location["elevation"]), name=label, tz=None,
        source=source, strict=strict, fill_missing=fill_missing, typical_year=True, year=year,
        wind_height_m=10.0, attrs=attrs)
