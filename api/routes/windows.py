"""Window search: ranked (site, start) options for one job, and the jobs of the API as the
scheduler's jobs (shared with plans)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api import schemas
from api.deps import Data, Now, Reservations, SettingsDep, refused
from api.rounding import RoundedJSONResponse
from api.schemas import time_text
from twin.latency import within_budget
from twin.schedule import Job, Option

router = APIRouter(prefix="/v1", tags=["scheduling"])


def job_from(d: Data, body: schemas.JobIn, now: datetime,
             settings: SettingsDep) -> tuple[Job, dict[str, float]]:
    """The scheduler's job of a request, at the allowed sites its latency budget admits, and
    the round trip [ms] to each allowed site; 422 with the twin's reason when it is not one."""
    with refused():
        allowed = d.known_sites(body.sites)
        near, rtt = within_budget(body.user_region, body.latency_budget_ms,
                                  {s: (d.catalog[s].latitude, d.catalog[s].longitude)
                                   for s in allowed}, settings.route_factor)
        job = d.job(it_power_w=body.power_w(), duration_h=body.duration_h,
                    deadline=body.deadline, now=now, earliest_start=body.earliest_start,
                    sites=near, interruptible=body.interruptible, name=body.name,
                    horizon_h=settings.max_horizon_h)
    return job, rtt


def option_out(d: Data, o: Option, rtt: dict[str, float], job: Job) -> dict:
    """An option as JSON data (schemas.OptionOut as pydantic renders it: times as text)."""
    return {"site": o.site, "start": time_text(o.start), "end": time_text(o.end),
            "round_trip_ms": float(rtt[o.site]),
            "hours": [time_text(t) for t in o.hours] if job.interruptible else None,
            "holds": [{"site": h.site, "start": time_text(h.start), "end": time_text(h.end),
                       "it_power_w": float(h.it_power_w)} for h in o.holds(job.it_power_w)],
            "renewable_fraction": o.renewable_fraction,
            "grid_energy_wh": o.grid_energy_wh, "emissions_kg_co2": o.emissions_kg,
            "cost": o.cost, "currency": d.currency, "mean_pue": o.mean_pue,
            "run_now": bool(o.run_now)}


@router.post("/windows:search", response_model=schemas.SearchOut,
             responses={422: {"model": schemas.Problem}})
async def search(body: schemas.SearchIn, d: Data, r: Reservations, settings: SettingsDep,
                 now: Now):
    """Ranked (site, start) options for one job by grid energy, carbon or cost, best first;
    the "run now" option (flagged, and appended when not ranked) for comparison. Headroom
    counts every tenant's reservations."""
    # async: the search's arithmetic (about 1 ms) runs in the event loop; in FastAPI's thread
    # pool it took 2.7 times the CPU (threads taking turns at the GIL). The ledger read, which
    # may wait for the database, goes to the thread pool alone, and only when the holds last
    # read for these sites and hours may have changed (Store.held_if_unchanged)
    job, rtt = job_from(d, body, now, settings)
    calendar = d.search_hours(job)
    sites = list(job.sites)
    held = r.held_if_unchanged(sites, calendar[0], len(calendar), now)
    if held is None:
        held = await run_in_threadpool(r.held, sites, calendar[0], len(calendar), now)
    options, mode = d.search(job, body.objective, body.limit, lambda sites, hours: held)
    run_now = next((o for o in options if o.run_now), None)
    # the answer as JSON data already (response_model documents it; tests/test_api.py checks
    # that pydantic renders it unchanged): validating it again cost a tenth of a search
    return RoundedJSONResponse({
        "data_mode": mode, "objective": body.objective, "it_power_w": job.it_power_w,
        "options": [option_out(d, o, rtt, job) for o in options],
        "run_now": None if run_now is None else option_out(d, run_now, rtt, job)})
