"""NSRDB PSM (v3 and v4) CSV files as the NSRDB API and viewer write them, read with pvlib.

Layout (SAM CSV): line 1 the metadata names (Source, Location ID, ..., Latitude, Longitude, Time
Zone, Elevation, Local Time Zone, "<variable> Units", ..., Version), line 2 their values, line 3 the
column header (Year, Month, Day, Hour, Minute, GHI, ..., often padded with empty columns), then one
row per time step. Times are in the zone of the ``Time Zone`` field (local standard time, or 0 when
UTC was requested); hourly values are labelled at hh:30 (the middle of the hour) or hh:00. Units as
stated in the metadata: pressure in mbar, temperature and dew point in degC, wind speed in m s-1 at
2 m (MERRA-2), precipitable water in cm, albedo as a fraction. A typical year (TMY/TGY/TDY) takes
each month from its own year.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pvlib

from weather.dataset import file_attrs, from_dataframe
from weather.errors import WeatherError

HEADER_LINES = 3
DATE_COLUMNS = ("Year", "Month", "Day", "Hour", "Minute")
REQUIRED = ("GHI", "DNI", "DHI", "Temperature", "Pressure", "Wind Speed")
HUMIDITY = ("Dew Point", "Relative Humidity")
META_REQUIRED = ("Latitude", "Longitude", "Time Zone", "Elevation")
KEEP = ["ghi", "dni", "dhi", "temp_air", "temp_dew", "relative_humidity", "pressure", "wind_speed",
        "albedo", "precipitable_water"]
# stated unit (lower case) -> factor to the twin's unit; None where NSRDB documents one unit only
UNITS = {
    "pressure": ("Pressure Units", "mbar", {"mbar": 100.0, "hpa": 100.0, "pa": 1.0, "kpa": 1000.0}),
    "temp_air": ("Temperature Units", "c", {"c": 1.0, "degc": 1.0}),
    "temp_dew": ("Dew Point Units", "c", {"c": 1.0, "degc": 1.0}),
    "ghi": ("GHI Units", "w/m2", {"w/m2": 1.0}),
    "dni": ("DNI Units", "w/m2", {"w/m2": 1.0}),
    "dhi": ("DHI Units", "w/m2", {"w/m2": 1.0}),
    "wind_speed": ("Wind Speed Units", "m/s", {"m/s": 1.0}),
    "relative_humidity": ("Relative Humidity Units", "%", {"%": 1.0}),
    "precipitable_water": ("Precipitable Water Units", "cm", {"cm": 1.0, "mm": 0.1}),
}
WIND_HEIGHT_M = 2.0  # NSRDB PSM wind is MERRA-2 2 m wind


def _check_layout(path: Path, source: str) -> int:
    """Refuse a file that is not NSRDB/PSM CSV, has rows with the wrong number of fields or
    non-numeric values; return the number of data rows. pvlib would raise without a row number
    (or, for a short row, fill NaN)."""
    try:
        lines = path.read_text(encoding="latin-1").splitlines()
    except OSError as err:
        raise WeatherError(source, f"cannot read file ({err.strerror})") from None
    if len(lines) <= HEADER_LINES:
        raise WeatherError(source, "not an NSRDB/PSM CSV: needs two metadata lines, the column "
                           "header and data rows", row=len(lines) or 1)
    names = next(csv.reader([lines[0]]))
    values = next(csv.reader([lines[1]]))
    missing = [k for k in META_REQUIRED if k not in names]
    if missing:
        raise WeatherError(source, "not an NSRDB/PSM CSV: metadata names lack "
                           f"{', '.join(missing)}", row=1)
    if len(values) < len(names):
        raise WeatherError(source, f"{len(values)} metadata values for {len(names)} names", row=2)
    columns = [c for c in next(csv.reader([lines[2]])) if c.strip() != ""]
    missing = [c for c in DATE_COLUMNS + REQUIRED if c not in columns]
    if not any(c in columns for c in HUMIDITY):
        missing.append(" or ".join(HUMIDITY))
    if missing:
        raise WeatherError(source, f"column header lacks {', '.join(missing)}", row=3)
    n = len(columns)
    data = lines[HEADER_LINES:]
    while data and not data[-1].strip():
        data.pop()
    if not data:
        raise WeatherError(source, "no data rows", row=HEADER_LINES + 1)
    for i, line in enumerate(data):
        row = HEADER_LINES + i + 1
        fields = line.split(",")
        if len(fields) < n or any(f.strip() for f in fields[n:]):
            count = len(fields) if len(fields) < n else n + sum(1 for f in fields[n:] if f.strip())
            raise WeatherError(source, f"{count} fields where the header names {n} columns",
                               row=row)
        for name, value in zip(columns, fields):
            if not value.strip() and name not in DATE_COLUMNS:
                continue  # an empty field is a missing value (sparse TMY3 albedo): QC decides
            try:
                number = float(value)
            except ValueError:
                raise WeatherError(source, f"non-numeric value {value.strip()!r}", variable=name,
                                   row=row) from None
            if name in DATE_COLUMNS and not (np.isfinite(number) and number == int(number)):
                raise WeatherError(source, f"{name} {value.strip()!r} is not a whole number",
                                   variable=name, row=row)
    return len(data)


def _unit_factors(meta: dict, frame, source: str) -> tuple[dict[str, float], list[str]]:
    """The factor from each variable's stated unit to the twin's unit; the unit NSRDB documents
    where the file does not state one (noted)."""
    factors, notes = {}, []
    for var, (key, default, known) in UNITS.items():
        if var not in frame:
            continue
        stated = meta.get(key)
        unit = (stated if stated not in (None, "") else default).strip()
        if stated in (None, ""):
            notes.append(f"{var}: unit not stated, NSRDB's {default} assumed")
        factor = known.get(unit.lower())
        if factor is None:
            raise WeatherError(source, f"unexpected unit {unit!r} ({key}); known: "
                               f"{', '.join(known)}", variable=var)
        factors[var] = factor
    return factors, notes


def read_nsrdb(path, *, strict: bool = False, fill_missing: bool = True,
               name: str | None = None, year: int | None = None):
    """Read an NSRDB PSM3/PSM4 CSV file (hourly) into the twin's weather Dataset.

    Parsed with :func:`pvlib.iotools.read_nsrdb_psm4` (PSM3 files share the layout). The file's
    ``Time Zone`` converts the times to UTC; hh:30 labels (the middle of the hour) become the hour
    start. A file whose months come from different years is a typical year (TMY/TGY/TDY), placed on
    one calendar year and wrapped into a whole UTC year; otherwise an actual year. Pressure is
    converted from the stated unit (mbar) to Pa here. Surface albedo and precipitable water [cm]
    are kept when present. Wind speed is at 2 m. ``_row`` is the line number in the file.
    ``strict=True`` refuses files that need any repair.
    """
    path = Path(path)
    source = str(path)
    n_rows = _check_layout(path, source)
    try:
        frame, meta = pvlib.iotools.read_nsrdb_psm4(path, map_variables=True)
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise WeatherError(source, f"unreadable NSRDB/PSM CSV ({type(err).__name__}: "
                           f"{err})") from None
    if len(frame) != n_rows:
        raise WeatherError(source, f"pvlib read {len(frame)} rows of {n_rows}")
    minutes = np.unique(frame["Minute"].to_numpy())
    if len(minutes) > 1:
        raise WeatherError(source, f"sub-hourly data (minutes {', '.join(map(str, minutes))}): "
                           "the twin needs hourly values (request a 60-minute interval)",
                           variable="Minute", row=HEADER_LINES + 2)
    years_per_month = frame.groupby("Month")["Year"].nunique()
    typical = bool(years_per_month.max() == 1 and frame["Year"].nunique() > 1)
    keep = [v for v in KEEP if v in frame]
    factors, notes = _unit_factors(meta, frame, source)
    out = frame[keep].astype(float)
    for var, factor in factors.items():
        if factor != 1.0:
            out[var] = out[var] * factor
    out["_row"] = np.arange(HEADER_LINES + 1, HEADER_LINES + 1 + len(out))
    city = meta.get("City", "").strip()
    label = name or (city if city not in ("", "-")
                     else f"NSRDB {meta.get('Location ID', '')}".strip())
    attrs = {**file_attrs(path),
             "source_format": f"NSRDB PSM CSV {meta.get('Version', '')}".strip(),
             "source_location_id": str(meta.get("Location ID", "")),
             "source_time_zone_h": float(meta["Time Zone"]),
             "source_year_type": "typical year" if typical else "actual year",
             "source_pressure_unit": (meta.get("Pressure Units") or "mbar").strip()}
    if notes:
        attrs["source_notes"] = "; ".join(notes)
    return from_dataframe(
        out, meta["latitude"], meta["longitude"], meta["altitude"], name=label, tz=None,
        source=source, strict=strict, fill_missing=fill_missing, typical_year=typical,
        year=year if typical else None,
        wind_height_m=WIND_HEIGHT_M,
        attrs=attrs)
