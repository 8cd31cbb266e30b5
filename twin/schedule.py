"""Placing compute jobs on sites and hours against the twin's availability.

A :class:`Timeline` holds what :func:`twin.simulate` gives a scheduler for each site-hour: the IT
capacity and the IT power already committed, the headroom (IT power renewables can still carry
after that hour's cooling and losses), the marginal PUE ``b`` of the linear form facility power
~= a + b IT power (:func:`twin.facility.linear_form`), the grid's carbon intensity and price.
Hours are whole UTC hours, each labelled by its start.

A :class:`Job` runs at a constant IT power P [W] for ``duration_h`` hours inside
[earliest start, deadline] at one of its allowed sites: a rigid job those hours back to back, an
interruptible one (checkpoint and resume) any ``duration_h`` whole hours. A rigid job starts at
a whole hour or, when its earliest start is inside an hour (a job that can start now), at that
instant: it then runs part of that hour, ``duration_h - 1`` whole hours and part of the next,
needs room in each of those ``duration_h + 1`` hours and is accounted for the part it runs of
each. One hour of the job at a site-hour with headroom H and marginal PUE b
(:func:`hourly_accounting`):

- facility power the job adds: b P (the intercept a is drawn whether the job runs or not);
- IT power renewables still carry: min(P, H); the rest needs grid power b max(P - H, 0);
- emissions: grid energy [kWh] x carbon intensity [g kWh-1]; cost: grid energy [kWh] x price;
- the job fits the hour when committed + P <= capacity.

A placement's renewable fraction is 1 - grid energy / facility energy of the job, its mean PUE
the job's facility energy over its IT energy.

:func:`search_windows` ranks the placements of one job, vectorised over start hours with
cumulative sums. Many jobs are placed jointly, as a mixed-integer linear program solved by
HiGHS, by :func:`twin.schedule_milp.plan` (its module docstring describes the program).
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import NamedTuple

import numpy as np
import pandas as pd

from twin.arrays import first_bad
from twin.timebase import HOUR, ceil_hour, floor_hour
from twin.variables import W_PER_MW

# objective -> the per-hour metric of hourly_accounting it minimises
OBJECTIVE_METRIC = {"grid_energy": "grid_wh", "carbon": "emissions_kg", "cost": "cost"}
OBJECTIVES = tuple(OBJECTIVE_METRIC)
# slack on capacity checks [W]: rounding in sums of job powers, far below any real IT load
CAPACITY_TOLERANCE_W = 1e-3
HOUR_NS = HOUR.value  # [ns]
# (first hour, length) of timelines whose hour starts are kept as Timestamps for reuse
HOUR_STARTS_KEPT = 256
SITE_HOUR_FIELDS = ("it_headroom_w", "it_committed_w", "marginal_pue", "pue",
                    "carbon_intensity_g_per_kwh", "price_per_kwh")
# Dataset variable of twin.simulate -> Timeline field
DATASET_VARIABLES = {"it_headroom": "it_headroom_w", "it_committed_power": "it_committed_w",
                     "marginal_pue": "marginal_pue", "pue": "pue",
                     "carbon_intensity": "carbon_intensity_g_per_kwh",
                     "electricity_price": "price_per_kwh"}


class JobDoesNotFit(ValueError):
    """A job has no placement: the reason says what is short (capacity, window, horizon)."""


def _utc(t, what: str) -> pd.Timestamp:
    """``t`` as a UTC timestamp; naive times are UTC (the twin's convention)."""
    ts = pd.Timestamp(t)
    if ts is pd.NaT:
        raise ValueError(f"{what} is missing (NaT)")
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def _show_time(t: pd.Timestamp) -> str:
    return f"{t:%Y-%m-%d %H:%M} UTC"


def _show_mw(watts: float) -> str:
    return f"{watts / W_PER_MW:.4g} MW"


@dataclass(frozen=True, eq=False)
class Timeline:
    """What a scheduler needs per site-hour: ``(S,)`` capacities and ``(S, T)`` arrays [W, 1,
    g kWh-1, currency kWh-1] on hourly UTC ``time`` (naive times are taken as UTC). The arrays
    are copied and made read-only; NaN, negative or misshapen values raise ``ValueError``.

    What fits, one definition for window search, plans, reservations and the headroom the
    service advertises: committed + P <= capacity. The headroom (IT power renewables can still
    carry) is therefore never more than the free capacity, capacity - committed: a larger value
    given is taken down to it."""

    site_ids: tuple[str, ...]
    time: pd.DatetimeIndex
    it_capacity_w: np.ndarray
    it_headroom_w: np.ndarray
    it_committed_w: np.ndarray
    marginal_pue: np.ndarray
    pue: np.ndarray
    carbon_intensity_g_per_kwh: np.ndarray
    price_per_kwh: np.ndarray
    currency: str

    def __post_init__(self):
        ids = tuple(str(s) for s in self.site_ids)
        time = pd.DatetimeIndex(self.time)
        time = time.tz_localize("UTC") if time.tz is None else time.tz_convert("UTC")
        if not ids or time.size == 0:
            raise ValueError("a Timeline needs at least one site and one hour")
        if len(set(ids)) != len(ids):
            raise ValueError(f"a site is given twice in the Timeline: {', '.join(ids)}")
        if not (time == time.floor("h")).all() or not ((time[1:] - time[:-1]) == HOUR).all():
            raise ValueError("Timeline.time must be consecutive whole UTC hours (hour starts)")
        capacity = np.array(self.it_capacity_w, dtype=float)
        if capacity.shape != (len(ids),) or not (capacity > 0).all() \
                or not np.isfinite(capacity).all():
            raise ValueError(f"Timeline.it_capacity_w must be {len(ids)} IT capacities > 0 [W], "
                             f"one per site; got {capacity!r}")
        arrays = {"it_capacity_w": capacity}
        for name in SITE_HOUR_FIELDS:
            a = np.array(getattr(self, name), dtype=float)
            if a.shape != (len(ids), time.size):
                raise ValueError(f"Timeline.{name} has shape {a.shape}; expected (sites, hours) "
                                 f"= ({len(ids)}, {time.size})")
            positive = name in ("marginal_pue", "pue")
            bad = ~np.isfinite(a) | ((a <= 0) if positive else (a < 0))
            if bad.any():
                i, t = first_bad(bad)
                raise ValueError(f"Timeline.{name} is {a[i, t]} at site {ids[i]}, "
                                 f"{_show_time(time[t])}; it must be finite and "
                                 f"{'> 0' if positive else '>= 0'}")
            arrays[name] = a
        free = np.maximum(capacity[:, None] - arrays["it_committed_w"], 0.0)
        arrays["it_headroom_w"] = np.minimum(arrays["it_headroom_w"], free)
        for name, a in arrays.items():
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        object.__setattr__(self, "site_ids", ids)
        object.__setattr__(self, "time", time)

    @classmethod
    def unchecked(cls, **fields) -> Timeline:
        """A Timeline of fields that already meet every check of the constructor (e.g. hours
        taken from the arrays of a checked Timeline, on consecutive whole UTC hours of a UTC
        ``time``, the headroom already at most the free capacity), built without checking
        them again: what a service does per request. The caller answers for them; its arrays
        are made read-only, not copied."""
        names = {f.name for f in dataclasses.fields(cls)}
        if set(fields) != names:
            raise TypeError(f"Timeline.unchecked needs exactly the fields {sorted(names)}")
        timeline = object.__new__(cls)
        for name, value in fields.items():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            object.__setattr__(timeline, name, value)
        return timeline

    @cached_property
    def hour_starts(self) -> tuple[pd.Timestamp, ...]:
        """``time`` as Timestamps, kept: options read them one at a time (and a timeline's
        consecutive hours are those of every other timeline with the same first hour and
        length: kept across timelines, a service builds one per request)."""
        return _hour_starts(self.time[0], self.time.size)

    @classmethod
    def from_dataset(cls, ds, capacity_w=None, it_committed_w=None) -> Timeline:
        """The Timeline of a :func:`twin.simulate` Dataset (all steps run). ``capacity_w``
        ``(S,)`` [W] replaces the sites' configured IT capacity (attribute
        ``site_configuration``); ``it_committed_w`` ``(S, T)`` [W] is IT power committed besides
        the Dataset's (e.g. reservations): see :meth:`with_committed`."""
        missing = [v for v in DATASET_VARIABLES if v not in ds]
        if missing:
            raise ValueError(f"the Dataset lacks {', '.join(missing)}: simulate all steps "
                             "(until='availability') to schedule on it")
        ids = tuple(str(s) for s in ds["site"].values)
        if capacity_w is None:
            if "site_configuration" not in ds.attrs:
                raise ValueError("the Dataset has no site_configuration attribute to take the "
                                 "IT capacities from: give capacity_w")
            config = json.loads(ds.attrs["site_configuration"])
            capacity_w = [config[s]["it"]["capacity_w"] for s in ids]
        fields = {f: ds[v].transpose("site", "time").values for v, f in DATASET_VARIABLES.items()}
        timeline = cls(site_ids=ids, time=pd.DatetimeIndex(ds["time"].values),
                       it_capacity_w=capacity_w,
                       currency=str(ds["electricity_price"].attrs.get("currency", "")), **fields)
        return timeline if it_committed_w is None else timeline.with_committed(it_committed_w)

    def with_committed(self, extra_w) -> Timeline:
        """This Timeline with ``extra_w`` ``(S, T)`` [W] more IT power committed: added to the
        committed power and taken off the headroom (never below 0)."""
        extra = np.asarray(extra_w, dtype=float)
        if extra.shape != self.it_committed_w.shape or not (np.isfinite(extra)
                                                            & (extra >= 0)).all():
            raise ValueError(f"committed IT power must be finite powers >= 0 [W] of shape "
                             f"(sites, hours) = {self.it_committed_w.shape}")
        return dataclasses.replace(self, it_committed_w=self.it_committed_w + extra,
                                   it_headroom_w=np.maximum(self.it_headroom_w - extra, 0.0))

    def select(self, sites=None, start=None, end=None) -> Timeline:
        """The sites ``sites`` (ids, default all) and the hours in [start, end) (default all)."""
        rows = np.arange(len(self.site_ids)) if sites is None else _site_rows(self, sites)
        keep = np.ones(self.time.size, dtype=bool)
        if start is not None:
            keep &= self.time >= _utc(start, "start")
        if end is not None:
            keep &= self.time < _utc(end, "end")
        if not keep.any():
            raise ValueError(f"no hour of the Timeline ({_show_time(self.time[0])} to "
                             f"{_show_time(self.time[-1] + HOUR)}) is in [{start}, {end})")
        cells = np.ix_(rows, keep)
        return dataclasses.replace(self, site_ids=tuple(self.site_ids[i] for i in rows),
                                   time=self.time[keep], it_capacity_w=self.it_capacity_w[rows],
                                   **{f: getattr(self, f)[cells] for f in SITE_HOUR_FIELDS})


@dataclass(frozen=True)
class Job:
    """A job of constant IT power [W] for ``duration_h`` whole hours, to start at or after
    ``earliest_start`` and end by ``deadline`` (UTC; naive times are UTC), at one of ``sites``
    (None: any). Interruptible jobs may pause and resume between hours."""

    it_power_w: float
    duration_h: int
    earliest_start: pd.Timestamp
    deadline: pd.Timestamp
    sites: tuple[str, ...] | None = None
    interruptible: bool = False
    name: str = ""

    def __post_init__(self):
        label = _label(self)
        power = float(self.it_power_w)
        if not (np.isfinite(power) and power > 0):
            raise ValueError(f"{label}: it_power_w must be a power > 0 [W]; got {self.it_power_w}")
        if isinstance(self.duration_h, bool) or not isinstance(self.duration_h, numbers.Integral) \
                or self.duration_h < 1:
            raise ValueError(f"{label}: duration_h must be a whole number of hours >= 1; got "
                             f"{self.duration_h!r}")
        start = _utc(self.earliest_start, f"{label}: earliest_start")
        deadline = _utc(self.deadline, f"{label}: deadline")
        if deadline <= start:
            raise ValueError(f"{label}: the deadline {_show_time(deadline)} is not after the "
                             f"earliest start {_show_time(start)}")
        # a rigid job may start inside an hour (module docstring); an interruptible one runs
        # whole hours
        room = (floor_hour(deadline) - ceil_hour(start)) / HOUR if self.interruptible \
            else (deadline - start) / HOUR
        if self.duration_h > room:
            raise JobDoesNotFit(
                f"{label}: the deadline is too close: {self.duration_h} h do not fit between "
                f"{_show_time(start)} and the deadline {_show_time(deadline)} "
                f"({max(room, 0):.4g} {'whole hours' if self.interruptible else 'h'})")
        sites = None if self.sites is None else tuple(str(s) for s in self.sites)
        if sites is not None and not sites:
            raise ValueError(f"{label}: sites is empty; give None to allow every site")
        object.__setattr__(self, "it_power_w", power)
        object.__setattr__(self, "duration_h", int(self.duration_h))
        object.__setattr__(self, "earliest_start", start)
        object.__setattr__(self, "deadline", deadline)
        object.__setattr__(self, "sites", sites)
        object.__setattr__(self, "interruptible", bool(self.interruptible))


def _label(job: Job) -> str:
    return f"job {job.name!r}" if job.name else "the job"


@dataclass(frozen=True)
class Option:
    """One placement of a job: its site, ``start`` and ``end`` of the run, the ``hours`` it
    runs in, whole or in part (hour starts, UTC), and their metrics [Wh, kg CO2, currency];
    ``run_now`` marks the placement running back to back from the earliest start."""

    site: str
    start: pd.Timestamp
    end: pd.Timestamp
    hours: tuple[pd.Timestamp, ...]
    renewable_fraction: float
    grid_energy_wh: float
    emissions_kg: float
    cost: float
    mean_pue: float
    run_now: bool

    def holds(self, it_power_w: float) -> list[Hold]:
        """What to reserve to run the option at ``it_power_w`` [W]: the hours it runs in, whole
        or in part, as blocks of consecutive whole hours."""
        return _blocks((self.site, t, it_power_w) for t in self.hours)


@dataclass(frozen=True)
class Assignment:
    """Where and when a plan runs ``job``: ``runs`` are (site, hour start, fraction of the hour
    at the job's power) in time order; ``sites`` the sites used, in order of first use; ``start``
    the first hour run and ``end`` the end of the last."""

    job: Job
    sites: tuple[str, ...]
    start: pd.Timestamp
    end: pd.Timestamp
    runs: tuple[tuple[str, pd.Timestamp, float], ...]

    def holds(self) -> list[Hold]:
        """The runs as blocks of constant IT power [W] over consecutive hours at one site, in
        time order per site: what to reserve to run the job as planned."""
        return _blocks((site, t, self.job.it_power_w * fraction)
                       for site, t, fraction in sorted(self.runs))


class Hold(NamedTuple):
    """IT power [W] to hold at ``site`` over the whole UTC hours [start, end)."""

    site: str
    start: pd.Timestamp
    end: pd.Timestamp
    it_power_w: float


@lru_cache(maxsize=HOUR_STARTS_KEPT)
def _hour_starts(first: pd.Timestamp, n: int) -> tuple[pd.Timestamp, ...]:
    """The ``n`` UTC hour starts from ``first``, as Timestamps (immutable: kept for reuse)."""
    return tuple(pd.date_range(first, periods=n, freq="h"))


def _blocks(runs) -> list[Hold]:
    """Hours run (site, hour start, IT power [W]), in time order per site, joined into blocks
    of consecutive hours at one site and power."""
    blocks: list[Hold] = []
    site0 = power0 = first = last = None  # the block being extended
    for site, t, power in runs:
        t = pd.Timestamp(t)
        if site == site0 and power == power0 and t.value - last.value == HOUR_NS:
            last = t
            continue
        if first is not None:
            blocks.append(Hold(site0, first, last + HOUR, power0))
        site0, power0, first, last = site, power, t, t
    if first is not None:
        blocks.append(Hold(site0, first, last + HOUR, power0))
    return blocks


@dataclass(frozen=True, eq=False)
class Plan:
    """Jobs placed together: ``assignments`` in the order of the jobs, the plan's IT power per
    site-hour ``it_power_w`` ``(S, T)`` [W] and its totals over all jobs (grid energy [Wh],
    emissions [kg], cost [currency]; ``objective_value`` is the objective's one). ``method`` is
    ``milp`` or ``greedy``; ``status`` the solver's outcome (``optimal``, ``time_limit``,
    ``infeasible`` ...); ``mip_gap`` its relative gap (NaN for a greedy plan); ``solve_seconds``
    the solver's (or the greedy placement's) wall time."""

    assignments: tuple[Assignment, ...]
    it_power_w: np.ndarray
    objective: str
    objective_value: float
    grid_energy_wh: float
    emissions_kg: float
    cost: float
    status: str
    mip_gap: float
    solve_seconds: float
    method: str


def _check_objective(objective: str) -> str:
    if objective not in OBJECTIVE_METRIC:
        raise ValueError(f"unknown objective {objective!r}; known: {', '.join(OBJECTIVES)}")
    return OBJECTIVE_METRIC[objective]


def _grid_weights(timeline: Timeline) -> dict[str, np.ndarray]:
    """Each metric per Wh of grid energy ``(S, T)``: 1 Wh, kg CO2 (g kWh-1 / 1e6), currency."""
    return {"grid_wh": np.ones_like(timeline.marginal_pue),
            "emissions_kg": timeline.carbon_intensity_g_per_kwh / 1e6,
            "cost": timeline.price_per_kwh / 1e3}


def hourly_accounting(timeline: Timeline, it_power_w) -> dict[str, np.ndarray]:
    """One hour of IT power ``it_power_w`` [W] (a job's, or a plan's total ``(S, T)``) added at
    every site-hour ``(S, T)``: ``facility_wh`` = b P, ``grid_wh`` = b max(P - headroom, 0),
    ``emissions_kg`` and ``cost`` of that grid energy (b: marginal PUE; module docstring)."""
    it = np.broadcast_to(np.asarray(it_power_w, dtype=float), timeline.marginal_pue.shape)
    grid = timeline.marginal_pue * np.maximum(it - timeline.it_headroom_w, 0.0)
    weights = _grid_weights(timeline)
    return {"facility_wh": timeline.marginal_pue * it,
            **{metric: grid * w for metric, w in weights.items()}}


def _free_w(timeline: Timeline) -> np.ndarray:
    """IT power [W] not committed ``(S, T)`` (negative where over-committed)."""
    return timeline.it_capacity_w[:, None] - timeline.it_committed_w


def _site_rows(timeline: Timeline, sites) -> np.ndarray:
    index = {s: i for i, s in enumerate(timeline.site_ids)}
    unknown = [s for s in sites if s not in index]
    if unknown:
        raise ValueError(f"unknown site(s) {', '.join(map(str, unknown))}; the timeline has "
                         f"{', '.join(timeline.site_ids)}")
    return np.array([index[s] for s in sites], dtype=int)


def _window_sums(a: np.ndarray, length: int) -> np.ndarray:
    """Sums of ``a`` ``(S, n)`` over every ``length`` consecutive hours ``(S, n - length + 1)``."""
    c = np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(a, axis=1)], axis=1)
    return c[:, length:] - c[:, :-length]


