"""Placing compute jobs on sites and hours against the twin's availability.

A :class:`Timeline` holds what :func:`twin.simulate` gives a scheduler for each site-hour: the IT
capacity and the IT power already committed, the headroom (IT power renewables can still carry
after that hour's cooling and losses), the marginal PUE ``b`` of the linear form facility power
~= a + b IT power (:func:`twin.facility.linear_form`), the grid's carbon intensity and price.
Hours are whole UTC hours, each labelled by its start.

A :class:`Job` runs at a constant IT power P [W] for ``duration_h`` whole hours inside
[earliest start, deadline] at one of its allowed sites: a rigid job those hours back to back, an
interruptible one (checkpoint and resume) any ``duration_h`` hours. One hour of the job at a
site-hour with headroom H and marginal PUE b (:func:`hourly_accounting`):

- facility power the job adds: b P (the intercept a is drawn whether the job runs or not);
- IT power renewables still carry: min(P, H); the rest needs grid power b max(P - H, 0);
- emissions: grid energy [kWh] x carbon intensity [g kWh-1]; cost: grid energy [kWh] x price;
- the job fits the hour when committed + P <= capacity.

A placement's renewable fraction is 1 - grid energy / facility energy of the job, its mean PUE
the job's facility energy over its IT energy.

:func:`search_windows` ranks the placements of one job, vectorised over start hours with
cumulative sums. :func:`plan` places many jobs jointly, sharing each site-hour's capacity and
headroom, as a mixed-integer linear program solved by HiGHS through its Python interface highspy
(Huangfu and Hall 2018, "Parallelizing the dual revised simplex method", Mathematical
Programming Computation 10, 119-142, the reference HiGHS asks users to cite): a rigid job has a
binary start variable per feasible (site, start hour), the time-indexed formulation of Sousa and
Wolsey (1992, "A time indexed formulation of non-preemptive single machine scheduling problems",
Mathematical Programming 54, 353-367); an interruptible job has a continuous run fraction per
hour, and the power of jobs that fit the same site-hours is spread over those sites per hour, so
that jobs that are all interruptible make a linear program. Each touched site-hour has one row:
the jobs' IT power less a grid part is at most the headroom, the grid part at most the free
capacity beyond it; the objective weighs the grid part by the marginal PUE and the objective's
weight. When the solver finds no solution in its time limit, a greedy plan (the rigid jobs one
at a time, largest first, each at its best window given the ones placed; then the interruptible
ones by the linear program) is returned instead, and the better of the two when it stops at the
limit with a solution.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import time as clock
from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd
import scipy.sparse
from scipy.optimize import Bounds, LinearConstraint

from twin.variables import W_PER_MW

# objective -> the per-hour metric of hourly_accounting it minimises
OBJECTIVE_METRIC = {"grid_energy": "grid_wh", "carbon": "emissions_kg", "cost": "cost"}
OBJECTIVES = tuple(OBJECTIVE_METRIC)
HOUR = pd.Timedelta(hours=1)
# slack on capacity checks [W]: rounding in sums of job powers, far below any real IT load
CAPACITY_TOLERANCE_W = 1e-3
# the solver works in MW so that its coefficients are near 1 (HiGHS tolerances are absolute)
# the solver's objective: the largest weight of a grid MWh (HiGHS's tolerances are absolute:
# 1e-7 on reduced costs), and the earlier-hours tie-break per MWh of job relative to it
OBJECTIVE_SCALE = 100.0
TIE_BREAK = 1e-6
# run fractions below this in the solver's answer are taken as not run
MIN_FRACTION = 1e-6
# HiGHS's outcome -> Plan.status ("failed" for any other)
_STATUS = highspy.HighsModelStatus
SOLVER_STATUS = {_STATUS.kOptimal: "optimal", _STATUS.kTimeLimit: "time_limit",
                 _STATUS.kInfeasible: "infeasible", _STATUS.kUnbounded: "unbounded"}
# HiGHS's presolve removes next to nothing here (only feasible starts and touched site-hours are
# built) and slowed benchmarks/plan.py down; its root reduced-cost and feasibility-jump heuristics
# took a third of the solve time (py-spy --native profile of a seed-2 solve) without finding the
# plans sooner: benchmarks/plan.py's seed 1 takes 0.8-1.2 s with them off, 1.5-1.9 s with them
# on (HIGHS_OPTIONS updated before benchmarks.plan.main runs)
HIGHS_OPTIONS = {"output_flag": False, "presolve": "off",
                 "mip_heuristic_run_root_reduced_cost": False,
                 "mip_heuristic_run_feasibility_jump": False}
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
    are copied and made read-only; NaN, negative or misshapen values raise ``ValueError``."""

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
                i, t = np.argwhere(bad)[0]
                raise ValueError(f"Timeline.{name} is {a[i, t]} at site {ids[i]}, "
                                 f"{_show_time(time[t])}; it must be finite and "
                                 f"{'> 0' if positive else '>= 0'}")
            arrays[name] = a
        for name, a in arrays.items():
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        object.__setattr__(self, "site_ids", ids)
        object.__setattr__(self, "time", time)

    @classmethod
    def from_dataset(cls, ds, capacity_w=None, committed_w=None) -> Timeline:
        """The Timeline of a :func:`twin.simulate` Dataset (all steps run). ``capacity_w``
        ``(S,)`` [W] replaces the sites' configured IT capacity (attribute
        ``site_configuration``); ``committed_w`` ``(S, T)`` [W] is IT power committed besides
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
        return timeline if committed_w is None else timeline.with_committed(committed_w)

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
        whole_hours = (deadline.floor("h") - start.ceil("h")) // HOUR
        if self.duration_h > whole_hours:
            raise JobDoesNotFit(
                f"{label}: the deadline is too close: {self.duration_h} h do not fit between "
                f"{_show_time(start)} and the deadline {_show_time(deadline)} "
                f"({max(whole_hours, 0)} whole hours)")
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
    """One placement of a job: its site, first hour ``start``, ``end`` of its last hour, the
    ``hours`` run (hour starts, UTC) and their metrics [Wh, kg CO2, currency]; ``run_now``
    marks the placement running back to back from the earliest start (its next whole hour)."""

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


def _placements(timeline: Timeline, job: Job):
    """Where ``job`` can go: its allowed site rows ``(S',)``, the timeline index ``a`` of the
    first hour of its window, which hours fit ``(S', n)`` and which placements fit: windows by
    start ``(S', n - duration_h + 1)`` for a rigid job, hours ``(S', n)`` at sites with at least
    ``duration_h`` of them for an interruptible one. JobDoesNotFit when there is none."""
    rows = np.arange(len(timeline.site_ids)) if job.sites is None else \
        _site_rows(timeline, job.sites)
    time, d = timeline.time, job.duration_h
    first = max(job.earliest_start.ceil("h"), time[0])
    end = min(job.deadline.floor("h"), time[-1] + HOUR)
    a, b = time.searchsorted(first), time.searchsorted(end)
    if b - a < d:
        raise JobDoesNotFit(
            f"{_label(job)}: its window {_show_time(job.earliest_start)} to "
            f"{_show_time(job.deadline)} has {max(b - a, 0)} h inside the timeline's horizon "
            f"({_show_time(time[0])} to {_show_time(time[-1] + HOUR)}); it needs {d} h")
    free = _free_w(timeline)[rows, a:b]
    hour_ok = job.it_power_w <= free + CAPACITY_TOLERANCE_W
    if job.interruptible:
        ok = hour_ok & (hour_ok.sum(axis=1) >= d)[:, None]
        best = np.sort(free, axis=1)[:, -d]  # the most free in d hours, per site
        phrase = f"in {d} hours"
    else:
        ok = _window_sums((~hour_ok).astype(float), d) == 0
        best = np.lib.stride_tricks.sliding_window_view(free, d, axis=1).min(axis=2).max(axis=1)
        phrase = f"for {d} consecutive hours"
    if not ok.any():
        i = int(np.argmax(best))
        raise JobDoesNotFit(
            f"{_label(job)}: no allowed site has {_show_mw(job.it_power_w)} of IT capacity free "
            f"{phrase} between {_show_time(time[a])} and {_show_time(time[b - 1] + HOUR)}; "
            f"largest free: {_show_mw(max(best[i], 0.0))} at {timeline.site_ids[rows[i]]}")
    return rows, a, hour_ok, ok


def _option(timeline: Timeline, job: Job, row: int, hours: np.ndarray, totals: dict,
            run_now: bool) -> Option:
    """The Option of ``job`` at site ``row`` in the timeline ``hours`` (indices, rising), with
    ``totals`` of the hourly accounting over them."""
    stamps = tuple(timeline.time[hours])
    facility = float(totals["facility_wh"])
    return Option(site=timeline.site_ids[row], start=stamps[0], end=stamps[-1] + HOUR,
                  hours=stamps, renewable_fraction=1.0 - float(totals["grid_wh"]) / facility,
                  grid_energy_wh=float(totals["grid_wh"]),
                  emissions_kg=float(totals["emissions_kg"]), cost=float(totals["cost"]),
                  mean_pue=facility / (job.it_power_w * job.duration_h), run_now=run_now)


def search_windows(timeline: Timeline, job: Job, objective: str = "grid_energy",
                   limit: int = 10) -> list[Option]:
    """The best placements of ``job`` by ``objective`` (one of OBJECTIVES: grid energy,
    emissions or cost of the grid energy the job draws), best first.

    Rigid jobs: every allowed site and start hour whose whole run lies inside the job's window
    and the timeline and fits the capacity every hour, ranked by the objective (ties: earlier
    start, then the timeline's site order); at most ``limit``. Interruptible jobs: per allowed
    site, its ``duration_h`` cheapest hours that fit (ties: earlier), one option per site, at
    most ``limit``. Either way the "run now" option (``duration_h`` hours back to back from the
    earliest start, or from the timeline's first hour if later, at the allowed site where the
    objective is best) is flagged ``run_now`` and appended when it fits and is not among the
    ranked options. JobDoesNotFit when nothing fits, with the reason."""
    metric = _check_objective(objective)
    if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1:
        raise ValueError(f"limit must be a whole number >= 1; got {limit!r}")
    rows, a, hour_ok, ok = _placements(timeline, job)
    d, n = job.duration_h, hour_ok.shape[1]
    hourly = {k: v[rows, a:a + n] for k, v in hourly_accounting(timeline, job.it_power_w).items()}
    now_fits = hour_ok[:, :d].all(axis=1)
    now_value = np.where(now_fits, hourly[metric][:, :d].sum(axis=1), np.inf)
    now_site = int(np.argmin(now_value)) if now_fits.any() else -1
    if job.interruptible:
        cost = np.where(ok, hourly[metric], np.inf)
        sites = np.flatnonzero(ok.any(axis=1))
        chosen = np.sort(np.argsort(cost[sites], axis=1, kind="stable")[:, :d], axis=1)
        totals = {k: np.take_along_axis(v[sites], chosen, axis=1).sum(axis=1)
                  for k, v in hourly.items()}
        order = np.lexsort((sites, chosen[:, 0], totals[metric]))[:limit]
        options = [_option(timeline, job, rows[sites[r]], a + chosen[r],
                           {k: v[r] for k, v in totals.items()},
                           sites[r] == now_site and chosen[r, -1] == d - 1) for r in order]
    else:
        sums = {k: _window_sums(v, d) for k, v in hourly.items()}
        sites, starts = np.nonzero(ok)
        order = np.lexsort((sites, starts, sums[metric][sites, starts]))[:limit]
        options = [_option(timeline, job, rows[sites[r]], a + starts[r] + np.arange(d),
                           {k: v[sites[r], starts[r]] for k, v in sums.items()},
                           sites[r] == now_site and starts[r] == 0) for r in order]
    if now_site >= 0 and not any(o.run_now for o in options):
        options.append(_option(timeline, job, rows[now_site], a + np.arange(d),
                               {k: v[now_site, :d].sum() for k, v in hourly.items()}, True))
    return options


def _plan_of_runs(timeline: Timeline, jobs, runs, objective: str, **report) -> Plan:
    """The Plan of ``runs``: per job, (site row, hour index, fraction) arrays."""
    it = np.zeros(timeline.marginal_pue.shape)
    assignments = []
    for job, (rows, hours, fractions) in zip(jobs, runs):
        order = np.lexsort((rows, hours))
        rows, hours, fractions = rows[order], hours[order], fractions[order]
        np.add.at(it, (rows, hours), job.it_power_w * fractions)
        sites = tuple(timeline.site_ids[r] for r in pd.unique(rows))
        assignments.append(Assignment(
            job=job, sites=sites, start=timeline.time[hours[0]],
            end=timeline.time[hours[-1]] + HOUR,
            runs=tuple((timeline.site_ids[r], timeline.time[h], float(f))
                       for r, h, f in zip(rows, hours, fractions))))
    totals = {k: float(v.sum()) for k, v in hourly_accounting(timeline, it).items()}
    return Plan(assignments=tuple(assignments), it_power_w=it, objective=objective,
                objective_value=totals[OBJECTIVE_METRIC[objective]],
                grid_energy_wh=totals["grid_wh"], emissions_kg=totals["emissions_kg"],
                cost=totals["cost"], **report)


def plan_greedy(timeline: Timeline, jobs, objective: str = "grid_energy",
                status: str = "greedy") -> Plan:
    """Rigid jobs placed one at a time, largest IT energy first (ties: in the given order),
    each at the best option of :func:`search_windows` on the timeline with the jobs placed
    before it committed; then the interruptible jobs together, by the linear program of
    :func:`plan` on the capacity and headroom the rigid jobs left (one at a time like the rigid
    ones when that program has no solution). ``status`` is reported in the Plan.
    JobDoesNotFit names a job that does not fit."""
    _check_objective(objective)
    jobs = list(jobs)
    t0 = clock.perf_counter()
    runs = [None] * len(jobs)
    by_energy = sorted(range(len(jobs)), key=lambda j: -jobs[j].it_power_w * jobs[j].duration_h)
    current = _one_by_one(timeline, jobs, [j for j in by_energy if not jobs[j].interruptible],
                          objective, runs)
    flexible = [j for j in by_energy if jobs[j].interruptible]
    if flexible:
        lp = None
        try:
            problem, columns = _milp_problem(current, [jobs[j] for j in flexible], objective)
            lp = solve(problem)  # no integer columns: a linear program
        except JobDoesNotFit:
            pass  # placed one at a time below, which names the job in the jobs given
        if lp is not None and lp.x is not None:
            for j, run in zip(flexible, _milp_runs([jobs[j] for j in flexible], columns, lp.x)):
                runs[j] = run
        else:
            _one_by_one(current, jobs, flexible, objective, runs)
    return _plan_of_runs(timeline, jobs, runs, objective, status=status, mip_gap=float("nan"),
                         solve_seconds=clock.perf_counter() - t0, method="greedy")


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


def _ragged(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``start, start + 1, ..., start + count - 1`` of every (start, count), concatenated."""
    offsets = np.cumsum(counts) - counts
    return np.repeat(starts - offsets, counts) + np.arange(counts.sum())


def _stack(parts) -> list[np.ndarray]:
    """The parts' (tuples of three integer arrays) first arrays concatenated, second, third."""
    return [np.concatenate([np.zeros(0, dtype=int), *(p[k] for p in parts)]) for k in range(3)]


def _milp_problem(timeline: Timeline, jobs, objective: str):
    """The joint placement as the arguments of ``scipy.optimize.milp`` (``c``, ``integrality``,
    ``bounds``, ``constraints``; :func:`solve` hands them to HiGHS) and the columns' meaning.

    Columns: ``y`` a rigid job's binary start at a site and hour; ``u`` the fraction of an hour
    an interruptible job runs (at most 1: never more than its power at once); ``v`` [MW] the IT
    power that a group of interruptible jobs runs at a site-hour, the jobs of a group being those
    that fit the same site-hours (so any of them can take any of the group's power there); ``g``
    [MW] per touched site-hour, the IT power above the renewable headroom, its cost the marginal
    PUE times the objective's weight. Rows: each job's runs (1 start; duration_h hours); each
    group-hour (its jobs' power = its power over sites); each site-hour (rigid jobs' and groups'
    IT power - g <= headroom, g <= free capacity - headroom); and, at site-hours with headroom
    (without, the site-hour row says it), the valid inequality g >= sum over the rigid jobs
    running of max(P - headroom, 0), which whole starts satisfy but fractional ones (a job
    split to fit under the headroom) do not. On benchmarks/plan.py it lifts the LP bound from
    63-86 % to 93-97 % of the optimum and cuts the solve time by 40 %; grouping the
    interruptible jobs and one column per site-hour halved it again.

    The bound left is weak where rigid jobs could share the best site-windows in fractions
    across sites: with each rigid job held to its site in the optimum (start hours still free)
    the LP bound is 97-100 % of the optimum, against 56-97 % with the sites free (the two "LP
    bound" columns of benchmarks/plan.py). Tried on the same benchmark and dropped: cumulative
    start variables (z = started by hour t, sparser rows; 5-10x slower in HiGHS); MIP starts
    from a greedy plan or an LP-rounding dive (slower), even from the optimum (seeds 2-3 still
    1.8-7.9 s); no tie-break (1.3-1.5x slower); a rigid job's own excess max(P - headroom, 0)
    priced in its start's cost and only min(P, headroom) in the row (the same LP bound, 30 %
    more nonzeros for the capacity rows it then needs); cover cuts on a job's share of a site-
    hour, separated in rounds (seed 2: bound 66 -> 82 % of the optimum, below the 92 % HiGHS's
    own cuts reach); set-packing rows for the jobs over half a site's capacity (bound +0.5-2 %);
    site-choice binaries beside y (no gain) or instead of it, with start-hour binaries and y
    continuous (slower); rigid jobs first, then the interruptible ones: the rigid-only optimum
    plus the interruptible-only one is a lower bound (grid cost is convex and 0 at no load,
    hence superadditive) and equalled the optimum in all 12 job-set objectives of seeds 1, 2, 3
    and 8 (not in seed 4's grid energy: 5 % below), but the rigid-first plans reached it in 12
    of 30 (seeds 1-10; interruptible-first in none), the rigid-only solve alone takes 0.2-2.1 s,
    so the full solve after a miss lost more than the hits won, and a row holding the objective
    above the bound made HiGHS slower in 5 of 7 tries (up to 2.6x); SCIP 9 (seed 2, carbon: 43
    s). HiGHS's presolve, symmetry, restart, cut pool, pseudocost, RINS/RENS and random-seed
    options moved times within run-to-run noise; HIGHS_OPTIONS switches off the two heuristics
    that took a third of the time. Where the time goes: the root node's cut separation (py-spy:
    72 % of seed 2's carbon solve, HiGHS's path separator 43 %), which the continuous network of
    the interruptible jobs makes costly: without them the rigid jobs of seeds 2, 3 and 8 solve
    2.7-7x faster."""
    n_hours = timeline.time.size
    free = np.maximum(_free_w(timeline), 0.0) / W_PER_MW
    power = np.array([job.it_power_w for job in jobs]) / W_PER_MW
    duration = np.array([job.duration_h for job in jobs])
    y_parts, u_parts, groups = [], [], {}
    for j, job in enumerate(jobs):
        try:
            rows, a, _, ok = _placements(timeline, job)
        except JobDoesNotFit as e:
            raise JobDoesNotFit(f"jobs[{j}]: {e}") from e
        if job.interruptible:
            rows = rows[ok.any(axis=1)]
            fits = power[j] <= free[rows] + CAPACITY_TOLERANCE_W / W_PER_MW
            group = groups.setdefault((tuple(rows), fits.tobytes()), (len(groups), rows, fits))[0]
            hours = a + np.flatnonzero(ok.any(axis=0))
            u_parts.append((np.full(hours.size, j), hours, np.full(hours.size, group)))
        else:
            i, k = np.nonzero(ok)
            y_parts.append((np.full(i.size, j), rows[i], a + k))
    y_job, y_row, y_first = _stack(y_parts)
    u_job, u_hour, u_group = _stack(u_parts)
    group_hours, u_gh = np.unique(u_group * n_hours + u_hour, return_inverse=True)
    v_parts = []
    for group, rows, fits in groups.values():
        hours = group_hours[group_hours // n_hours == group] % n_hours
        i, t = np.nonzero(fits[:, hours])
        v_parts.append((np.full(i.size, group), rows[i], hours[t]))
    v_group, v_row, v_hour = _stack(v_parts)
    v_gh = np.searchsorted(group_hours, v_group * n_hours + v_hour)
    y_span = duration[y_job]
    entry_y = np.repeat(np.arange(y_job.size), y_span)  # (start, hour it covers) pairs
    entry_hour = _ragged(y_first, y_span)
    cells, cell_of = np.unique(np.concatenate([y_row[entry_y] * n_hours + entry_hour,
                                               v_row * n_hours + v_hour]), return_inverse=True)
    entry_cell, v_cell = cell_of[:entry_y.size], cell_of[entry_y.size:]
    renewable = np.minimum(timeline.it_headroom_w.ravel()[cells] / W_PER_MW,
                           free.ravel()[cells])
    excess = power[y_job[entry_y]] - renewable[entry_cell]
    strong = (excess > 0) & (renewable[entry_cell] > 0)  # else the site-hour row says it
    strong_cells, strong_of = np.unique(entry_cell[strong], return_inverse=True)

    n_y, n_u, n_v, n_cell = y_job.size, u_job.size, v_group.size, cells.size
    u0, v0, g0 = n_y, n_y + n_u, n_y + n_u + n_v
    gh0, cell0 = len(jobs), len(jobs) + group_hours.size
    strong0 = cell0 + n_cell
    entries = [  # (row, column, value)
        (y_job, np.arange(n_y), np.ones(n_y)), (u_job, u0 + np.arange(n_u), np.ones(n_u)),
        (gh0 + u_gh, u0 + np.arange(n_u), power[u_job]),
        (gh0 + v_gh, v0 + np.arange(n_v), -np.ones(n_v)),
        (cell0 + entry_cell, entry_y, power[y_job[entry_y]]),
        (cell0 + v_cell, v0 + np.arange(n_v), np.ones(n_v)),
        (cell0 + np.arange(n_cell), g0 + np.arange(n_cell), -np.ones(n_cell)),
        (strong0 + strong_of, entry_y[strong], excess[strong]),
        (strong0 + np.arange(strong_cells.size), g0 + strong_cells, -np.ones(strong_cells.size))]
    row_index, col_index, values = (np.concatenate(x) for x in zip(*entries))
    matrix = scipy.sparse.csr_array((values, (row_index, col_index)),
                                    shape=(strong0 + strong_cells.size, g0 + n_cell))
    runs = np.where([job.interruptible for job in jobs], duration, 1).astype(float)
    lower = np.concatenate([runs, np.zeros(group_hours.size),
                            np.full(n_cell + strong_cells.size, -np.inf)])
    upper = np.concatenate([runs, np.zeros(group_hours.size), renewable,
                            np.zeros(strong_cells.size)])
    bounds = Bounds(0.0, np.concatenate([
        np.ones(n_y + n_u), np.full(n_v, np.inf),
        free.ravel()[cells] - renewable + CAPACITY_TOLERANCE_W / W_PER_MW]))
    weight = (timeline.marginal_pue * _grid_weights(timeline)[OBJECTIVE_METRIC[objective]]
              ).ravel()[cells]
    # solver objective -> the objective's units (the tie-break aside): g is in MW for an hour
    to_objective = W_PER_MW * (weight.max() / OBJECTIVE_SCALE if weight.max() > 0 else 1.0)
    weight = OBJECTIVE_SCALE * weight / weight.max() if weight.max() > 0 else weight
    # earlier hours first: TIE_BREAK of the scale per MWh, rising with the hour run
    tie = OBJECTIVE_SCALE * TIE_BREAK / n_hours
    c = np.concatenate([tie * power[y_job] * y_span * (y_first + (y_span + 1) / 2),
                        tie * power[u_job] * (u_hour + 1), np.zeros(n_v), weight])
    integrality = np.concatenate([np.ones(n_y), np.zeros(n_u + n_v + n_cell)])
    problem = {"c": c, "integrality": integrality, "bounds": bounds,
               "constraints": LinearConstraint(matrix, lower, upper)}
    columns = {"y_job": y_job, "y_row": y_row, "y_first": y_first, "u_job": u_job,
               "u_hour": u_hour, "u_gh": u_gh, "v_row": v_row, "v_gh": v_gh,
               "to_objective": to_objective}
    return problem, columns


@dataclass(frozen=True)
class Solved:
    """What HiGHS gave: ``status`` (a Plan status), the columns' values ``x`` (None when it
    found no solution) and the relative MIP gap (0 for a linear program solved)."""
    status: str
    x: np.ndarray | None
    mip_gap: float


def solve(problem, time_limit_s: float | None = None) -> Solved:
    """``problem`` (the arguments of ``scipy.optimize.milp`` that :func:`_milp_problem` builds)
    solved by HiGHS through its own Python interface, highspy, with HIGHS_OPTIONS."""
    matrix = problem["constraints"].A.tocsr()
    n = matrix.shape[1]
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, matrix.shape[0]
    lp.col_cost_ = problem["c"]
    lp.col_lower_ = np.broadcast_to(problem["bounds"].lb, n).astype(float)
    lp.col_upper_ = np.broadcast_to(problem["bounds"].ub, n).astype(float)
    lp.row_lower_ = problem["constraints"].lb
    lp.row_upper_ = problem["constraints"].ub
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_, lp.a_matrix_.index_ = matrix.indptr, matrix.indices
    lp.a_matrix_.value_ = matrix.data
    integer = problem["integrality"].astype(bool)
    if integer.any():
        lp.integrality_ = np.where(integer, highspy.HighsVarType.kInteger,
                                   highspy.HighsVarType.kContinuous).tolist()
    highs = highspy.Highs()
    for option, value in HIGHS_OPTIONS.items():
        highs.setOptionValue(option, value)
    if time_limit_s is not None:
        highs.setOptionValue("time_limit", float(time_limit_s))
    highs.passModel(lp)
    highs.run()
    status = SOLVER_STATUS.get(highs.getModelStatus(), "failed")
    info = highs.getInfo()
    found = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    x = np.array(highs.getSolution().col_value) if found else None
    if integer.any():
        gap = float(info.mip_gap)
    else:
        gap = 0.0 if status == "optimal" else float("nan")
    return Solved(status, x, gap)


def _northwest_corner(group_a, a, group_b, b):
    """Pairs ``(i, k, amount)`` splitting, within each group, the amounts ``a`` over the amounts
    ``b`` (totals equal to the solver's tolerance: ``a`` is rescaled to ``b``'s), both filled in
    order: the north-west corner rule of the transportation problem, which splits each ``a_i``
    over few ``b_k``. Laid end to end, the groups then meet at the same points up to rounding,
    so a pair across two groups has a negligible amount."""
    n = max(group_a.max(initial=-1), group_b.max(initial=-1)) + 1
    total_a = np.bincount(group_a, weights=a, minlength=n)
    total_b = np.bincount(group_b, weights=b, minlength=n)
    scale = np.divide(total_b, total_a, out=np.zeros(n), where=total_a > 0)
    order_a, order_b = np.argsort(group_a, kind="stable"), np.argsort(group_b, kind="stable")
    ends_a = np.cumsum((a * scale[group_a])[order_a])
    ends_b = np.cumsum((b * (total_a > 0)[group_b])[order_b])
    points = np.unique(np.concatenate([[0.0], ends_a, ends_b]))
    middle = (points[:-1] + points[1:]) / 2
    i = order_a[np.minimum(np.searchsorted(ends_a, middle), a.size - 1)]
    k = order_b[np.minimum(np.searchsorted(ends_b, middle), b.size - 1)]
    return i, k, np.diff(points)


def _milp_runs(jobs, columns, x) -> list:
    """Per job, (site row, hour index, fraction) arrays of the solver's answer ``x``: a rigid
    job's start with the largest value; interruptible jobs' power per group-hour split over the
    group's site powers there by :func:`_northwest_corner`."""
    c = columns
    n_y, n_u = c["y_job"].size, c["u_job"].size
    power = np.array([job.it_power_w for job in jobs]) / W_PER_MW
    iu, iv, amount = _northwest_corner(c["u_gh"], power[c["u_job"]] * x[n_y:n_y + n_u],
                                       c["v_gh"], x[n_y + n_u:n_y + n_u + c["v_row"].size])
    fraction = amount / power[c["u_job"][iu]]
    kept = fraction > MIN_FRACTION  # drops rounding slivers, also those across groups
    iu, iv, fraction = iu[kept], iv[kept], np.minimum(fraction[kept], 1.0)
    runs = []
    for j, job in enumerate(jobs):
        if job.interruptible:
            mine = c["u_job"][iu] == j
            runs.append((c["v_row"][iv[mine]], c["u_hour"][iu[mine]], fraction[mine]))
        else:
            starts = np.flatnonzero(c["y_job"] == j)
            v = starts[np.argmax(x[starts])]
            hours = c["y_first"][v] + np.arange(job.duration_h)
            runs.append((np.full(hours.size, c["y_row"][v]), hours, np.ones(hours.size)))
    return runs


def plan(timeline: Timeline, jobs, objective: str = "grid_energy",
         time_limit_s: float = 10.0) -> Plan:
    """All ``jobs`` placed jointly to minimise the objective summed over site-hours (grid
    energy, emissions or cost of the grid power max(b (jobs' IT - headroom), 0)), each
    site-hour's jobs within its free capacity; ties go to earlier hours (a tie-break of 1e-6 of
    the objective's scale). Solved by HiGHS (:func:`solve`) within ``time_limit_s``;
    when it finds no solution, the greedy plan of :func:`plan_greedy`, and when the time limit
    stops it, the better of its solution and the greedy plan. An interruptible job may move
    between its sites from hour to hour and run fractions of hours there, never more than its
    power at once. JobDoesNotFit names a job that fits nowhere."""
    _check_objective(objective)
    jobs = list(jobs)
    if not jobs:
        raise ValueError("no jobs to plan")
    if not time_limit_s > 0:
        raise ValueError(f"time_limit_s must be > 0; got {time_limit_s}")
    problem, columns = _milp_problem(timeline, jobs, objective)
    t0 = clock.perf_counter()
    result = solve(problem, time_limit_s)
    seconds = clock.perf_counter() - t0
    status = result.status
    if result.x is None:  # infeasible, or stopped before a solution
        return plan_greedy(timeline, jobs, objective, status=status)
    solved = _plan_of_runs(timeline, jobs, _milp_runs(jobs, columns, result.x), objective,
                           status=status, mip_gap=result.mip_gap, solve_seconds=seconds,
                           method="milp")
    if status == "optimal":
        return solved
    try:  # a time-limited solution may be worse than the greedy plan
        greedy = plan_greedy(timeline, jobs, objective, status=status)
    except JobDoesNotFit:
        return solved
    return greedy if greedy.objective_value < solved.objective_value else solved
