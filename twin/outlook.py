"""What a scheduler plans against: every catalog site's hourly results on calendar hours.

Every site is simulated once (:func:`twin.simulate`) for a synthetic climate year, which answers
for any calendar date by the typical-year rule of :mod:`twin.timebase` (typical-year mode); where
a weather forecast file is given for a site, that site is simulated on the forecast too, which
answers for the hours it covers (forecast mode). Every answer says which it used.

The service (``api/``), the CLI (``twin slurm``) and notebooks use the same :class:`Outlook`:
jobs checked against the sites and a horizon (:meth:`Outlook.job`), timelines with committed IT
power (:meth:`Outlook.timeline`), window search (:meth:`Outlook.search`) and joint plans
(:meth:`Outlook.plan`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from twin.facility import facility_summary
from twin.schedule import Job, Option, Plan, Timeline, search_windows
from twin.schedule_milp import plan
from twin.simulate import generation_summary, simulate
from twin.storage import balance_summary
from twin.timebase import HOUR, ceil_hour, floor_hour, hours, typical_year_positions

TYPICAL_YEAR, FORECAST = "typical_year", "forecast"
# defaults of the service and the CLI: the climate year mapped onto calendar dates, its seed,
# what available IT power counts besides renewables, and the longest period a request may span
DEFAULT_YEAR, DEFAULT_SEED, DEFAULT_BATTERY_POLICY = 2025, 0, "balance"
DEFAULT_HORIZON_H = 24 * 31
# calendars (first hour, length) whose hours and climate-year positions are kept for reuse:
# requests in the same hour mostly ask for the same few periods
CALENDARS_KEPT = 1024
# (sites, calendar) whose simulated values a timeline takes are kept for reuse: at most
# 15 sites x 744 h x 5 arrays x 8 B = 0.45 MB each
SITE_HOURS_KEPT = 32
# Dataset variable -> Timeline field, for the scheduling timelines on calendar hours
TIMELINE_VARIABLES = {"marginal_pue": "marginal_pue", "pue": "pue",
                      "carbon_intensity": "carbon_intensity_g_per_kwh",
                      "electricity_price": "price_per_kwh"}

# committed IT power [W] (site, hour) of site ids on calendar hours, e.g. reservations
Committed = Callable[[list[str], pd.DatetimeIndex], np.ndarray]


def _show(t: datetime) -> str:
    return f"{t:%Y-%m-%dT%H:%MZ}"


@lru_cache(maxsize=CALENDARS_KEPT)
def calendar_hours(start: datetime, end: datetime) -> pd.DatetimeIndex:
    """:func:`twin.timebase.hours` of [start, end), kept for reuse (an index is immutable)."""
    return hours(start, end)


def within_horizon(start: datetime, end: datetime, horizon_h: int, what: str):
    """ValueError when ``what`` (start..end) spans more than ``horizon_h`` hours."""
    if end - start > timedelta(hours=horizon_h):
        raise ValueError(f"{what} {_show(start)}..{_show(end)} spans more than the horizon of "
                         f"{horizon_h} h")


def time_weighted_means(values: np.ndarray, origin: datetime, starts, ends) -> np.ndarray:
    """Means of an hourly series over periods, each hour weighted by the part of it a period
    covers: ``values`` ``(..., hour)``, hour k covering [origin + k h, origin + (k + 1) h);
    ``starts`` and ``ends`` the periods' bounds (datetimes, any minute or second), each within
    the series and ending after it starts. Returns ``(..., period)``.

    The integral of the step function to each bound, differenced: a period of whole zero
    hours (fully renewable) averages to exactly 0."""
    def position_h(times) -> np.ndarray:  # hours after the origin; naive times are UTC
        return np.asarray((pd.to_datetime(times, utc=True) - pd.to_datetime(origin, utc=True))
                          / pd.Timedelta(hours=1), dtype=float)

    a, b = position_h(starts), position_h(ends)
    n = values.shape[-1]
    if not (np.all(a >= 0) and np.all(b <= n) and np.all(b > a)):
        raise ValueError(f"periods must lie within the {n} hours from {_show(origin)} and end "
                         "after they start")
    cumulative = np.concatenate([np.zeros(values.shape[:-1] + (1,)),
                                 np.cumsum(values, axis=-1)], axis=-1)

    def integral(t):  # [value x h] from the origin to t
        k = np.minimum(np.floor(t).astype(int), n - 1)
        return cumulative[..., k] + (t - k) * values[..., k]

    return (integral(b) - integral(a)) / (b - a)


class Outlook:
    """Every catalog site's hourly results for one climate year (:func:`twin.simulate`), on
    calendar hours, and forecasts where given."""

    def __init__(self, year: int = DEFAULT_YEAR, seed: int = DEFAULT_SEED,
                 battery_policy: str = DEFAULT_BATTERY_POLICY, sites_dir=None,
                 forecast_dir=None):
        from sites import load_catalog

        self.catalog = load_catalog(sites_dir)
        self.ds = simulate(None, list(self.catalog.values()), year=year, seed=seed,
                           battery_policy=battery_policy)
        self.year, self.battery_policy = year, battery_policy
        self.currency = self.ds["grid_cost"].attrs["currency"]
        self._configuration = json.loads(self.ds.attrs["site_configuration"])
        self.summary = facility_summary(self.ds).join(
            balance_summary(self.ds).drop(columns="name")).join(
            generation_summary(self.ds).drop(columns="name"))
        # answers read numpy arrays, not the Dataset: a request costs microseconds, not xarray's
        # milliseconds of indexing
        self._arrays = {v: self.ds[v].values for v in self.ds.data_vars
                        if self.ds[v].dims == ("site", "time")}
        self._rows = {s: i for i, s in enumerate(self.ds["site"].values)}
        self._capacity = np.array([self.catalog[s].it.capacity_w for s in self._rows])
        self.climate_hours = typical_year_positions(pd.DatetimeIndex(self.ds["time"].values))
        self._climate_positions = lru_cache(maxsize=CALENDARS_KEPT)(
            lambda first, n: _read_only(self.climate_hours(calendar_hours(first,
                                                                          first + n * HOUR))))
        # a timeline's simulated values of (sites, first hour, hours), kept for reuse
        self._site_hours = lru_cache(maxsize=SITE_HOURS_KEPT)(
            lambda sites, first, n: self._site_hours_of(list(sites),
                                                        calendar_hours(first, first + n * HOUR)))
        _check_timeline(list(self._rows), pd.DatetimeIndex(self.ds["time"].values),
                        self._capacity, self._arrays, self.currency)
        self.forecasts = {} if forecast_dir is None else self._forecasts(Path(forecast_dir))

    def _forecasts(self, folder: Path) -> dict[str, tuple[pd.DatetimeIndex, dict]]:
        """Each ``SITE.nc`` in ``folder`` (ERA5-style NetCDF, weather.read) simulated: the
        site's forecast hours and its ``(time,)`` arrays."""
        import weather

        if not folder.is_dir():
            raise ValueError(f"forecast directory {folder} does not exist")
        out = {}
        for path in sorted(folder.glob("*.nc")):
            site = self.catalog.get(path.stem)
            if site is None:
                raise ValueError(f"forecast file {path}: no catalog site {path.stem!r} (name "
                                 f"files SITE.nc; sites: {', '.join(self.catalog)})")
            wx = weather.read(path, latitude=site.latitude, longitude=site.longitude,
                              altitude=site.altitude_m)
            ds = simulate(wx, site, battery_policy=self.battery_policy).isel(site=0)
            times = pd.DatetimeIndex(ds["time"].values).tz_localize(UTC)
            arrays = {v: ds[v].values for v in self._arrays}
            _check_timeline([site.id], times, self._capacity[[self._rows[site.id]]],
                            {v: a[None] for v, a in arrays.items()}, self.currency)
            out[site.id] = (times, arrays)
        return out

    def known_sites(self, ids: list[str] | None) -> list[str]:
        """``ids`` without repeats (every site when None); ValueError naming unknown ones."""
        if ids is None:
            return list(self.catalog)
        if not ids:
            raise ValueError("sites is empty: leave it out to allow every site")
        unknown = [s for s in ids if s not in self.catalog]
        if unknown:
            raise ValueError(f"unknown site(s) {', '.join(unknown)}; known: "
                             f"{', '.join(self.catalog)}")
        return list(dict.fromkeys(ids))

    def mode(self, site_ids: list[str], calendar: pd.DatetimeIndex) -> str:
        """Which data answer for these sites and hours: typical_year, forecast, or both."""
        covered = [self.forecasts[s][0].get_indexer(calendar) >= 0 for s in site_ids
                   if s in self.forecasts]
        hits = sum(int(c.sum()) for c in covered)
        if hits == 0:
            return TYPICAL_YEAR
        return FORECAST if hits == len(site_ids) * len(calendar) else f"{FORECAST}+{TYPICAL_YEAR}"

    def climate_positions(self, calendar: pd.DatetimeIndex) -> np.ndarray:
        """Positions of calendar hours in the climate year (:attr:`climate_hours`); those of
        consecutive UTC hours (an index with an hourly ``freq``, as :func:`calendar_hours`
        gives) are kept for reuse, read-only."""
        if len(calendar) and calendar.freq == HOUR and str(calendar.tz) == "UTC":
            return self._climate_positions(calendar[0], len(calendar))
        return self.climate_hours(calendar)

    def values(self, variable: str, site_ids: list[str], calendar: pd.DatetimeIndex):
        """``(site, hour)`` values of a Dataset variable on calendar hours."""
        rows = [self._rows[s] for s in site_ids]
        out = self._arrays[variable][np.ix_(rows, self.climate_positions(calendar))]
        for i, s in enumerate(site_ids):
            if s in self.forecasts:
                times, arrays = self.forecasts[s]
                position = times.get_indexer(calendar)
                hit = position >= 0
                out[i, hit] = arrays[variable][position[hit]]
        return out

    def electricity_carbon_intensity(self, site_ids: list[str], calendar: pd.DatetimeIndex):
        """Carbon intensity [g CO2 kWh-1] ``(site, hour)`` of the electricity a site uses: the
        grid's share of the facility's supply (on-site renewables and battery counted as zero
        carbon) times the grid's intensity."""
        with np.errstate(invalid="ignore", divide="ignore"):
            share = self.values("grid_import", site_ids, calendar) / self.values(
                "facility_power", site_ids, calendar)
        return np.nan_to_num(share) * self.values("carbon_intensity", site_ids, calendar)

    def mean_electricity_carbon_intensity(self, site_ids: list[str], starts, ends):
        """Time-weighted means [g CO2 kWh-1] ``(site, period)`` of
        :meth:`electricity_carbon_intensity` over periods [starts[j], ends[j]] (datetimes, any
        minute): each hour counts for the part of it a period covers
        (:func:`time_weighted_means`)."""
        first = pd.to_datetime(starts, utc=True).min().floor("h")
        calendar = calendar_hours(first, ceil_hour(pd.to_datetime(ends, utc=True).max()))
        values = self.electricity_carbon_intensity(site_ids, calendar)
        return time_weighted_means(values, first, starts, ends)

    def timeline(self, site_ids: list[str], calendar: pd.DatetimeIndex,
                 it_committed_w: np.ndarray | None = None) -> Timeline:
        """The scheduling timeline of ``site_ids`` on calendar hours, with ``it_committed_w``
        ``(site, hour)`` [W] of IT power committed (none when None)."""
        consecutive = len(calendar) > 0 and calendar.freq == HOUR and str(calendar.tz) == "UTC" \
            and len(set(site_ids)) == len(site_ids) and len(site_ids) > 0
        if consecutive:
            capacity, available, fields = self._site_hours(tuple(site_ids), calendar[0],
                                                           len(calendar))
        else:
            capacity, available, fields = self._site_hours_of(site_ids, calendar)
        if it_committed_w is None:
            committed = np.zeros_like(available)
        else:
            committed = np.array(it_committed_w, dtype=float)
            if committed.shape != available.shape or not (np.isfinite(committed)
                                                          & (committed >= 0)).all():
                raise ValueError(f"committed IT power must be finite powers >= 0 [W] of shape "
                                 f"(sites, hours) = {available.shape}")
        if not consecutive:
            # not the consecutive UTC hours of distinct sites unchecked() needs: checked
            return Timeline(site_ids=tuple(site_ids), time=calendar, it_capacity_w=capacity,
                            it_headroom_w=available, it_committed_w=np.zeros_like(available),
                            currency=self.currency, **fields).with_committed(committed)
        # the headroom after the committed power, as Timeline.with_committed takes it off
        return Timeline.unchecked(
            site_ids=tuple(site_ids), time=calendar, it_capacity_w=capacity,
            it_headroom_w=np.maximum(available - committed, 0.0), it_committed_w=committed,
            currency=self.currency, **fields)

    def _site_hours_of(self, site_ids: list[str], calendar: pd.DatetimeIndex):
        """What a timeline of these sites and hours takes from the simulation: the sites' IT
        capacity ``(S,)``, the IT power available ``(S, T)`` (at most the capacity) and the
        other Timeline fields; read-only."""
        capacity = self._capacity[[self._rows[s] for s in site_ids]]
        # every value was checked as a Timeline's at start-up (_check_timeline): what is left
        # per request is the committed power, checked as Timeline.with_committed does
        available = np.minimum(self.values("it_available_power", site_ids, calendar),
                               capacity[:, None])
        fields = {f: self.values(v, site_ids, calendar) for v, f in TIMELINE_VARIABLES.items()}
        for a in (capacity, available, *fields.values()):
            a.setflags(write=False)
        return capacity, available, fields

    def job(self, *, it_power_w: float, duration_h: int, deadline: datetime, now: datetime,
            earliest_start: datetime | None = None, sites: list[str] | None = None,
            interruptible: bool = False, name: str = "",
            horizon_h: int = DEFAULT_HORIZON_H) -> Job:
        """A job from ``earliest_start`` (not before ``now``; the next whole minute: a rigid job
        may start inside an hour) to ``deadline`` at the allowed ``sites`` (all when None);
        ValueError for unknown sites, a window past the horizon or a job that is not one."""
        earliest = pd.Timestamp(max(earliest_start or now, now))
        # the next whole minute (as Timestamp.ceil("min"), in a fifth of its time)
        minute = earliest.replace(second=0, microsecond=0, nanosecond=0)
        earliest = minute if minute == earliest else minute + timedelta(minutes=1)
        within_horizon(earliest, deadline, horizon_h, "the job's window")
        return Job(it_power_w=it_power_w, duration_h=duration_h,
                   earliest_start=pd.Timestamp(earliest), deadline=pd.Timestamp(deadline),
                   sites=tuple(self.known_sites(sites)), interruptible=interruptible, name=name)

    def search_hours(self, job: Job) -> pd.DatetimeIndex:
        """The calendar hours :meth:`search` places ``job`` in (those of committed power)."""
        return calendar_hours(floor_hour(job.earliest_start), ceil_hour(job.deadline))

    def search(self, job: Job, objective: str = "grid_energy", limit: int = 10,
               committed: Committed | None = None) -> tuple[list[Option], str]:
        """Ranked options of one job (:func:`twin.schedule.search_windows`) against the
        committed IT power, and the data mode that answered."""
        sites, calendar = list(job.sites), self.search_hours(job)
        held = None if committed is None else committed(sites, calendar)
        options = search_windows(self.timeline(sites, calendar, held), job, objective,
                                 limit=limit)
        return options, self.mode(sites, calendar)

    def plan(self, jobs: list[Job], objective: str = "grid_energy", time_limit_s: float = 10.0,
             committed: Committed | None = None,
             horizon_h: int = DEFAULT_HORIZON_H) -> tuple[Plan, str]:
        """The jobs placed jointly (:func:`twin.schedule_milp.plan`) over the sites they may
        use, against the committed IT power, and the data mode that answered; ValueError when
        they span more than the horizon."""
        sites = [s for s in self.catalog if any(s in j.sites for j in jobs)]
        start = min(j.earliest_start for j in jobs).ceil("h")  # plans run whole hours
        end = ceil_hour(max(j.deadline for j in jobs))
        within_horizon(start, end, horizon_h, "the jobs")
        calendar = calendar_hours(start, end)
        held = None if committed is None else committed(sites, calendar)
        result = plan(self.timeline(sites, calendar, held), jobs, objective, time_limit_s)
        return result, self.mode(sites, calendar)

    def site_summary(self, site_id: str) -> dict:
        """The site's annual figures (floats, ints and names), units in the keys; None where a
        figure is undefined (the wind capacity factor of a site without wind turbines)."""
        row = self.summary.loc[site_id]
        values = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        return {k: None if isinstance(v, float) and not np.isfinite(v) else v
                for k, v in values.items()}

    def configuration(self, site_id: str) -> dict:
        return self._configuration[site_id]


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _check_timeline(site_ids: list[str], time: pd.DatetimeIndex, capacity: np.ndarray,
                    arrays: dict[str, np.ndarray], currency: str) -> None:
    """ValueError unless the ``(site, time)`` arrays of these sites make a Timeline (every
    value finite, PUE > 0, powers, intensities and prices >= 0): checked once, so that
    :meth:`Outlook.timeline` need not check the hours it takes from them."""
    Timeline(site_ids=tuple(site_ids), time=time, it_capacity_w=capacity,
             it_headroom_w=arrays["it_available_power"],
             it_committed_w=np.zeros_like(arrays["it_available_power"]), currency=currency,
             **{f: arrays[v] for v, f in TIMELINE_VARIABLES.items()})
