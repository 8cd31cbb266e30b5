"""Liveness and readiness for supervisors and load balancers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api import schemas
from api.deps import not_ready

router = APIRouter(tags=["service"])


@router.get("/health", response_model=schemas.HealthOut,
            responses={503: {"model": schemas.Problem}})
def health(request: Request):
    """Liveness: 200 while the service works (also while it loads its data); 503 when loading
    the sites' data failed, with the reason."""
    if request.app.state.load_error:
        return JSONResponse({"detail": not_ready(request.app.state)}, 503)
    return {"status": "ok"}


@router.get("/ready", response_model=schemas.HealthOut,
            responses={503: {"model": schemas.Problem}})
def ready(request: Request):
    """Readiness: 200 once every site is simulated and requests can be answered; 503 (with
    Retry-After while loading) before that, or when loading failed."""
    state = request.app.state
    if state.data is None:
        return JSONResponse({"detail": not_ready(state)}, 503,
                            headers={} if state.load_error else {"Retry-After": "5"})
    return {"status": "ready", "sites": len(state.data.catalog)}
