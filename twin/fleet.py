"""A fleet of sites operated over a year: what linking the hubs buys (East Data, West Computing).

:func:`run_fleet` runs a year of work (:mod:`twin.workload`) on a fleet of sites under each policy
of POLICIES, in these steps:

1. every site is simulated once for the year (:func:`twin.simulate`, synthetic weather from its
   normals): the IT power renewables (and the battery) can carry each hour, the marginal PUE, the
   grid's carbon intensity and price: what the scheduler plans on (for ``linked-forecast``, the
   same on another weather year drawn from the same normals: a forecast with no skill beyond
   climatology, except the ``known_h`` hours after each decision, taken from the actual weather);
2. inference is served first, hour by hour (it cannot wait): ``isolated`` at each region's home
   site; the linked policies at any site within the region's latency budget (fibre round trip,
   :mod:`twin.latency`), renewable headroom first (nearest first), then the free capacity where
   a grid watt emits least;
3. training jobs are placed one at a time in order of arrival, each when it arrives against what
   is already committed (an online scheduler: placements are not revised): ``isolated`` at its
   home site as soon as capacity allows (first come, first served); the linked policies at the
   best window of any site by the objective (:func:`twin.schedule.search_windows`), or, where no
   window ends by the deadline, as early as capacity allows anywhere. A job that cannot end
   within ``max_delay_h`` of its deadline is refused;
4. each site's hourly IT load (inference + training) over its IT capacity drives the facility
   model and the power balance on the actual weather (:func:`twin.simulate` with that
   utilisation): facility power, PUE, grid import, curtailment, emissions and cost.

The result is one CF Dataset with a ``policy`` dimension (:func:`fleet_summary` tabulates it).
"""

from __future__ import annotations

import datetime as dt
import json
import time as clock
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from twin._version import __version__
from twin.latency import REGIONS, round_trip_ms
from twin.schedule import (
    CAPACITY_TOLERANCE_W,
    OBJECTIVES,
    Job,
    JobDoesNotFit,
    Timeline,
    _window_sums,
    search_windows,
)
from twin.simulate import simulate
from twin.timebase import HOUR
from twin.variables import CONVENTIONS, annotate, hourly_time
from twin.workload import Workload

POLICIES = ("isolated", "linked", "linked-forecast")
JOB_STATUS = ("on_time", "late", "refused")
# ASSUMPTION: a job that cannot end within two days of its deadline is taken elsewhere (refused)
DEFAULT_MAX_DELAY_H = 48
# what the scheduler counts as available besides renewables (as the service's Outlook does)
PLANNING_BATTERY_POLICY = "balance"
# the simulation's hourly (site, time) results kept per policy
SITE_RESULTS = ("it_power", "utilisation", "facility_power", "pue", "renewable_power",
                "battery_power", "grid_import", "curtailment", "unserved_power",
                "grid_emissions", "grid_cost")
# the (site, time) arrays of a Planning
PLANNING_FIELDS = ("available_w", "marginal_pue", "pue", "carbon", "price")


