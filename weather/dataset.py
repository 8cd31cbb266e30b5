"""The one normalisation every reader ends in: a pandas frame becomes the twin's CF weather Dataset.

Dataset contract (see DESIGN.md): dim ``time`` hourly in UTC, each label the start of its hour;
variables ``ghi dni dhi temp_air temp_dew relative_humidity pressure wind_speed`` (+ optional
``albedo pm10 pm2_5 precipitable_water precipitation``) with CF attributes from
:mod:`twin.variables`; scalar coords ``latitude longitude altitude``; attributes naming the
source, its hash and every QC repair.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import xarray as xr

from twin._version import __version__
from twin.variables import WEATHER_OPTIONAL, WEATHER_REQUIRED, annotate
from weather.errors import WeatherError
from weather.qc import quality_control


def check_site(source: str, latitude: float, longitude: float, altitude: float):
    """Refuse coordinates no site can have."""
    for name, value, lo, hi in (("latitude", latitude, -90, 90),
                                ("longitude", longitude, -180, 180),
                                ("altitude", altitude, -500, 9000)):
        if value is None or not np.isfinite(value) or not lo <= value <= hi:
            raise WeatherError(source, f"{name} {value} outside [{lo}, {hi}]", variable=name)


# a typical year whose most common source year is a leap year goes on this one (twin.timebase:
# a typical year has no 29 February)
NON_LEAP_YEAR = 2001


def _typical_year(index: pd.DatetimeIndex, year: int | None, source: str,
                  notes: list[str]) -> pd.DatetimeIndex:
    """Put a typical year (months taken from different years) onto one calendar year: ``year``,
    or the most common year of its rows; a leap year asked for is refused, as a typical year of
    8,760 hours has no 29 February."""
    leap = len(index) == 8760
    if year is None:
        year = int(pd.Series(index.year).mode().iloc[0])
        if leap and pd.Timestamp(year=year, month=1, day=1).is_leap_year:
            notes.append(f"the rows' most common year {year} is a leap year: placed on "
                         f"{NON_LEAP_YEAR} (a typical year has no 29 February)")
            year = NON_LEAP_YEAR
    elif leap and pd.Timestamp(year=year, month=1, day=1).is_leap_year:
        raise WeatherError(source, f"year={year}: {year} is a leap year and a typical year of "
                           "8760 hours has no 29 February; give a non-leap year (e.g. "
                           f"{year - 1} or {year + 1})")
    return pd.DatetimeIndex([t.replace(year=year) for t in index])


def _wrap_into_year(index: pd.DatetimeIndex, year: int) -> pd.DatetimeIndex:
    """Shift the hours that the conversion to UTC pushed out of ``year`` by one year, back in.

    A typical year is a cycle: the first hours of 1 January local time are the last hours of
    31 December in UTC west of Greenwich and east of it the other way round."""
    start, end = pd.Timestamp(year, 1, 1), pd.Timestamp(year + 1, 1, 1)
    early, late = index < start, index >= end
    out = index.to_numpy().copy()
    out[early] = (index[early] + pd.DateOffset(years=1)).to_numpy()
    out[late] = (index[late] - pd.DateOffset(years=1)).to_numpy()
    return pd.DatetimeIndex(out)


def _to_utc_hourly(frame: pd.DataFrame, source: str, tz, typical_year: bool,
                   year: int | None) -> tuple[pd.DataFrame, list[str]]:
    """Index in naive UTC, complete hourly axis (missing hours inserted as NaN rows)."""
    notes = []
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise WeatherError(source, "the index must be a DatetimeIndex of hour starts")
    index = frame.index
    if index.tz is None:
        if tz is None:
            raise WeatherError(source, "times have no time zone: pass tz= (e.g. 'UTC' or "
                               "'Etc/GMT-8' for China Standard Time)")
        index = index.tz_localize(tz)
    if typical_year:
        local_year_index = _typical_year(index.tz_localize(None), year, source, notes)
        index = local_year_index.tz_localize(index.tz)
    index = index.tz_convert("UTC").tz_localize(None)
    off_hour = (index.minute != 0) | (index.second != 0)
    if off_hour.any():
        if (index.minute[off_hour] == 30).all():
            notes.append("time labels at hh:30 moved to the hour start")
            index = index.floor("h")
        else:
            raise WeatherError(source, "time labels must be whole hours (hourly data)",
                               row=int(np.argmax(off_hour)) + 1, time=index[off_hour][0])
    if typical_year:
        year = int(local_year_index.year[0])
        index = _wrap_into_year(index, year)
        notes.append(f"typical year placed on {year} and wrapped to a whole UTC year")
    frame = frame.set_axis(index)
    frame = frame.sort_index(kind="stable")
    dup = frame.index.duplicated(keep="first")
    if dup.any():
        first = frame[dup].iloc[0]
        raise WeatherError(source, f"{int(dup.sum())} duplicate hour(s); the file must have one "
                           "record per hour", row=int(first["_row"]), time=frame.index[dup][0])
    if len(frame) < 24:
        raise WeatherError(source, f"only {len(frame)} hours: no usable period")
    full = pd.date_range(frame.index[0], frame.index[-1], freq="h")
    if typical_year:
        full = pd.date_range(pd.Timestamp(year, 1, 1), pd.Timestamp(year + 1, 1, 1),
                             freq="h", inclusive="left")
    if len(full) > 1.5 * len(frame):
        raise WeatherError(source, f"{len(frame)} records spread over {len(full)} hours: not an "
                           "hourly series")
    return frame.reindex(full), notes


def _complete_humidity(frame: pd.DataFrame, notes: list[str]) -> tuple[str, ...]:
    """Derive the missing one of relative_humidity and temp_dew; return the derived names."""
    has_rh, has_dew = "relative_humidity" in frame, "temp_dew" in frame
    if has_dew and not has_rh:
        frame["relative_humidity"] = pvlib.atmosphere.rh_from_tdew(frame["temp_air"],
                                                                   frame["temp_dew"])
        notes.append("relative_humidity derived from temp_air and temp_dew (Magnus, pvlib)")
        return ("relative_humidity",)
    elif has_rh and not has_dew:
        frame["temp_dew"] = pvlib.atmosphere.tdew_from_rh(frame["temp_air"],
                                                          frame["relative_humidity"])
        notes.append("temp_dew derived from temp_air and relative_humidity (Magnus, pvlib)")
        return ("temp_dew",)
    return ()


def from_dataframe(frame: pd.DataFrame, latitude: float, longitude: float, altitude: float, *,
                   name: str = "", tz=None, wind_height_m: float = 10.0, source: str = "dataframe",
                   strict: bool = False, fill_missing: bool = True,
                   typical_year: bool = False, year: int | None = None,
                   attrs: dict | None = None) -> xr.Dataset:
    """Make the twin's weather Dataset from a frame with pvlib column names.

    frame: hourly rows, index the start of each hour (tz-aware, or naive with ``tz=``); columns
    ``ghi dni dhi temp_air pressure wind_speed`` and ``temp_dew`` or ``relative_humidity`` (the
    other is derived), optionally ``albedo pm10 pm2_5 precipitable_water precipitation``. Units as
    in :mod:`twin.variables` (W m-2, degC, %, Pa, m s-1); values in a recognisably wrong unit are
    converted and reported. ``typical_year``: the rows are a typical year, placed on one calendar
    year and wrapped into a whole UTC year. Runs quality control (:mod:`weather.qc`);
    ``strict=True`` refuses any repair; ``fill_missing=False`` leaves missing values (gaps, NaN,
    missing codes) NaN instead of filling them.
    """
    check_site(source, latitude, longitude, altitude)
    frame = frame.copy()
    if "_row" not in frame:
        frame["_row"] = np.arange(1, len(frame) + 1)
    if "atmospheric_pressure" in frame and "pressure" not in frame:
        frame = frame.rename(columns={"atmospheric_pressure": "pressure"})
    notes: list[str] = []
    derived = _complete_humidity(frame, notes) if "temp_air" in frame else ()
    missing = [v for v in WEATHER_REQUIRED if v not in frame]
    if missing:
        raise WeatherError(source, f"required variable(s) missing: {', '.join(missing)} "
                           f"(have: {', '.join(c for c in frame.columns if c != '_row')})",
                           variable=missing[0])
    keep = [v for v in WEATHER_REQUIRED + WEATHER_OPTIONAL if v in frame]
    for v in keep:
        try:
            frame[v] = pd.to_numeric(frame[v], errors="raise").astype(float)
        except (ValueError, TypeError) as err:
            raise WeatherError(source, f"non-numeric value ({err})", variable=v) from None
    for v in WEATHER_OPTIONAL:  # an optional variable that is absent in the source stays absent
        if v in frame and frame[v].isna().all():
            keep.remove(v)
            notes.append(f"{v} dropped: no value in the source")
    frame, time_notes = _to_utc_hourly(frame[keep + ["_row"]], source, tz, typical_year, year)
    notes += time_notes
    frame, report = quality_control(frame, latitude, longitude, altitude, source=source,
                                    strict=strict, derived=derived,
                                    fill_missing=fill_missing)
    keep = [v for v in keep if v in frame]  # QC drops a sparse optional variable
    return build_dataset(frame[keep], latitude, longitude, altitude, name=name,
                         wind_height_m=wind_height_m, source=source, notes=notes,
                         attrs={**(attrs or {}), **report.to_attrs()})


def build_dataset(frame: pd.DataFrame, latitude: float, longitude: float, altitude: float, *,
                  name: str, wind_height_m: float, source: str, notes: list[str],
                  attrs: dict) -> xr.Dataset:
    """The CF Dataset of a clean frame (naive-UTC hourly index, canonical columns)."""
    ds = xr.Dataset({v: ("time", frame[v].to_numpy()) for v in frame.columns},
                    coords={"time": frame.index.to_numpy().astype("datetime64[ns]"),
                            "latitude": float(latitude),
                            "longitude": float(longitude), "altitude": float(altitude)})
    annotate(ds)
    ds["wind_speed"].attrs["height"] = float(wind_height_m)
    ds["time"].attrs.update({"standard_name": "time", "long_name": "start of the hour (UTC)"})
    ds.attrs.update({
        "Conventions": "CF-1.10",
        "title": f"hourly weather{' for ' + name if name else ''}",
        "site": name,
        "source": source,
        "time_convention": "UTC; each label is the start of its hour; irradiance is the hour's "
                           "mean; solar position at the hour's midpoint",
        "history": f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ} desert-twin "
                   f"{__version__}: {'; '.join(notes) or 'read'}",
        "twin_version": __version__,
        **attrs,
    })
    return ds


def file_attrs(path) -> dict:
    """Provenance attributes of a source file: its name and SHA-256."""
    path = Path(path)
    return {"source_file": path.name,
            "source_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