class _PartialStart(NamedTuple):
    """A rigid job started inside an hour (module docstring): the timeline index ``k`` of that
    hour, the part of each of the ``duration_h + 1`` hours from it the job runs ``(d + 1,)``,
    and per allowed site the least IT power free in them ``(S',)`` [W]."""

    k: int
    weights: np.ndarray
    free: np.ndarray


def _partial_start(timeline: Timeline, job: Job, rows: np.ndarray) -> _PartialStart | None:
    """The job's start inside an hour at its earliest start; None when the job is interruptible,
    starts on the hour or runs in hours the timeline does not have."""
    t0, d = job.earliest_start, job.duration_h
    hour = floor_hour(t0)
    if job.interruptible or t0 == hour:
        return None
    k = timeline.time.searchsorted(hour)
    if k >= timeline.time.size or timeline.time[k] != hour \
            or k + d + 1 > timeline.time.size:
        return None
    weights = np.ones(d + 1)
    weights[0] = (ceil_hour(t0) - t0) / HOUR
    weights[-1] = 1.0 - weights[0]
    return _PartialStart(k, weights, _free_w(timeline)[rows, k:k + d + 1].min(axis=1))


def _placements(timeline: Timeline, job: Job):
    """Where ``job`` can go: its allowed site rows ``(S',)``, the timeline index ``a`` of the
    first whole hour of its window, which of its whole hours fit ``(S', n)``, which placements
    on whole hours fit (windows by start ``(S', n - duration_h + 1)`` for a rigid job, hours
    ``(S', n)`` at sites with at least ``duration_h`` of them for an interruptible one) and the
    start inside an hour (:func:`_partial_start`). JobDoesNotFit when nothing fits."""
    rows = np.arange(len(timeline.site_ids)) if job.sites is None else \
        _site_rows(timeline, job.sites)
    time, d, power = timeline.time, job.duration_h, job.it_power_w
    first = max(ceil_hour(job.earliest_start), time[0])
    end = min(floor_hour(job.deadline), time[-1] + HOUR)
    a = time.searchsorted(first)
    b = max(time.searchsorted(end), a)
    free = _free_w(timeline)[rows, a:b]
    hour_ok = power <= free + CAPACITY_TOLERANCE_W
    partial = _partial_start(timeline, job, rows)
    enough = b - a >= d
    if job.interruptible:
        ok = hour_ok & (hour_ok.sum(axis=1) >= d)[:, None]
    elif enough:
        ok = _window_sums((~hour_ok).astype(float), d) == 0
    else:
        ok = np.zeros((rows.size, 0), dtype=bool)
    if ok.any() or (partial is not None and (power <= partial.free + CAPACITY_TOLERANCE_W).any()):
        return rows, a, hour_ok, ok, partial
    window = (f"between {_show_time(max(job.earliest_start, time[0]))} and "
              f"{_show_time(min(job.deadline, time[-1] + HOUR))}")
    if not enough and partial is None:
        raise JobDoesNotFit(
            f"{_label(job)}: its window {_show_time(job.earliest_start)} to "
            f"{_show_time(job.deadline)} has {b - a} whole hours inside the timeline's horizon "
            f"({_show_time(time[0])} to {_show_time(time[-1] + HOUR)}); it needs {d} h")
    best = np.full(rows.size, -np.inf)  # the most free IT power [W] a placement has, per site
    if job.interruptible:
        best = np.sort(free, axis=1)[:, -d]
        phrase = f"in {d} hours"
    else:
        if enough:
            best = np.lib.stride_tricks.sliding_window_view(free, d, axis=1).min(axis=2).max(axis=1)
        if partial is not None:
            best = np.maximum(best, partial.free)
        phrase = f"for {d} consecutive hours"
    i = int(np.argmax(best))
    raise JobDoesNotFit(
        f"{_label(job)}: no allowed site has {_show_mw(power)} of IT capacity free {phrase} "
        f"{window}; largest free: {_show_mw(max(best[i], 0.0))} at {timeline.site_ids[rows[i]]}")