@dataclass(frozen=True, eq=False)
class Planning:
    """What the scheduler plans on, ``(S, T)`` arrays on hourly UTC ``time``: available IT
    power [W], marginal PUE, PUE, carbon intensity [g kWh-1], price [currency kWh-1]."""

    site_ids: tuple[str, ...]
    time: pd.DatetimeIndex
    capacity_w: np.ndarray
    available_w: np.ndarray
    marginal_pue: np.ndarray
    pue: np.ndarray
    carbon: np.ndarray
    price: np.ndarray
    currency: str

    @classmethod
    def from_dataset(cls, ds: xr.Dataset, capacity_w) -> Planning:
        def get(v):
            return ds[v].transpose("site", "time").values

        return cls(tuple(str(s) for s in ds["site"].values),
                   pd.DatetimeIndex(ds["time"].values).tz_localize("UTC"),
                   np.asarray(capacity_w, dtype=float), get("it_available_power"),
                   get("marginal_pue"), get("pue"), get("carbon_intensity"),
                   get("electricity_price"), str(ds["electricity_price"].attrs["currency"]))

    def timeline(self, committed: np.ndarray, a: int, b: int, known: Planning | None = None,
                 known_h: int = 0) -> Timeline:
        """The scheduling Timeline of hours [a, b) with ``committed`` ``(S, T)`` [W]; its first
        ``known_h`` hours from ``known`` (the actual weather's planning) instead of this one."""
        span = slice(a, b)
        c = committed[:, span]
        fields = {f: getattr(self, f)[:, span] for f in PLANNING_FIELDS}
        k = min(known_h, b - a) if known is not None else 0
        if k > 0:
            for f in PLANNING_FIELDS:
                fields[f] = fields[f].copy()
                fields[f][:, :k] = getattr(known, f)[:, a:a + k]
        return Timeline(site_ids=self.site_ids, time=self.time[span],
                        it_capacity_w=self.capacity_w,
                        it_headroom_w=np.maximum(fields["available_w"] - c, 0.0),
                        it_committed_w=c, marginal_pue=fields["marginal_pue"],
                        pue=fields["pue"], carbon_intensity_g_per_kwh=fields["carbon"],
                        price_per_kwh=fields["price"], currency=self.currency)


def scale_sites(sites, factor: float) -> list:
    """The sites with their IT capacity and GPUs, PV, wind turbines (rounded to whole ones),
    battery and grid connection multiplied by ``factor``."""
    if not factor > 0:
        raise ValueError(f"scale must be > 0; got {factor}")
    if factor == 1:
        return list(sites)
    out = []
    for s in sites:
        out.append(s.model_copy(update={
            "it": s.it.model_copy(update={"capacity_w": s.it.capacity_w * factor,
                                          "gpu_count": max(1, round(s.it.gpu_count * factor))}),
            "pv": s.pv.model_copy(update={"capacity_wp": s.pv.capacity_wp * factor}),
            "wind": s.wind.model_copy(update={"turbine_count": round(s.wind.turbine_count *
                                                                     factor)}),
            "battery": s.battery.model_copy(update={"energy_wh": s.battery.energy_wh * factor,
                                                    "power_w": s.battery.power_w * factor}),
            "grid": s.grid.model_copy(update={"import_capacity_w": s.grid.import_capacity_w *
                                              factor})}))
    return out


def region_round_trips(regions, sites) -> np.ndarray:
    """Fibre round trip [ms] ``(R, S)`` from each user region to each site."""
    lat = np.array([s.latitude for s in sites])
    lon = np.array([s.longitude for s in sites])
    return np.array([round_trip_ms(*REGIONS[r], lat, lon) for r in regions]).reshape(
        len(regions), len(sites))


def serve_inference(demand_w: np.ndarray, allowed: np.ndarray, rtt: np.ndarray,
                    planning: Planning, committed: np.ndarray) -> np.ndarray:
    """Inference IT power served ``(R, S, T)`` [W]: each region (in order) at its ``allowed``
    ``(R, S)`` sites, hour by hour, first on the renewable headroom (the nearest site first),
    then on the free capacity of the site where a grid watt emits least (marginal PUE x carbon
    intensity). ``committed`` ``(S, T)`` is updated in place. What finds no capacity is
    unserved (demand minus the sum over sites)."""
    n_r, n_s = allowed.shape
    served = np.zeros((n_r, n_s, demand_w.shape[1]))
    grid_score = planning.marginal_pue * planning.carbon
    hours = np.arange(demand_w.shape[1])
    for r in range(n_r):
        left = demand_w[r].copy()
        for _ in range(2 * int(allowed[r].sum()) + 1):
            free = planning.capacity_w[:, None] - committed
            head = np.minimum(np.maximum(planning.available_w - committed, 0.0), free)
            has_head = head > CAPACITY_TOLERANCE_W
            # a renewable watt costs nothing (nearest first); a grid watt its emissions
            score = np.where(has_head, rtt[r][:, None] * 1e-9, 1.0 + grid_score)
            usable = allowed[r][:, None] & (free > CAPACITY_TOLERANCE_W)
            score = np.where(usable, score, np.inf)
            best = np.argmin(score, axis=0)
            ok = np.isfinite(score[best, hours]) & (left > 0)
            if not ok.any():
                break
            room = np.where(has_head[best, hours], head[best, hours], free[best, hours])
            amount = np.where(ok, np.minimum(left, room), 0.0)
            served[r, best, hours] += amount
            committed[best, hours] += amount
            left -= amount
    return served


