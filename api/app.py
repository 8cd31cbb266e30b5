"""The FastAPI app: ``create_app(settings)``. Thin over ``twin/``: the twin's hourly results
(``api.data``), the scheduler (``twin.schedule``) and the reservations (``api.store``).

Every answer derived from the twin says which time data it used (``data_mode``: the climate
year mapped onto calendar dates). Every bad request gets a 4xx with a reason."""

from __future__ import annotations

import functools
import gzip
import io
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from importlib import metadata, resources
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from api import schemas
from api.data import TIMESERIES, TwinData, ceil_hour, hours
from api.settings import Settings
from api.store import Block, CapacityExceeded, IdempotencyConflict, Store
from twin import __version__
from twin.latency import region_location, round_trip_ms
from twin.schedule import HOUR, Assignment, Job, JobDoesNotFit, plan, search_windows
from twin.variables import W_PER_MW, to_mw

API_KEY_HEADER = "X-API-Key"
STATIC = Path(__file__).with_name("static")  # the dashboard page, its script and style


class BodyLimit:
    """ASGI middleware refusing request bodies over ``limit`` bytes with 413, whether or not
    the client sent a Content-Length."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await self._refuse(scope, receive, send)

        replayed = False

        async def replay():
            # the body once, then the client's own messages: a file or streaming response
            # waits for http.disconnect, and a replay forever would spin it
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send):
        response = JSONResponse({"detail": f"request body over {self.limit} bytes"}, 413)
        await response(scope, receive, send)


# async: FastAPI would run plain functions in its thread pool, a hop each per request
async def _twin_data(request: Request) -> TwinData:
    return request.app.state.data


async def _store(request: Request) -> Store:
    return request.app.state.store


async def _tenant(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> str:
    keys = request.app.state.settings.api_keys
    if not x_api_key:
        raise HTTPException(401, f"this needs an API key in the {API_KEY_HEADER} header")
    if x_api_key not in keys:
        raise HTTPException(401, "unknown API key")
    return keys[x_api_key]


# dependencies of the routes (module level: FastAPI resolves the annotations here)
Data = Annotated[TwinData, Depends(_twin_data)]
Reservations = Annotated[Store, Depends(_store)]
Tenant = Annotated[str, Depends(_tenant)]


def holds(a: Assignment) -> list[dict]:
    """A planned job's runs as blocks of constant IT power [MW] over consecutive hours at one
    site, in time order per site."""
    blocks = []
    for site, t, fraction in sorted(a.runs):
        mw = to_mw(a.job.it_power_w * fraction)
        last = blocks[-1] if blocks else {}
        if (last.get("site"), last.get("end"), last.get("it_power_mw")) == (site, t, mw):
            last["end"] = t + HOUR
        else:
            blocks.append({"site": site, "start": t, "end": t + HOUR, "it_power_mw": mw})
    return blocks


def readable(errors) -> str:
    """Validation errors as one line: ``where: what`` for each, ``;``-separated."""
    return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                     for e in errors)


def create_app(settings: Settings | None = None, data: TwinData | None = None,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    """The service. ``data``: the twin's results (computed at start-up when None; tests share
    one); ``clock``: the current UTC time."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if getattr(app.state, "data", None) is None:
            app.state.data = TwinData(settings.year, settings.seed, settings.battery_policy,
                                      settings.sites_dir, settings.forecast_dir)
        yield

    problem = {"model": schemas.Problem}
    app = FastAPI(title="desert-twin scheduling service", version=__version__,
                  lifespan=lifespan, description=__doc__,
                  responses={400: problem, 413: problem, 422: problem})
    app.state.settings, app.state.store, app.state.data = settings, Store(settings.db_path), data
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    def known_sites(d: TwinData, ids: list[str] | None) -> list[str]:
        if ids is None:
            return list(d.catalog)
        if not ids:
            raise HTTPException(422, "sites is empty: leave it out to allow every site")
        unknown = [s for s in ids if s not in d.catalog]
        if unknown:
            raise HTTPException(422, f"unknown site(s) {', '.join(unknown)}; known: "
                                     f"{', '.join(d.catalog)}")
        return list(dict.fromkeys(ids))

    def period(start: datetime, end: datetime) -> pd.DatetimeIndex:
        if end <= start:
            raise HTTPException(422, f"end {end:%Y-%m-%dT%H:%MZ} is not after start "
                                     f"{start:%Y-%m-%dT%H:%MZ}")
        if end - start > timedelta(hours=settings.max_horizon_h):
            raise HTTPException(422, f"the period is longer than the service's horizon of "
                                     f"{settings.max_horizon_h} h")
        return hours(start, end)

    def site_out(d: TwinData, site_id: str) -> dict:
        s = d.catalog[site_id]
        return {"id": s.id, "name": s.name, "province": s.province, "role": s.role,
                "latitude": s.latitude, "longitude": s.longitude, "altitude_m": s.altitude_m,
                "it_capacity_mw": to_mw(s.it.capacity_w), "annual": d.site_summary(site_id)}

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError):
        # the Carbon Aware SDK answers bad parameters with 400; the rest of the API with 422
        status = 400 if request.url.path.startswith("/emissions/") else 422
        return JSONResponse({"detail": readable(err.errors())}, status)

    @app.exception_handler(JobDoesNotFit)
    async def _no_fit(request, err: JobDoesNotFit):
        return JSONResponse({"detail": str(err)}, 422)

    @app.exception_handler(CapacityExceeded)
    @app.exception_handler(IdempotencyConflict)
    async def _conflict(request, err: Exception):
        return JSONResponse({"detail": str(err)}, 409)

    errors = {404: problem}

    def existing(d: TwinData, site_id: str) -> str:
        if site_id not in d.catalog:
            raise HTTPException(404, f"no site {site_id!r}; known: {', '.join(d.catalog)}")
        return site_id

    @app.get("/v1/sites", response_model=list[schemas.SiteOut])
    def list_sites(d: Data):
        """The catalog with each site's annual figures (renewable fraction, PUE, WUE, ...)."""
        return [site_out(d, s) for s in d.catalog]

    @app.get("/v1/sites/{site_id}", response_model=schemas.SiteDetailOut, responses=errors)
    def get_site(site_id: str, d: Data):
        """One site: its configuration and annual figures."""
        existing(d, site_id)
        return {**site_out(d, site_id), "configuration": d.configuration(site_id)}

    @app.get("/v1/sites/{site_id}/timeseries", response_model=schemas.TimeseriesOut,
             responses={**errors, 200: {"content": {"text/csv": {}}}})
    def timeseries(site_id: str, d: Data, r: Reservations,
                   start: schemas.QueryTime | None = None,
                   end: schemas.QueryTime | None = None,
                   variables: Annotated[str | None, Query(
                       description=f"comma-separated, of: {', '.join(TIMESERIES)}, "
                                   "it_headroom_w; default all")] = None,
                   format: Annotated[str, Query(pattern="^(json|csv)$")] = "json"):
        """Hourly values of one site between start and end (default: the next 24 h), including
        the IT headroom after every tenant's reservations."""
        existing(d, site_id)
        now = clock()
        start = start or now.replace(minute=0, second=0, microsecond=0)
        calendar = period(start, end or start + timedelta(hours=24))
        known = [*TIMESERIES, "it_headroom_w"]
        names = known if variables is None else [v.strip() for v in variables.split(",")]
        if unknown := [v for v in names if v not in known]:
            raise HTTPException(422, f"unknown variable(s) {', '.join(unknown)}; known: "
                                     f"{', '.join(known)}")
        values = {}
        for name in names:
            if name == "it_headroom_w":
                held = r.held([site_id], calendar[0], len(calendar), now)
                row = np.maximum(d.values("it_available_power", [site_id], calendar) - held, 0)
            else:
                row = d.values(TIMESERIES[name], [site_id], calendar)
            values[name] = row[0]
        if format == "csv":
            out = io.StringIO()
            pd.DataFrame(values, index=pd.Index(calendar, name="time")).to_csv(
                out, date_format="%Y-%m-%dT%H:%M:%SZ")
            return Response(out.getvalue(), media_type="text/csv",
                            headers={"X-Data-Mode": d.mode([site_id], calendar)})
        return {"site": site_id, "data_mode": d.mode([site_id], calendar), "time": list(calendar),
                "values": {k: [None if np.isnan(x) else float(x) for x in v]
                           for k, v in values.items()}}

    def job_from(body: schemas.JobIn, now: datetime, allowed: list[str]) -> Job:
        earliest, deadline = ceil_hour(max(body.earliest_start or now, now)), body.deadline
        if deadline - earliest > timedelta(hours=settings.max_horizon_h):
            raise HTTPException(422, f"from {earliest:%Y-%m-%dT%H:%MZ} to the deadline is more "
                                     f"than the service's horizon of {settings.max_horizon_h} h")
        try:
            return Job(it_power_w=body.it_power_w(), duration_h=body.duration_h,
                       earliest_start=pd.Timestamp(earliest), deadline=pd.Timestamp(deadline),
                       sites=tuple(allowed), interruptible=body.interruptible, name=body.name)
        except ValueError as err:
            raise HTTPException(422, str(err)) from None

    def round_trips(d: TwinData, body: schemas.JobIn, site_ids: list[str]) -> dict[str, float]:
        """Fibre round trip [ms] from the job's user region to each site (0 without one)."""
        if body.user_region is None:
            return dict.fromkeys(site_ids, 0.0)
        lat, lon = region_location(body.user_region)
        rtt = round_trip_ms(lat, lon, [d.catalog[s].latitude for s in site_ids],
                            [d.catalog[s].longitude for s in site_ids], settings.route_factor)
        return dict(zip(site_ids, np.atleast_1d(rtt).tolist()))

    def within_budget(d: TwinData, body: schemas.JobIn) -> tuple[list[str], dict[str, float]]:
        """The allowed sites the job's latency budget admits, and their round trips."""
        allowed = known_sites(d, body.sites)
        rtt = round_trips(d, body, allowed)
        if body.latency_budget_ms is not None:
            near = [s for s in allowed if rtt[s] <= body.latency_budget_ms]
            if not near:
                best = min(allowed, key=rtt.get)
                raise HTTPException(422, f"no allowed site is within {body.latency_budget_ms:g} "
                                         f"ms of {body.user_region}: the nearest, {best}, is "
                                         f"{rtt[best]:.1f} ms away (fibre round trip)")
            allowed = near
        return allowed, rtt

    def option_out(d: TwinData, o, rtt: dict[str, float], interruptible: bool) -> dict:
        return {"site": o.site, "start": o.start, "end": o.end, "round_trip_ms": rtt[o.site],
                "hours": list(o.hours) if interruptible else None,
                "renewable_fraction": o.renewable_fraction,
                "grid_energy_mwh": to_mw(o.grid_energy_wh), "emissions_kg_co2": o.emissions_kg,
                "cost": o.cost, "currency": d.currency, "mean_pue": o.mean_pue,
                "run_now": o.run_now}

    @app.post("/v1/windows:search", response_model=schemas.SearchOut,
              responses={422: {"model": schemas.Problem}})
    def search(body: schemas.SearchIn, d: Data, r: Reservations):
        """Ranked (site, start) options for one job by grid energy, carbon or cost, best first;
        the "run now" option (flagged, and appended when not ranked) for comparison. Headroom
        counts every tenant's reservations."""
        now = clock()
        allowed, rtt = within_budget(d, body)
        job = job_from(body, now, allowed)
        calendar = hours(job.earliest_start, ceil_hour(job.deadline))
        held = r.held(allowed, calendar[0], len(calendar), now)
        options = search_windows(d.timeline(allowed, calendar, held), job, body.objective,
                                 limit=body.limit)
        run_now = next((o for o in options if o.run_now), None)
        return {"data_mode": d.mode(allowed, calendar), "objective": body.objective,
                "it_power_mw": to_mw(job.it_power_w),
                "options": [option_out(d, o, rtt, job.interruptible) for o in options],
                "run_now": None if run_now is None else option_out(d, run_now, rtt,
                                                                   job.interruptible)}

    @app.get("/emissions/forecasts/current", tags=["Carbon Aware SDK"],
             responses={400: {"model": schemas.Problem}})
    def carbon_aware_forecast(d: Data, location: Annotated[list[str], Query()],
                              dataStartAt: schemas.QueryTime | None = None,  # noqa: N803 (SDK)
                              dataEndAt: schemas.QueryTime | None = None,  # noqa: N803
                              windowSize: Annotated[int | None, Query(gt=0)] = None):  # noqa: N803
        """Green Software Foundation Carbon Aware SDK ``GetCurrentForecastData``: for each
        location (site id), the carbon intensity [g CO2 / kWh] of the site's electricity each
        hour (grid share of the facility's supply, on-site renewables and battery counted, times
        the grid's intensity), averaged over windowSize minutes (default 60) from each hour
        start, and the optimal (lowest) window. Bad parameters get 400, as in the SDK."""
        now = clock()
        if unknown := [s for s in location if s not in d.catalog]:
            raise HTTPException(400, f"unknown location(s) {', '.join(unknown)}; known: "
                                     f"{', '.join(d.catalog)}")
        start = dataStartAt or now.replace(minute=0, second=0, microsecond=0)
        end = dataEndAt or start + timedelta(hours=24)
        window_h = max(1, -(-(windowSize or 60) // 60))
        if end <= start or end - start > timedelta(hours=settings.max_horizon_h):
            raise HTTPException(400, f"dataStartAt..dataEndAt must be a period of at most "
                                     f"{settings.max_horizon_h} h")
        calendar = hours(start, end + timedelta(hours=window_h - 1))
        with np.errstate(invalid="ignore", divide="ignore"):
            share = d.values("grid_import", location, calendar) / d.values(
                "facility_power", location, calendar)
        intensity = np.nan_to_num(share) * d.values("carbon_intensity", location, calendar)
        n = len(calendar) - window_h + 1
        if n < 1:
            raise HTTPException(400, "windowSize is longer than the data period")
        windows = np.lib.stride_tricks.sliding_window_view(intensity, window_h, axis=1).mean(2)
        out = []
        for i, site in enumerate(location):
            points = [{"location": site, "timestamp": t, "duration": window_h * 60,
                       "value": float(v)} for t, v in zip(calendar[:n], windows[i])]
            best = min(v["value"] for v in points)
            out.append({"generatedAt": now, "requestedAt": now, "location": site,
                        "dataStartAt": calendar[0], "dataEndAt": calendar[n - 1],
                        "windowSize": window_h * 60,
                        "optimalDataPoints": [p for p in points if p["value"] == best],
                        "forecastData": points})
        return out

    @app.post("/v1/plans", response_model=schemas.PlanOut,
              responses={422: {"model": schemas.Problem}})
    def make_plan(body: schemas.PlanIn, d: Data, r: Reservations):
        """Many jobs at once, jointly over sites and hours (HiGHS through highspy: a
        linear programme for interruptible jobs, a mixed-integer one for rigid jobs) within a
        time limit, the gap reported; the greedy plan when the solver finds none. Headroom
        counts every tenant's reservations; the plan holds nothing: POST its jobs' ``holds``
        to /v1/reservations:batch to hold it."""
        if len(body.jobs) > settings.max_jobs:
            raise HTTPException(422, f"{len(body.jobs)} jobs: at most {settings.max_jobs} per "
                                     "plan")
        now = clock()
        jobs = []
        for i, spec in enumerate(body.jobs):
            if not spec.name:
                spec = spec.model_copy(update={"name": f"job {i}"})
            jobs.append(job_from(spec, now, within_budget(d, spec)[0]))
        site_ids = [s for s in d.catalog if any(s in j.sites for j in jobs)]
        start = min(j.earliest_start for j in jobs)
        end = ceil_hour(max(j.deadline for j in jobs))
        if end - start > timedelta(hours=settings.max_horizon_h):
            raise HTTPException(422, f"the jobs span {start:%Y-%m-%dT%H:%MZ}..{end:%Y-%m-%dT%H:%MZ}"
                                     f", more than the service's horizon of "
                                     f"{settings.max_horizon_h} h")
        calendar = hours(start, end)
        held = r.held(site_ids, calendar[0], len(calendar), now)
        result = plan(d.timeline(site_ids, calendar, held), jobs, body.objective,
                      min(body.time_limit_s or settings.plan_time_limit_s,
                          settings.plan_time_limit_s))
        return {"data_mode": d.mode(site_ids, calendar), "objective": body.objective,
                "method": result.method,
                "status": result.status, "objective_value": result.objective_value,
                "mip_gap": None if not np.isfinite(result.mip_gap) else result.mip_gap,
                "solve_seconds": result.solve_seconds,
                "grid_energy_mwh": to_mw(result.grid_energy_wh),
                "emissions_kg_co2": result.emissions_kg, "cost": result.cost,
                "currency": d.currency,
                "assignments": [{"name": a.job.name, "it_power_mw": to_mw(a.job.it_power_w),
                                 "sites": list(a.sites), "start": a.start, "end": a.end,
                                 "runs": [{"site": s, "start": t, "fraction": f}
                                          for s, t, f in a.runs], "holds": holds(a)}
                                for a in result.assignments]}

    def block(d: TwinData, spec: schemas.BlockIn) -> Block:
        known_sites(d, [spec.site])
        if spec.start != ceil_hour(spec.start) or spec.end != ceil_hour(spec.end):
            raise HTTPException(422, "start and end must be whole UTC hours")
        period(spec.start, spec.end)
        return Block(spec.site, spec.start, spec.end, spec.it_power_mw * W_PER_MW,
                     d.catalog[spec.site].it.capacity_w)

    def reservation_out(res, now: datetime) -> dict:
        out = res.as_dict(now)
        out["it_power_mw"] = to_mw(out.pop("it_power_w"))
        return {k: v for k, v in out.items() if k != "tenant" and k != "cancelled"}

    @app.post("/v1/reservations", response_model=schemas.ReservationOut, status_code=201,
              responses={200: {"model": schemas.ReservationOut, "description": "replayed"},
                         401: {"model": schemas.Problem}, 409: {"model": schemas.Problem},
                         422: {"model": schemas.Problem}})
    def reserve(body: schemas.ReservationIn, t: Tenant, d: Data, r: Reservations,
                idempotency_key: Annotated[str | None, Header(max_length=200)] = None):
        """Hold IT power at a site over whole UTC hours; never more than the site's IT capacity
        in any hour, across all tenants. Replaying the same Idempotency-Key returns the first
        answer (200) instead of holding twice."""
        now = clock()
        ttl = timedelta(seconds=body.ttl_s or settings.reservation_ttl_s)
        res, created = r.reserve(t, [block(d, body)], ttl, now, idempotency_key)
        return JSONResponse(schemas.ReservationOut(**reservation_out(res[0], now)).model_dump(
            mode="json"), 201 if created else 200)

    @app.post("/v1/reservations:batch", response_model=list[schemas.ReservationOut],
              status_code=201,
              responses={200: {"model": list[schemas.ReservationOut], "description": "replayed"},
                         401: {"model": schemas.Problem}, 409: {"model": schemas.Problem},
                         422: {"model": schemas.Problem}})
    def reserve_all(body: schemas.ReservationsIn, t: Tenant, d: Data, r: Reservations,
                    idempotency_key: Annotated[str | None, Header(max_length=200)] = None):
        """Hold every block or none, in one transaction (e.g. a plan's holds, which may put
        several jobs on the same site-hours): 409 naming the first block that does not fit,
        nothing held. Replaying the same Idempotency-Key returns the first answer (200)."""
        now = clock()
        blocks = []
        for i, spec in enumerate(body.reservations):
            try:
                blocks.append(block(d, spec))
            except HTTPException as e:
                raise HTTPException(e.status_code, f"reservations[{i}]: {e.detail}") from e
        ttl = timedelta(seconds=body.ttl_s or settings.reservation_ttl_s)
        res, created = r.reserve(t, blocks, ttl, now, idempotency_key)
        return JSONResponse([schemas.ReservationOut(**reservation_out(x, now)).model_dump(
            mode="json") for x in res], 201 if created else 200)

    @app.get("/v1/reservations", response_model=list[schemas.ReservationOut],
             responses={401: {"model": schemas.Problem}})
    def list_reservations(t: Tenant, r: Reservations):
        """The tenant's reservations (held, expired and cancelled)."""
        now = clock()
        return [reservation_out(x, now) for x in r.list(t)]

    @app.get("/v1/reservations/{reservation_id}", response_model=schemas.ReservationOut,
             responses={401: {"model": schemas.Problem}, 404: {"model": schemas.Problem}})
    def get_reservation(reservation_id: str, t: Tenant, r: Reservations):
        res = r.get(reservation_id)
        if res is None or res.tenant != t:
            raise HTTPException(404, f"you have no reservation {reservation_id!r}")
        return reservation_out(res, clock())

    @app.delete("/v1/reservations/{reservation_id}", response_model=schemas.ReservationOut,
                responses={401: {"model": schemas.Problem}, 404: {"model": schemas.Problem}})
    def cancel_reservation(reservation_id: str, t: Tenant, r: Reservations):
        """Cancel one of the tenant's reservations: its capacity is free again at once."""
        res = r.cancel(reservation_id, t)
        if res is None:
            raise HTTPException(404, f"you have no reservation {reservation_id!r}")
        return reservation_out(res, clock())

    # the dashboard: one static page over the public API above; Plotly served from its package
    # (never a CDN), under a URL carrying its version, so browsers may cache it for good
    plotly_js = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    page = (STATIC / "index.html").read_text(encoding="utf-8").replace(
        "{{plotly_version}}", metadata.version("plotly"))

    @app.get("/", include_in_schema=False)
    def dashboard():
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @functools.cache
    def plotly_gzip() -> bytes:  # 4.8 MB -> 1.5 MB, compressed once per process
        return gzip.compress(plotly_js.read_bytes(), mtime=0)

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_bundle(accept_encoding: Annotated[str, Header()] = ""):
        headers = {"Cache-Control": "public, max-age=31536000, immutable",
                   "Vary": "Accept-Encoding"}
        if "gzip" in accept_encoding:
            return Response(plotly_gzip(), media_type="text/javascript",
                            headers={**headers, "Content-Encoding": "gzip"})
        return FileResponse(plotly_js, media_type="text/javascript", headers=headers)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")  # after plotly's route
    return app
