"""A year of work for a fleet of sites: training jobs and inference demand (twin.fleet runs it).

Training jobs (:class:`TrainingJobs`) are one row per job: the site it is submitted at (its home:
where it runs when the sites are not linked), the hour it arrives (UTC, whole hours), its IT power
[W], its duration [h], its deadline [h after arrival] and whether it can checkpoint and resume
(interruptible). Inference (:class:`InferenceDemand`) is a demand of IT power [W] per user region
and hour, served at sites within the region's latency budget (fibre round trip, twin.latency), its
home site the one that serves it when the sites are not linked.

:func:`synthetic` draws a year from the documented parameters of :class:`WorkloadParameters`
(numpy's PCG64 with a seed: the same seed gives the same year); :func:`read_trace` reads jobs from
a CSV trace (schema: :data:`TRACE_COLUMNS`) and :func:`write_trace` writes one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from twin.latency import REGIONS, round_trip_ms
from twin.timebase import HOUR, china_hour_of_day, hours

# CSV trace of training jobs: column -> meaning [unit]
TRACE_COLUMNS = {
    "name": "job name (unique)",
    "site": "catalog id of the site the job is submitted at (its home site)",
    "arrival": "arrival time, ISO 8601, UTC unless a zone is given; a time inside an hour "
               "arrives at the next whole hour",
    "it_power_mw": "IT power of the job's servers running flat out [MW]",
    "duration_h": "run time [whole hours >= 1]",
    "deadline_h": "the job must end within this many hours of its arrival [h >= duration_h]",
    "interruptible": "true if the job can checkpoint and resume between hours",
}
# ASSUMPTION: an evening peak of interactive demand in China Standard Time, hours 0..23, mean 1:
# low at night (0.45 at 04:00), rising through the day to 1.4 at 20:00-21:00. Shaped after the
# diurnal traffic of consumer internet services (e.g. the Azure LLM inference traces of Patel et
# al. 2024, "Splitwise", ISCA: conversation load peaks in the day, roughly halves at night);
# rescaled so that its mean is 1.
INFERENCE_PROFILE_CST = (0.6, 0.5, 0.47, 0.45, 0.45, 0.5, 0.6, 0.75, 0.9, 1.05, 1.15, 1.2, 1.2,
                         1.15, 1.15, 1.15, 1.15, 1.2, 1.25, 1.35, 1.4, 1.4, 1.2, 0.9)


@dataclass(frozen=True)
class WorkloadParameters:
    """The synthetic workload (every value an ASSUMPTION unless cited; README "The fleet over a
    year" lists them).

    jobs_per_year: training jobs arriving over the year (a Poisson process per site, rate
    proportional to the site's IT capacity times ``home_weight`` of its role).
    gpus_min, gpus_max: a job's GPU count is 8 x 2^k, k uniform, between them (log-uniform sizes:
    most jobs small, a few large, as in the Philly and PAI traces: Jeon et al. 2019, USENIX ATC,
    and Weng et al. 2022, NSDI), at most the home site's GPUs; its IT power the GPU count x the
    home site's server design power per GPU (twin.it_load).
    duration_median_h, duration_sigma: log-normal run time [h] (heavy-tailed as in both traces),
    clipped to [1, duration_max_h].
    slack_min, slack_max: deadline = arrival + duration x (1 + slack), slack uniform.
    interruptible_share: the share of jobs that checkpoint and resume.
    home_weight: role -> weight of a site's share of jobs per unit IT capacity ("East Data":
    users and their work are in the east, where the inference-role sites are).
    inference_share: mean inference demand of each region as a share of its home site's IT
    capacity (the regions: each inference-role site's nearest user region).
    latency_budget_ms: fibre round trip an inference request may take to its site.
    """

    jobs_per_year: int = 10_000
    gpus_min: int = 8
    gpus_max: int = 1024
    duration_median_h: float = 24.0
    duration_sigma: float = 1.0
    duration_max_h: int = 168
    slack_min: float = 0.25
    slack_max: float = 2.0
    interruptible_share: float = 0.5
    home_weight: dict = field(default_factory=lambda: {"inference": 3.0, "training": 1.0})
    inference_share: float = 0.5
    latency_budget_ms: float = 30.0

    def __post_init__(self):
        checks = {
            "jobs_per_year": self.jobs_per_year >= 0,
            "gpus_min": 1 <= self.gpus_min <= self.gpus_max,
            "duration_median_h": self.duration_median_h > 0, "duration_sigma":
                self.duration_sigma >= 0, "duration_max_h": self.duration_max_h >= 1,
            "slack_min": 0 <= self.slack_min <= self.slack_max,
            "interruptible_share": 0 <= self.interruptible_share <= 1,
            "inference_share": 0 <= self.inference_share <= 1,
            "latency_budget_ms": self.latency_budget_ms > 0,
            "home_weight": all(w >= 0 for w in self.home_weight.values()),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"workload parameter(s) out of range: {', '.join(bad)} "
                             f"({', '.join(f'{k}={getattr(self, k)!r}' for k in bad)})")


PRESETS = {"catalog": WorkloadParameters(),
           # the same shapes, a tenth of the jobs: small fleets in tests and notebooks
           "small": WorkloadParameters(jobs_per_year=1_000)}


@dataclass(frozen=True, eq=False)
class TrainingJobs:
    """Training jobs, one row each (``(J,)`` arrays): home site id, arrival (UTC whole hours),
    IT power [W], duration [h], deadline [h after arrival], interruptible."""

    name: np.ndarray
    site: np.ndarray
    arrival: pd.DatetimeIndex
    it_power_w: np.ndarray
    duration_h: np.ndarray
    deadline_h: np.ndarray
    interruptible: np.ndarray

    def __post_init__(self):
        n = len(self.name)
        arrival = pd.DatetimeIndex(self.arrival)
        arrival = arrival.tz_localize("UTC") if arrival.tz is None else arrival.tz_convert("UTC")
        values = {"name": np.asarray(self.name, dtype=str), "site": np.asarray(self.site,
                                                                              dtype=str),
                  "it_power_w": np.asarray(self.it_power_w, dtype=float),
                  "duration_h": np.asarray(self.duration_h, dtype=np.int64),
                  "deadline_h": np.asarray(self.deadline_h, dtype=np.int64),
                  "interruptible": np.asarray(self.interruptible, dtype=bool)}
        if any(v.shape != (n,) for v in values.values()) or len(arrival) != n:
            raise ValueError("training jobs: every column must have one value per job")
        if len(set(values["name"])) != n:
            raise ValueError("training jobs: job names must be unique")
        checks = [(~(np.isfinite(values["it_power_w"]) & (values["it_power_w"] > 0)),
                   "it_power must be a power > 0"),
                  (values["duration_h"] < 1, "duration_h must be >= 1"),
                  (values["deadline_h"] < values["duration_h"], "deadline_h must be >= "
                                                                "duration_h"),
                  (np.asarray(arrival != arrival.floor("h")), "arrival must be a whole hour")]
        for bad, message in checks:
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"training job {values['name'][i]!r}: {message}")
        for k, v in values.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "arrival", arrival)

    def __len__(self) -> int:
        return len(self.name)

    def deadline(self) -> pd.DatetimeIndex:
        return self.arrival + self.deadline_h * HOUR

    def frame(self) -> pd.DataFrame:
        """The jobs as a table in the trace's schema (TRACE_COLUMNS)."""
        return pd.DataFrame({"name": self.name, "site": self.site,
                             "arrival": self.arrival.strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "it_power_mw": self.it_power_w / 1e6,
                             "duration_h": self.duration_h, "deadline_h": self.deadline_h,
                             "interruptible": self.interruptible})


@dataclass(frozen=True, eq=False)
class InferenceDemand:
    """Inference demand [W] ``(R, T)`` of user ``regions`` (twin.latency.REGIONS) on hourly UTC
    ``time``; ``home`` the site serving each region when not linked; ``budget_ms`` ``(R,)``
    the fibre round trip each region's requests may take."""

    regions: tuple[str, ...]
    home: tuple[str, ...]
    budget_ms: np.ndarray
    demand_w: np.ndarray

    def __post_init__(self):
        unknown = [r for r in self.regions if r not in REGIONS]
        if unknown:
            raise ValueError(f"unknown user region(s) {', '.join(unknown)}; known: "
                             f"{', '.join(REGIONS)}")
        demand = np.asarray(self.demand_w, dtype=float)
        budget = np.asarray(self.budget_ms, dtype=float)
        if demand.ndim != 2 or demand.shape[0] != len(self.regions) or \
                len(self.home) != len(self.regions) or budget.shape != (len(self.regions),):
            raise ValueError("inference demand: one home site, budget and (hours,) row of "
                             "demand per region")
        if not (np.isfinite(demand).all() and (demand >= 0).all() and (budget > 0).all()):
            raise ValueError("inference demand must be powers >= 0 [W] and budgets > 0 [ms]")
        object.__setattr__(self, "demand_w", demand)
        object.__setattr__(self, "budget_ms", budget)


@dataclass(frozen=True, eq=False)
class Workload:
    training: TrainingJobs
    inference: InferenceDemand


def year_hours(year: int) -> pd.DatetimeIndex:
    """The UTC hour starts of a calendar year."""
    return hours(datetime(year, 1, 1), datetime(year + 1, 1, 1))


def gpu_power_w(site) -> float:
    """IT design power per accelerator [W] of a site: its capacity over its GPU count."""
    return site.it.capacity_w / site.it.gpu_count


def _nearest_region(site) -> str:
    names = list(REGIONS)
    rtt = round_trip_ms(site.latitude, site.longitude, [REGIONS[r][0] for r in names],
                        [REGIONS[r][1] for r in names])
    return names[int(np.argmin(rtt))]


def synthetic(sites, year: int, params: WorkloadParameters | str = "catalog", seed: int = 0,
              scale: float = 1.0) -> Workload:
    """A year of training jobs and inference demand for ``sites`` (catalog Site objects) from
    ``params`` (or a PRESETS name), drawn with ``seed``; ``scale`` multiplies the number of jobs
    (a fleet scaled by twin.fleet.scale_sites carries proportionally more work; the inference
    demand follows the sites' capacities). Jobs whose deadline falls
    after the year are not drawn (the year's weather ends there)."""
    if isinstance(params, str):
        if params not in PRESETS:
            raise ValueError(f"unknown workload preset {params!r}; known: {', '.join(PRESETS)}")
        params = PRESETS[params]
    if not scale > 0:
        raise ValueError(f"scale must be > 0; got {scale}")
    rng = np.random.default_rng(seed)
    time = year_hours(year)
    sites = list(sites)
    unknown = [s.role for s in sites if s.role not in params.home_weight]
    if unknown:
        raise ValueError(f"home_weight has no weight for role(s) {', '.join(set(unknown))}")
    weight = np.array([s.it.capacity_w * params.home_weight[s.role] for s in sites])
    if weight.sum() <= 0:
        raise ValueError("no site carries a share of the jobs (home_weight)")
    n = rng.poisson(params.jobs_per_year * scale)
    home = rng.choice(len(sites), size=n, p=weight / weight.sum())
    arrival_h = np.sort(rng.integers(0, time.size, size=n))
    k_max = np.log2(params.gpus_max / 8.0)
    k_min = np.log2(max(params.gpus_min, 1) / 8.0)
    gpus = np.round(8.0 * 2.0 ** rng.uniform(k_min, k_max, size=n))
    site_gpus = np.array([s.it.gpu_count for s in sites])
    gpus = np.clip(gpus, 1, site_gpus[home])
    power = gpus * np.array([gpu_power_w(s) for s in sites])[home]
    duration = np.clip(np.round(params.duration_median_h * np.exp(
        params.duration_sigma * rng.standard_normal(n))), 1, params.duration_max_h).astype(int)
    slack = rng.uniform(params.slack_min, params.slack_max, size=n)
    deadline = np.maximum(np.ceil(duration * (1.0 + slack)), duration).astype(int)
    interruptible = rng.random(n) < params.interruptible_share
    keep = arrival_h + deadline <= time.size
    ids = np.array([s.id for s in sites])
    training = TrainingJobs(
        name=np.array([f"job{i:05d}" for i in range(int(keep.sum()))]), site=ids[home[keep]],
        arrival=time[arrival_h[keep]], it_power_w=power[keep], duration_h=duration[keep],
        deadline_h=deadline[keep], interruptible=interruptible[keep])
    return Workload(training, inference_demand(sites, time, params))


def inference_demand(sites, time: pd.DatetimeIndex, params: WorkloadParameters
                     ) -> InferenceDemand:
    """Each inference-role site serves its nearest user region: a demand of ``inference_share``
    of its IT capacity on average, shaped by INFERENCE_PROFILE_CST over the day."""
    homes = [s for s in sites if s.role == "inference"]
    profile = np.asarray(INFERENCE_PROFILE_CST) / np.mean(INFERENCE_PROFILE_CST)
    capacity = np.array([s.it.capacity_w for s in homes], dtype=float).reshape(-1, 1)
    demand = params.inference_share * capacity * profile[china_hour_of_day(time)]
    return InferenceDemand(regions=tuple(_nearest_region(s) for s in homes),
                           home=tuple(s.id for s in homes),
                           budget_ms=np.full(len(homes), params.latency_budget_ms),
                           demand_w=demand)


def read_trace(path, sites, year: int, params: WorkloadParameters | str = "catalog"
               ) -> Workload:
    """Training jobs from a CSV trace (TRACE_COLUMNS; extra columns are ignored) and the
    inference demand of ``params``; ValueError naming the file and what is wrong."""
    if isinstance(params, str):
        params = PRESETS[params]
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"workload trace {path}: {err}") from None
    missing = [c for c in TRACE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"workload trace {path}: missing column(s) {', '.join(missing)} "
                         f"(needs {', '.join(TRACE_COLUMNS)})")
    ids = {s.id for s in sites}
    unknown = sorted(set(frame["site"].astype(str)) - ids)
    if unknown:
        raise ValueError(f"workload trace {path}: site(s) {', '.join(unknown)} not in the fleet "
                         f"({', '.join(sorted(ids))})")
    time = year_hours(year)
    try:
        arrival = pd.DatetimeIndex(pd.to_datetime(frame["arrival"], utc=True)).ceil("h")
        numbers = {c: pd.to_numeric(frame[c]) for c in ("it_power_mw", "duration_h",
                                                        "deadline_h")}
        interruptible = frame["interruptible"].astype(str).str.lower().map(
            {"true": True, "1": True, "false": False, "0": False})
    except (ValueError, TypeError) as err:
        raise ValueError(f"workload trace {path}: {err}") from None
    if interruptible.isna().any():
        row = int(np.argmax(interruptible.isna().values))
        raise ValueError(f"workload trace {path}, row {row + 2}: interruptible must be true or "
                         "false")
    for c in ("duration_h", "deadline_h"):
        if (numbers[c] != np.round(numbers[c])).any():
            raise ValueError(f"workload trace {path}: {c} must be whole hours")
    outside = (arrival < time[0]) | (arrival + pd.to_timedelta(numbers["deadline_h"], "h")
                                     > time[-1] + HOUR)
    if outside.any():
        row = int(np.argmax(outside))
        raise ValueError(f"workload trace {path}, row {row + 2}: the job's window "
                         f"{arrival[row]:%Y-%m-%dT%H:%MZ} + {numbers['deadline_h'][row]} h is not "
                         f"inside the simulated year {year}")
    training = TrainingJobs(name=frame["name"].astype(str).values,
                            site=frame["site"].astype(str).values, arrival=arrival,
                            it_power_w=numbers["it_power_mw"].values * 1e6,
                            duration_h=numbers["duration_h"].values.astype(int),
                            deadline_h=numbers["deadline_h"].values.astype(int),
                            interruptible=interruptible.values.astype(bool))
    return Workload(training, inference_demand(sites, time, params))


def write_trace(jobs: TrainingJobs, path) -> None:
    """Write training jobs as a CSV trace (TRACE_COLUMNS) that :func:`read_trace` reads."""
    jobs.frame().to_csv(path, index=False)


__all__ = ["INFERENCE_PROFILE_CST", "PRESETS", "TRACE_COLUMNS", "InferenceDemand",
           "TrainingJobs", "Workload", "WorkloadParameters", "inference_demand", "read_trace",
           "synthetic", "write_trace", "year_hours"]