def _earliest_fit(free: np.ndarray, power: float, d: int, interruptible: bool):
    """The earliest-ending placement over ``free`` ``(S', n)`` [W]: (row, hour indices) or
    None; rigid jobs ``d`` consecutive hours, interruptible ones the first ``d`` hours with
    room."""
    ok = free >= power - CAPACITY_TOLERANCE_W
    n = ok.shape[1]
    if n < d:
        return None
    if interruptible:
        count = np.cumsum(ok, axis=1)
        done = np.where(count[:, -1] >= d, np.argmax(count >= d, axis=1), n)
        row = int(np.argmin(done))
        if done[row] >= n:
            return None
        return row, np.flatnonzero(ok[row, :done[row] + 1])[:d]
    fits = _window_sums((~ok).astype(float), d) == 0
    first = np.where(fits.any(axis=1), np.argmax(fits, axis=1), n)
    row = int(np.argmin(first))
    if first[row] >= n:
        return None
    return row, first[row] + np.arange(d)


@dataclass
class Placed:
    """The training jobs' outcome: per job the site row (-1 refused), status (JOB_STATUS index)
    and the hours from its arrival to its end (NaN refused); the jobs' IT power ``(S, T)``
    [W] and the scheduler's wall time [s]."""

    row: np.ndarray
    status: np.ndarray
    end_h: np.ndarray
    power_w: np.ndarray
    scheduler_s: float


def place_training(workload: Workload, planning: Planning, committed: np.ndarray, policy: str,
                   objective: str = "carbon", max_delay_h: int = DEFAULT_MAX_DELAY_H,
                   known: Planning | None = None, known_h: int = 0) -> Placed:
    """The training jobs placed in order of arrival under ``policy`` (module docstring, step 3)
    against ``committed`` ``(S, T)`` [W], which is updated in place; each on ``planning``,
    its first ``known_h`` hours from its arrival on ``known`` (a perfect short-term
    forecast)."""
    jobs = workload.training
    n_s, n_t = committed.shape
    rows = {s: i for i, s in enumerate(planning.site_ids)}
    start = planning.time.get_indexer(jobs.arrival)
    if (start < 0).any():
        raise ValueError(f"training job {jobs.name[int(np.argmax(start < 0))]!r} arrives "
                         "outside the simulated year")
    power = np.zeros((n_s, n_t))
    row_of, status = np.full(len(jobs), -1), np.full(len(jobs), JOB_STATUS.index("refused"))
    end_h = np.full(len(jobs), np.nan)
    order = np.lexsort((np.arange(len(jobs)), start))
    seconds = 0.0
    for j in order:
        a, d, p = int(start[j]), int(jobs.duration_h[j]), float(jobs.it_power_w[j])
        deadline = a + int(jobs.deadline_h[j])
        last = min(n_t, deadline + max_delay_h)
        home = rows[jobs.site[j]]
        tick = clock.perf_counter()
        hours = None
        if policy != "isolated":
            job = Job(it_power_w=p, duration_h=d, earliest_start=planning.time[a],
                      deadline=planning.time[a] + jobs.deadline_h[j] * HOUR,
                      interruptible=bool(jobs.interruptible[j]), name=str(jobs.name[j]))
            try:
                timeline = planning.timeline(committed, a, min(deadline, n_t), known, known_h)
                best = search_windows(timeline, job, objective, limit=1)[0]
                row = rows[best.site]
                hours = a + planning.time[a:min(deadline, n_t)].get_indexer(
                    pd.DatetimeIndex(best.hours))
            except JobDoesNotFit:
                hours = None
        if hours is None:
            candidates = np.array([home]) if policy == "isolated" else np.arange(n_s)
            free = planning.capacity_w[candidates, None] - committed[candidates, a:last]
            fit = _earliest_fit(free, p, d, bool(jobs.interruptible[j]))
            if fit is not None:
                row, hours = int(candidates[fit[0]]), a + fit[1]
        seconds += clock.perf_counter() - tick
        if hours is not None:
            committed[row, hours] += p
            power[row, hours] += p
            row_of[j] = row
            end_h[j] = hours[-1] + 1 - a
            status[j] = JOB_STATUS.index("on_time" if hours[-1] < deadline else "late")
    return Placed(row_of, status, end_h, power, seconds)


