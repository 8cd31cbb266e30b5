"""The twin's clocks: UTC hours, China Standard Time, and the typical year on calendar dates.

Every time inside the twin is UTC, each hourly label the start of its hour (DESIGN.md). China
keeps UTC+8 all year, with no daylight saving; hourly profiles given "by hour of day" (server
utilisation, tariffs, grid carbon intensity) are read in China Standard Time.

The leap-day rule, one for the whole twin: a typical (climate) year has 365 days, no
29 February. A calendar year is put onto it by dropping 29 February (:func:`without_leap_day`);
a calendar hour takes the typical year's hour with the same month, day and time, and on
29 February that of 28 February (:func:`typical_year_positions`).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

CST_OFFSET_H = 8  # China Standard Time = UTC+8 all year, no daylight saving
CST_OFFSET = pd.Timedelta(hours=CST_OFFSET_H)
HOURS_PER_DAY = 24
HOUR = pd.Timedelta(hours=1)  # a datetime.timedelta too


def utc(t: datetime) -> datetime:
    """A timestamp as an aware UTC datetime (naive ones are taken as UTC)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def floor_hour(t: datetime) -> datetime:
    """The whole UTC hour ``t`` is in (as ``Timestamp.floor("h")``, in a quarter of its
    time: a service does this per request)."""
    t = utc(t)
    if isinstance(t, pd.Timestamp):
        return t.replace(minute=0, second=0, microsecond=0, nanosecond=0)
    return t.replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: datetime) -> datetime:
    """The first whole UTC hour at or after ``t``."""
    t = utc(t)
    floor = floor_hour(t)
    return floor if floor == t else floor + HOUR


def hours(start: datetime, end: datetime) -> pd.DatetimeIndex:
    """The UTC hour starts of [start, end)."""
    return pd.date_range(start, end, freq="h", inclusive="left", tz=UTC)


def china_hour_of_day(time) -> np.ndarray:
    """Hour of day (0-23) in China Standard Time (UTC+8) of the UTC hour starts ``time``
    (naive timestamps are taken as UTC, aware ones are converted)."""
    time = pd.DatetimeIndex(time)
    if time.tz is not None:
        time = time.tz_convert("UTC")
    return (time.hour.to_numpy() + CST_OFFSET_H) % HOURS_PER_DAY


def without_leap_day(time: pd.DatetimeIndex) -> np.ndarray:
    """Mask of the hours that stay when a calendar year is put onto the typical year."""
    return ~np.asarray((time.month == 2) & (time.day == 29))


def typical_year_positions(climate: pd.DatetimeIndex):
    """A function mapping calendar hours to positions in ``climate`` (the hours of one typical
    year): same month, day and hour; 29 February reads 28 February."""
    position = np.full((13, 32, 24), -1)  # [month, day, hour] -> climate-year hour
    position[climate.month, climate.day, climate.hour] = np.arange(len(climate))
    position[2, 29] = position[2, 28]

    def positions(calendar: pd.DatetimeIndex) -> np.ndarray:
        return position[calendar.month, calendar.day, calendar.hour]

    return positions