def _option(timeline: Timeline, job: Job, row: int, hours: np.ndarray, totals: dict,
            run_now: bool, start: pd.Timestamp | None = None) -> Option:
    """The Option of ``job`` at site ``row`` in the timeline ``hours`` (indices, rising), with
    ``totals`` of the hourly accounting over them; starting at ``start`` when inside an hour."""
    stamps = tuple(timeline.hour_starts[h] for h in hours)
    end = stamps[-1] + HOUR if start is None else start + job.duration_h * HOUR
    facility = float(totals["facility_wh"])
    return Option(site=timeline.site_ids[row], start=start or stamps[0], end=end,
                  hours=stamps, renewable_fraction=1.0 - float(totals["grid_wh"]) / facility,
                  grid_energy_wh=float(totals["grid_wh"]),
                  emissions_kg=float(totals["emissions_kg"]), cost=float(totals["cost"]),
                  mean_pue=facility / (job.it_power_w * job.duration_h), run_now=run_now)


def search_windows(timeline: Timeline, job: Job, objective: str = "grid_energy",
                   limit: int = 10) -> list[Option]:
    """The best placements of ``job`` by ``objective`` (one of OBJECTIVES: grid energy,
    emissions or cost of the grid energy the job draws), best first.

    Rigid jobs: every allowed site and start (its earliest start when inside an hour, then
    whole hours) whose whole run lies inside the job's window and the timeline and fits the
    capacity every hour it runs in, ranked by the objective (ties: earlier start, then the
    timeline's site order); at most ``limit``. Interruptible jobs: per allowed site, its
    ``duration_h`` cheapest whole hours that fit (ties: earlier), one option per site, at most
    ``limit``. Either way the "run now" option (back to back from the earliest start, or
    from the next whole hour when that does not fit anywhere, at the allowed site where the
    objective is best) is flagged ``run_now`` and appended when it fits and is not among the
    ranked options. JobDoesNotFit when nothing fits, with the reason."""
    metric = _check_objective(objective)
    if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1:
        raise ValueError(f"limit must be a whole number >= 1; got {limit!r}")
    rows, a, hour_ok, ok, partial = _placements(timeline, job)
    d, n = job.duration_h, hour_ok.shape[1]
    accounting = {k: v[rows] for k, v in hourly_accounting(timeline, job.it_power_w).items()}
    hourly = {k: v[:, a:a + n] for k, v in accounting.items()}
    if job.interruptible:
        now_fits = hour_ok[:, :d].all(axis=1) if n >= d else np.zeros(rows.size, dtype=bool)
        now_value = np.where(now_fits, hourly[metric][:, :d].sum(axis=1), np.inf)
        now_site = int(np.argmin(now_value)) if now_fits.any() else -1
        cost = np.where(ok, hourly[metric], np.inf)
        sites = np.flatnonzero(ok.any(axis=1))
        chosen = np.sort(np.argsort(cost[sites], axis=1, kind="stable")[:, :d], axis=1)
        totals = {k: np.take_along_axis(v[sites], chosen, axis=1).sum(axis=1)
                  for k, v in hourly.items()}
        order = np.lexsort((sites, chosen[:, 0], totals[metric]))[:limit]
        options = [_option(timeline, job, rows[sites[r]], a + chosen[r],
                           {k: v[r] for k, v in totals.items()},
                           sites[r] == now_site and chosen[r, -1] == d - 1) for r in order]
        if now_site >= 0 and not any(o.run_now for o in options):
            options.append(_option(timeline, job, rows[now_site], a + np.arange(d),
                                   {k: v[now_site, :d].sum() for k, v in hourly.items()}, True))
        return options
    # rigid: candidates (site, timeline index of the first hour run, start, totals); the start
    # inside an hour first, at every site with room, then the whole-hour windows
    sums = {k: _window_sums(v, d) if n >= d else np.zeros((rows.size, 0))
            for k, v in hourly.items()}
    sites, starts = np.nonzero(ok)
    firsts, totals = a + starts, {k: v[sites, starts] for k, v in sums.items()}
    n_partial = 0
    if partial is not None:
        fit = np.flatnonzero(job.it_power_w <= partial.free + CAPACITY_TOLERANCE_W)
        span = slice(partial.k, partial.k + d + 1)
        n_partial = fit.size
        sites, firsts = np.concatenate([fit, sites]), np.concatenate(
            [np.full(fit.size, partial.k), firsts])
        totals = {k: np.concatenate([v[fit, span] @ partial.weights, totals[k]])
                  for k, v in accounting.items()}
    value = totals[metric]
    is_partial = np.arange(sites.size) < n_partial
    # the run-now candidate: from the earliest start (inside an hour) where it fits, else from
    # the first whole hour; at the site where the objective is best
    now_pool = np.flatnonzero(is_partial if n_partial else firsts == a)
    now = int(now_pool[np.argmin(value[now_pool])]) if now_pool.size else -1
    order = np.lexsort((sites, ~is_partial, firsts, value))[:limit]
    if now >= 0 and now not in order:
        order = np.append(order, now)

    def option(r):
        hours = firsts[r] + np.arange(d + int(is_partial[r]))
        return _option(timeline, job, rows[sites[r]], hours,
                       {k: v[r] for k, v in totals.items()}, r == now,
                       job.earliest_start if is_partial[r] else None)

    return [option(r) for r in order]