def _site_weather(sites, year: int, seed: int) -> dict:
    return {s.id: s.weather(year=year, seed=seed) for s in sites}


def run_fleet(sites, workload: Workload, *, year: int = 2025, seed: int = 0,
              policies=POLICIES, objective: str = "carbon",
              max_delay_h: int = DEFAULT_MAX_DELAY_H, forecast_seed: int | None = None,
              known_h: int = 0,
              weather=None, progress: Callable[[str], None] | None = None) -> xr.Dataset:
    """The fleet ``sites`` (catalog Site objects) running ``workload`` for ``year`` under each
    of ``policies`` (module docstring). ``weather``: the actual weather (a mapping site id ->
    Dataset; default the synthetic year ``year``/``seed`` of each site);
    ``forecast_seed``: the synthetic year ``linked-forecast`` plans on (default ``seed + 1``);
    ``known_h``: hours from each decision that ``linked-forecast`` knows exactly (a perfect
    short-term forecast, default 0: climatology only; from 1 the current hour is known, so
    inference is routed on the actual weather).
    Returns the CF Dataset (dims policy, site, time, region, job)."""
    report = progress or (lambda step: None)
    unknown = [p for p in policies if p not in POLICIES]
    if unknown or not policies:
        raise ValueError(f"unknown policy {', '.join(unknown) or '(none)'}; known: "
                         f"{', '.join(POLICIES)}")
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; known: {', '.join(OBJECTIVES)}")
    if max_delay_h < 0:
        raise ValueError(f"max_delay_h must be >= 0; got {max_delay_h}")
    if known_h < 0:
        raise ValueError(f"known_h must be >= 0; got {known_h}")
    sites = list(sites)
    ids = [s.id for s in sites]
    unknown_home = sorted(set(workload.training.site) - set(ids)) + \
        sorted(set(workload.inference.home) - set(ids))
    if unknown_home:
        raise ValueError(f"the workload has site(s) {', '.join(unknown_home)} that are not in "
                         f"the fleet ({', '.join(ids)})")
    capacity = np.array([s.it.capacity_w for s in sites])
    report("weather")
    actual_wx = weather if weather is not None else _site_weather(sites, year, seed)
    report("planning")
    actual = simulate(actual_wx, sites, year=year, battery_policy=PLANNING_BATTERY_POLICY)
    plans = {"actual": Planning.from_dataset(actual, capacity)}
    if "linked-forecast" in policies:
        fseed = seed + 1 if forecast_seed is None else forecast_seed
        forecast = simulate(_site_weather(sites, year, fseed), sites, year=year,
                            battery_policy=PLANNING_BATTERY_POLICY)
        plans["forecast"] = Planning.from_dataset(forecast, capacity)
    time = plans["actual"].time
    inference = workload.inference
    if inference.demand_w.shape[1] != time.size:
        raise ValueError(f"inference demand has {inference.demand_w.shape[1]} hours; the year "
                         f"has {time.size}")
    rtt = region_round_trips(inference.regions, sites)
    home_rows = np.array([ids.index(h) for h in inference.home], dtype=int)
    per_policy, timing = [], {}
    for policy in policies:
        report(policy)
        planning = plans["forecast" if policy == "linked-forecast" else "actual"]
        committed = np.zeros((len(sites), time.size))
        if policy == "isolated":
            allowed = np.zeros(rtt.shape, dtype=bool)
            allowed[np.arange(len(home_rows)), home_rows] = True
        else:
            allowed = rtt <= inference.budget_ms[:, None]
            allowed[np.arange(len(home_rows)), home_rows] = True  # home is always allowed
        tick = clock.perf_counter()
        forecast_known = policy == "linked-forecast" and known_h > 0
        served = serve_inference(inference.demand_w, allowed, rtt,
                                 plans["actual"] if forecast_known else planning, committed)
        inference_s = clock.perf_counter() - tick
        placed = place_training(workload, planning, committed, policy, objective, max_delay_h,
                                plans["actual"] if forecast_known else None, known_h)
        timing[policy] = {"inference_s": round(inference_s, 3),
                          "training_s": round(placed.scheduler_s, 3)}
        it_load = served.sum(axis=0) + placed.power_w
        utilisation = np.clip(it_load / capacity[:, None], 0.0, 1.0)
        report(f"{policy}: facility")
        physics = simulate(actual_wx, sites, year=year, utilisation=utilisation, until="balance")
        per_policy.append(_policy_dataset(physics, served, placed, inference, rtt, ids))
    report("dataset")
    ds = xr.concat(per_policy, dim="policy", data_vars="all", coords="minimal",
                   compat="override", join="override")
    ds = ds.assign_coords(policy=np.array(policies, dtype=str))
    ds = _describe(ds, workload, sites, capacity, rtt, year, seed, objective, max_delay_h,
                   known_h, timing, actual.attrs)
    return ds


