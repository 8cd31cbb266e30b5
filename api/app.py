"""The FastAPI app: ``create_app(settings)``. Thin over ``twin/``: the twin's hourly results on
calendar hours (``twin.outlook``), the scheduler (``twin.schedule``) and the reservations
(``api.store``); one router per resource in ``api/routes/``, what they need through
``api/deps.py``.

Every answer derived from the twin says which time data it used (``data_mode``: the climate
year mapped onto calendar dates). Every bad request gets a 4xx with a reason."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api import schemas
from api.ledger import open_store
from api.rounding import RoundedJSONResponse
from api.routes import carbon_aware, dashboard, health, plans, reservations, sites, windows
from api.settings import Settings
from api.store import CapacityExceeded, IdempotencyConflict, NotHeld, StoreBusy
from twin._version import __version__
from twin.outlook import Outlook
from twin.schedule import JobDoesNotFit


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


DESCRIPTION = """\
Where and when to run compute on renewable power: the hourly results of the desert data-center
twin (renewable generation, facility power and PUE, the IT power renewables can carry) for every
catalog site, on calendar hours.

- **sites**: the catalog, each site's annual figures, and hourly values (`it_headroom_w` is
  the IT power renewables can still carry after every tenant's reservations; all of it can be
  reserved).
- **scheduling**: ranked windows for one job, joint plans for many.
- **reservations**: hold IT power at a site over whole UTC hours (needs an API key: the
  Authorize button; `X-API-Key` header). Never more than the site's IT capacity in any hour,
  across all tenants.
- **Carbon Aware SDK**: the Green Software Foundation SDK's endpoints over the sites.

Times are ISO 8601 with a zone (UTC in answers); units are in field names. Every answer derived
from the twin says which data answered (`data_mode`: `typical_year`, the climate year mapped
onto calendar dates, or `forecast`). Bad requests get a 4xx with a reason (`detail`).
"""
RETRY_AFTER_S = "1"  # [s] after a 503 for a busy reservations database
LOG = logging.getLogger("uvicorn.error")  # uvicorn's own log: shown at --log-level info
TAGS = [{"name": "sites", "description": "The catalog and each site's hourly values."},
        {"name": "scheduling", "description": "Window search and joint plans."},
        {"name": "reservations", "description": "IT power held per tenant (API key)."},
        {"name": "Carbon Aware SDK", "description": "The GSF Carbon Aware SDK's endpoints."},
        {"name": "service", "description": "Liveness and readiness."}]


def readable(errors) -> str:
    """Validation errors as one line: ``where: what`` for each, ``;``-separated."""
    return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                     for e in errors)


async def _invalid(request: Request, err: RequestValidationError):
    # the Carbon Aware SDK's endpoints answer bad parameters as the SDK does (400, ASP.NET's
    # ValidationProblemDetails); the rest of the API with 422 and a reason
    if request.url.path.startswith(carbon_aware.PATHS):
        return carbon_aware.validation_problem(err)
    return JSONResponse({"detail": readable(err.errors())}, 422)


def _status(code: int, headers: dict | None = None):
    async def handler(request: Request, err: Exception):
        return JSONResponse({"detail": str(err)}, code, headers=headers)
    return handler


def _load(app: FastAPI, settings: Settings):
    """Simulate every site (seconds) into ``app.state.data``, or keep the error that stopped it
    in ``app.state.load_error`` (GET /ready and /health report it)."""
    try:
        app.state.data = Outlook(settings.year, settings.seed, settings.battery_policy,
                                 settings.sites_dir, settings.forecast_dir)
        LOG.info("ready: %d sites simulated for the climate year %d", len(app.state.data.catalog),
                 settings.year)
    except Exception as err:  # any failure is reported (/ready, /health), none kills the server
        app.state.load_error = f"{type(err).__name__}: {err}"
        LOG.error("loading the sites' data failed: %s", app.state.load_error)


def create_app(settings: Settings | None = None, data: Outlook | None = None,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    """The service. ``data``: the twin's outlook (computed at start-up when None; tests share
    one); ``clock``: the current UTC time."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.data is None:  # loaded beside the server: /health answers at once
            threading.Thread(target=_load, args=(app, settings), daemon=True,
                             name="twin-outlook").start()
        yield
        app.state.store.close()

    problem = {"model": schemas.Problem}
    # /docs and /redoc: api/routes/dashboard.py serves them offline (FastAPI's own load their
    # scripts from a CDN)
    app = FastAPI(title="desert-twin scheduling service", version=__version__,
                  lifespan=lifespan, description=DESCRIPTION, openapi_tags=TAGS,
                  docs_url=None, redoc_url=None, default_response_class=RoundedJSONResponse,
                  responses={400: problem, 413: problem, 422: problem})
    app.state.settings = settings
    app.state.store = open_store(settings.ledger, settings.db_busy_timeout_s)
    app.state.data, app.state.load_error, app.state.clock = data, None, clock
    app.state.plan_slots = threading.BoundedSemaphore(settings.max_concurrent_plans)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(JobDoesNotFit, _status(422))
    for conflict in (CapacityExceeded, IdempotencyConflict, NotHeld):
        app.add_exception_handler(conflict, _status(409))
    # a write that waited the busy timeout for another's lock: retry shortly (not a 500)
    app.add_exception_handler(StoreBusy, _status(503, {"Retry-After": RETRY_AFTER_S}))
    for module in (health, sites, windows, plans, carbon_aware, reservations, dashboard):
        app.include_router(module.router)
    # after the dashboard's own /static/plotly.min.js
    app.mount("/static", StaticFiles(directory=dashboard.STATIC), name="static")
    return app