def _plan_of_runs(timeline: Timeline, jobs, runs, objective: str, **report) -> Plan:
    """The Plan of ``runs``: per job, (site row, hour index, fraction) arrays."""
    it = np.zeros(timeline.marginal_pue.shape)
    assignments = []
    for job, (rows, hours, fractions) in zip(jobs, runs, strict=True):
        order = np.lexsort((rows, hours))
        rows, hours, fractions = rows[order], hours[order], fractions[order]
        np.add.at(it, (rows, hours), job.it_power_w * fractions)
        sites = tuple(timeline.site_ids[r] for r in pd.unique(rows))
        assignments.append(Assignment(
            job=job, sites=sites, start=timeline.time[hours[0]],
            end=timeline.time[hours[-1]] + HOUR,
            runs=tuple((timeline.site_ids[r], timeline.time[h], float(f))
                       for r, h, f in zip(rows, hours, fractions, strict=True))))
    totals = {k: float(v.sum()) for k, v in hourly_accounting(timeline, it).items()}
    return Plan(assignments=tuple(assignments), it_power_w=it, objective=objective,
                objective_value=totals[OBJECTIVE_METRIC[objective]],
                grid_energy_wh=totals["grid_wh"], emissions_kg=totals["emissions_kg"],
                cost=totals["cost"], **report)


def _one_by_one(timeline: Timeline, jobs, order, objective: str, runs) -> Timeline:
    """The jobs ``order`` (indices) placed in turn at their best option of
    :func:`search_windows`, each with those before it committed; their runs stored in
    ``runs``; the timeline with them all committed."""
    current = timeline
    for j in order:
        job = jobs[j]
        try:
            best = search_windows(current, job, objective, limit=1)[0]
        except JobDoesNotFit as e:
            placed = sum(r is not None for r in runs)
            raise JobDoesNotFit(f"jobs[{j}]: {e} (greedy plan, after placing {placed} "
                                "job(s))") from e
        row = timeline.site_ids.index(best.site)
        hours = timeline.time.get_indexer(pd.DatetimeIndex(best.hours))
        extra = np.zeros(timeline.marginal_pue.shape)
        extra[row, hours] = job.it_power_w
        current = current.with_committed(extra)
        runs[j] = (np.full(hours.size, row), hours, np.ones(hours.size))
    return current