def _policy_dataset(physics: xr.Dataset, served, placed: Placed, inference, rtt, ids):
    dims = ("site", "time")
    inference_power = served.sum(axis=0)
    served_region = served.sum(axis=1)  # (R, T)
    short = inference.demand_w - served_region  # rounding below the tolerance is no shortfall
    with np.errstate(invalid="ignore", divide="ignore"):
        latency = np.einsum("rst,rs->rt", served, rtt) / served_region
    site_label = np.array([ids[r] if r >= 0 else "" for r in placed.row], dtype=object)
    out = xr.Dataset({
        **{v: physics[v].transpose(*dims).drop_vars(
            [c for c in physics[v].coords if c not in dims]) for v in SITE_RESULTS},
        "training_power": (dims, placed.power_w),
        "inference_power": (dims, inference_power),
        "inference_served": (("region", "time"), served_region),
        "inference_unserved": (("region", "time"), np.where(short > CAPACITY_TOLERANCE_W,
                                                            short, 0.0)),
        "inference_latency": (("region", "time"), latency),
        "job_site": ("job", site_label),
        "job_status": ("job", placed.status.astype(np.int8)),
        "job_finish": ("job", placed.end_h),
    }, coords={"site": ids, "time": physics["time"].values})
    return out


def _describe(ds, workload: Workload, sites, capacity, rtt, year, seed, objective, max_delay_h,
              known_h, timing, simulate_attrs) -> xr.Dataset:
    jobs, inference = workload.training, workload.inference
    ds = ds.assign_coords(
        region=list(inference.regions), job=list(jobs.name),
        latitude=("site", [s.latitude for s in sites]),
        longitude=("site", [s.longitude for s in sites]),
        altitude=("site", [s.altitude_m for s in sites]),
        name=("site", [s.name for s in sites]))
    ds["it_capacity"] = ("site", capacity)
    ds["round_trip"] = (("region", "site"), rtt)
    ds["inference_home"] = ("region", list(inference.home))
    ds["inference_budget"] = ("region", inference.budget_ms)
    ds["inference_demand"] = (("region", "time"), inference.demand_w)
    ds["job_home"] = ("job", jobs.site)
    ds["job_arrival"] = ("job", jobs.arrival.tz_localize(None).values)
    ds["job_it_power"] = ("job", jobs.it_power_w)
    ds["job_duration"] = ("job", jobs.duration_h.astype(float))
    ds["job_deadline"] = ("job", jobs.deadline_h.astype(float))
    ds["job_interruptible"] = ("job", jobs.interruptible.astype(np.int8))
    ds = hourly_time(ds)
    ds = annotate(ds)
    ds["site"].attrs["cf_role"] = "timeseries_id"
    ds["job_status"].attrs.update(flag_values=np.arange(len(JOB_STATUS), dtype=np.int8),
                                  flag_meanings=" ".join(JOB_STATUS))
    ds["job_arrival"].encoding.update(units=f"hours since {year}-01-01 00:00:00",
                                      calendar="standard", dtype="int32")
    ds["grid_cost"].attrs["currency"] = sites[0].grid.currency
    ds.attrs.update({
        "Conventions": CONVENTIONS,
        "title": "desert-twin fleet over a year: training and inference placed under each "
                 "policy, facility power and power balance per site",
        "time_convention": "UTC; each label is the start of its hour; powers are the hour's mean",
        "policies": json.dumps({
            "isolated": "each job at its home site, first come first served; inference at its "
                        "home site",
            "linked": "jobs at any site by the scheduler (objective), planned on the actual "
                      "weather; inference at any site within its latency budget",
            "linked-forecast": "as linked, planned on another synthetic weather year of the same "
                               "normals (the first known_h hours from each decision on the "
                               "actual weather), run on the actual weather"}),
        "objective": objective, "max_delay_h": max_delay_h, "known_h": known_h,
        "weather_source": simulate_attrs.get("weather_source", ""),
        "site_configuration": simulate_attrs.get("site_configuration", ""),
        "weather_seed": seed,
        "workload": f"{len(jobs)} training jobs, {len(inference.regions)} inference regions "
                    "(twin.workload)",
        "scheduler_seconds": json.dumps(timing),
        "twin_version": __version__,
        "history": f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ} twin.fleet",
    })
    return ds


