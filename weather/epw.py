"""EnergyPlus weather (EPW) files, read with pvlib and normalised."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pvlib

from weather.dataset import file_attrs, from_dataframe
from weather.errors import WeatherError

HEADER_LINES = 8
FIELDS = 35
# EPW "missing" codes (EnergyPlus Auxiliary Programs, Weather Converter, EPW data dictionary)
MISSING = {"temp_air": 99.9, "temp_dew": 99.9, "relative_humidity": 999,
           "atmospheric_pressure": 999999, "ghi": 9999, "dni": 9999, "dhi": 9999,
           "wind_speed": 999, "albedo": 999, "precipitable_water": 999,
           "liquid_precipitation_depth": 999}


def _check_layout(path: Path, source: str) -> str:
    """Refuse a truncated file or rows with the wrong number of fields; return the file's text
    (without a UTF-8 byte-order mark, which editors on Windows add)."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise WeatherError(source, f"cannot read file ({err.strerror})") from None
    text = raw.removeprefix(b"\xef\xbb\xbf").decode("latin-1")
    lines = text.splitlines()
    if len(lines) <= HEADER_LINES or not lines[0].startswith("LOCATION"):
        raise WeatherError(source, "not an EPW file (no LOCATION header or no data rows)", row=1)
    data = [ln for ln in lines[HEADER_LINES:] if ln.strip()]
    for i, line in enumerate(data):
        n = line.count(",") + 1
        if n != FIELDS:
            raise WeatherError(source, f"{n} fields where EPW has {FIELDS}",
                               row=HEADER_LINES + i + 1)
    if len(data) not in (8760, 8784):
        raise WeatherError(source, f"truncated or padded: {len(data)} hourly rows where a year has "
                           "8760 (or 8784)", row=HEADER_LINES + len(data))
    return text


def read_epw(path, *, strict: bool = False, fill_missing: bool = True,
             name: str | None = None, year: int | None = None):
    """Read an EPW typical-year file into the twin's weather Dataset.

    EPW hour N covers local standard time N-1 to N (pvlib labels it N-1, its start); the file's
    time zone (LOCATION field) converts it to UTC, and the typical year is placed on one calendar
    year and wrapped into a whole UTC year. EPW missing codes become NaN and go through QC.
    ``strict=True`` refuses files that need any repair.
    """
    path = Path(path)
    source = str(path)
    text = _check_layout(path, source)
    try:
        frame, meta = pvlib.iotools.read_epw(io.StringIO(text))
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise WeatherError(source, f"unreadable EPW ({err})") from None
    notes = []
    frame["_row"] = np.arange(HEADER_LINES + 1, HEADER_LINES + 1 + len(frame))
    leap_day = (frame.index.month == 2) & (frame.index.day == 29)
    if leap_day.any():  # a leap-year file: the twin's typical year has no 29 February
        frame = frame[~leap_day]
        notes.append(f"29 February dropped ({int(leap_day.sum())} rows): a typical year has "
                     "8760 hours (twin.timebase)")
    frame = frame.rename(columns={"atmospheric_pressure": "pressure",
                                  "liquid_precipitation_depth": "precipitation"})
    for col, code in MISSING.items():
        col = {"atmospheric_pressure": "pressure",
               "liquid_precipitation_depth": "precipitation"}.get(col, col)
        if col in ("temp_air", "temp_dew") and frame[col].median() > 150:
            # a temperature in kelvin (QC converts it): only the exact code is missing
            frame[col] = frame[col].where(frame[col] != code)
        else:
            frame[col] = frame[col].where(frame[col] < code)
    # EPW precipitable water is in mm (EnergyPlus Auxiliary Programs, EPW data dictionary): to cm.
    # A value of 0 is not physical: CSWD files write 0 for "not given".
    pw = frame["precipitable_water"]
    frame["precipitable_water"] = (pw / 10).where(pw > 0)
    label = name or f"{meta['city']}, {meta['state-prov']}, {meta['country']}".strip(", ")
    return from_dataframe(
        frame, meta["latitude"], meta["longitude"], meta["altitude"], name=label,
        tz=None, source=source, strict=strict, fill_missing=fill_missing, typical_year=True,
        year=year, wind_height_m=10.0,
        attrs={**file_attrs(path), "source_format": "EPW", "station": meta.get("WMO_code", ""),
               "source_data_type": meta.get("data_type", ""),
               **({"source_notes": "; ".join(notes)} if notes else {})})
