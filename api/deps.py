"""What routes receive through FastAPI dependencies: the settings, the twin's outlook, the
reservation store, the caller's tenant and the request's time (one clock reading per request),
all set on ``app.state`` by :func:`api.app.create_app`; and the one way a ValueError of the
twin becomes an HTTP 4xx."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from api.settings import Settings
from api.store import Store
from twin.outlook import Committed, Outlook

API_KEY_HEADER = "X-API-Key"


# async: FastAPI would run plain functions in its thread pool, a hop each per request
async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _outlook(request: Request) -> Outlook:
    state = request.app.state
    if state.data is None:
        raise HTTPException(503, not_ready(state), headers={"Retry-After": "5"})
    return state.data


def not_ready(state) -> str:
    """Why the service cannot answer from the twin's data yet."""
    if state.load_error:
        return f"loading the sites' data failed: {state.load_error}"
    return "the service is still simulating the sites (seconds after start-up): retry shortly"


async def _store(request: Request) -> Store:
    return request.app.state.store


async def _now(request: Request) -> datetime:
    return request.app.state.clock()


# the OpenAPI security scheme (Swagger UI's Authorize button); 401 with a reason, below
API_KEY = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                       description="an API key of the service (TWIN_API_KEYS): writes need one")


async def _tenant(request: Request, x_api_key: Annotated[str | None, Security(API_KEY)] = None
                  ) -> str:
    keys = request.app.state.settings.api_keys
    if not x_api_key:
        raise HTTPException(401, f"this needs an API key in the {API_KEY_HEADER} header")
    # every key compared in constant time: neither the match nor its position leaks timing
    given = x_api_key.encode()
    tenant = None
    for key, owner in keys.items():
        if hmac.compare_digest(given, key.encode()):
            tenant = owner
    if tenant is None:
        raise HTTPException(401, "unknown API key")
    return tenant


SettingsDep = Annotated[Settings, Depends(_settings)]
Data = Annotated[Outlook, Depends(_outlook)]
Reservations = Annotated[Store, Depends(_store)]
Tenant = Annotated[str, Depends(_tenant)]
Now = Annotated[datetime, Depends(_now)]


@contextmanager
def refused(status: int = 422, prefix: str = "") -> Iterator[None]:
    """A ValueError of the twin (a request it cannot answer) as an HTTP error with its reason."""
    try:
        yield
    except ValueError as err:
        raise HTTPException(status, f"{prefix}{err}") from None


def reserved(store: Store, now: datetime) -> Committed:
    """Every tenant's held IT power [W] as the committed power of the outlook's timelines."""
    return lambda sites, calendar: store.held(sites, calendar[0], len(calendar), now)
