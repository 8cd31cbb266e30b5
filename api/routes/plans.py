"""Joint plans of many jobs over sites and hours."""

from __future__ import annotations

import time

import numpy as np
from fastapi import APIRouter, HTTPException, Request

from api import schemas
from api.deps import Data, Now, Reservations, SettingsDep, refused, reserved
from api.routes.windows import job_from
from api.settings import ENV_PREFIX
from twin.schedule_milp import MIN_SOLVE_S, problem_size

router = APIRouter(prefix="/v1", tags=["scheduling"])


def _holds_out(assignment) -> list[dict]:
    return [b._asdict() for b in assignment.holds()]


@router.post("/plans", response_model=schemas.PlanOut,
             responses={code: {"model": schemas.Problem} for code in (422, 503)})
def make_plan(body: schemas.PlanIn, d: Data, r: Reservations, settings: SettingsDep, now: Now,
              request: Request):
    """Many jobs at once, jointly over sites and hours (HiGHS through highspy: a
    linear programme for interruptible jobs, a mixed-integer one for rigid jobs) within a
    time limit, the gap reported; the greedy plan when the solver finds none. Headroom
    counts every tenant's reservations; the plan holds nothing: POST its jobs' ``holds``
    to /v1/reservations:batch to hold it."""
    started = time.perf_counter()
    if len(body.jobs) > settings.max_jobs:
        raise HTTPException(422, f"{len(body.jobs)} jobs: at most {settings.max_jobs} per plan")
    jobs = [job_from(d, spec if spec.name else spec.model_copy(update={"name": f"job {i}"}),
                     now, settings)[0] for i, spec in enumerate(body.jobs)]
    # the program's memory and building time grow with its matrix entries, which the solver's
    # time limit does not cover: too large a plan is refused before anything is built
    columns, entries = problem_size(jobs)
    if entries > settings.max_plan_nonzeros:
        raise HTTPException(422, f"this plan would need about {entries:,} matrix entries "
                                 f"({columns:,} columns): at most {settings.max_plan_nonzeros:,} "
                                 f"(setting {ENV_PREFIX}MAX_PLAN_NONZEROS); plan fewer or "
                                 "shorter jobs, over fewer sites or narrower windows")
    # the time limit counts from the request's start (the jobs' checks, the holds' query)
    limit = min(body.time_limit_s or settings.plan_time_limit_s, settings.plan_time_limit_s)
    slots = request.app.state.plan_slots
    if not slots.acquire(blocking=False):
        raise HTTPException(503, f"{settings.max_concurrent_plans} plan(s) are being solved "
                                 f"(setting {ENV_PREFIX}MAX_CONCURRENT_PLANS): retry shortly",
                            headers={"Retry-After": str(max(1, round(limit)))})
    try:
        with refused():
            result, mode = d.plan(jobs, body.objective,
                                  max(limit - (time.perf_counter() - started),
                                      min(limit, MIN_SOLVE_S)),
                                  reserved(r, now), settings.max_horizon_h)
    finally:
        slots.release()
    return {"data_mode": mode, "objective": body.objective, "method": result.method,
            "status": result.status, "objective_value": result.objective_value,
            "mip_gap": None if not np.isfinite(result.mip_gap) else result.mip_gap,
            "solve_seconds": result.solve_seconds,
            "grid_energy_wh": result.grid_energy_wh,
            "emissions_kg_co2": result.emissions_kg, "cost": result.cost,
            "currency": d.currency,
            "assignments": [{"name": a.job.name, "it_power_w": a.job.it_power_w,
                             "sites": list(a.sites), "start": a.start, "end": a.end,
                             "runs": [{"site": s, "start": t, "fraction": f}
                                      for s, t, f in a.runs], "holds": _holds_out(a)}
                            for a in result.assignments]}