def fleet_summary(ds: xr.Dataset, by_site: bool = False) -> pd.DataFrame:
    """The year per policy (rows; per policy and site with ``by_site``): IT energy served
    [MWh], utilisation of installed IT capacity, renewable fraction of facility energy, grid
    energy [MWh], tCO2, cost, curtailed [MWh], training jobs on time / late / refused (at the
    site run, refused at their home site), inference unserved [MWh] and its mean round trip
    [ms] (fleet-wide rows only)."""
    keep = ("policy", "site") if by_site else ("policy",)
    over = [d for d in ("site", "time") if d not in keep]

    def total(v):
        return ds[v].sum(over)

    it_served = total("training_power") + total("inference_power")
    facility = total("facility_power")
    grid = total("grid_import")
    frame = pd.DataFrame({
        "it_energy_mwh": (it_served / 1e6).to_series(),
        "utilisation": (it_served / (ds["it_capacity"].sum([d for d in ("site",) if d in over])
                                     * ds.sizes["time"])).to_series(),
        "renewable_fraction": (1.0 - (grid + total("unserved_power")) / facility).to_series(),
        "grid_mwh": (grid / 1e6).to_series(),
        "emissions_t": (total("grid_emissions") / 1e3).to_series(),
        "cost": total("grid_cost").to_series(),
        "curtailed_mwh": (total("curtailment") / 1e6).to_series(),
        "mean_pue": (facility / total("it_power")).to_series(),
    })
    status = ds["job_status"]
    site_of = xr.where(status == JOB_STATUS.index("refused"), ds["job_home"], ds["job_site"])
    for k, name in enumerate(JOB_STATUS):
        if by_site:
            counts = {(p, s): int(((status.sel(policy=p) == k) &
                                   (site_of.sel(policy=p) == s)).sum())
                      for p in ds["policy"].values for s in ds["site"].values}
            frame[f"jobs_{name}"] = pd.Series(counts)
        else:
            frame[f"jobs_{name}"] = (status == k).sum("job").to_series()
    if not by_site:
        frame["inference_unserved_mwh"] = (ds["inference_unserved"].sum(("region", "time"))
                                           / 1e6).to_series()
        frame["inference_rtt_ms"] = ((ds["inference_latency"].fillna(0) *
                                      ds["inference_served"]).sum(("region", "time"))
                                     / ds["inference_served"].sum(("region", "time"))
                                     ).to_series()
    frame.index.names = list(keep)
    return frame
