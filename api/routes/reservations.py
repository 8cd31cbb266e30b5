"""Reservations: IT power held at a site over whole UTC hours, per tenant, never more than the
site's IT capacity in any hour across all tenants."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Response
from fastapi.responses import JSONResponse

from api import schemas
from api.deps import Data, Now, Reservations, SettingsDep, Tenant, refused
from api.routes.sites import period
from api.settings import ENV_PREFIX
from api.store import Block, Reservation
from twin.timebase import ceil_hour

router = APIRouter(prefix="/v1/reservations", tags=["reservations"])
PROBLEMS = {code: {"model": schemas.Problem} for code in (401, 409, 422, 503)}
IdempotencyKey = Annotated[str | None, Header(max_length=200)]
MAX_LIST = 1000  # reservations per page


def _block(d: Data, spec: schemas.BlockIn, horizon_h: int, now: datetime) -> Block:
    with refused():
        d.known_sites([spec.site])
    if spec.start != ceil_hour(spec.start) or spec.end != ceil_hour(spec.end):
        raise HTTPException(422, "start and end must be whole UTC hours")
    period(spec.start, spec.end, horizon_h)
    # a hold is for hours to come, within the horizon the service plans over
    if spec.end <= now:
        raise HTTPException(422, f"the block ends at {spec.end:%Y-%m-%dT%H:%MZ}, in the past "
                                 f"(now {now:%Y-%m-%dT%H:%MZ}): nothing to hold")
    last = ceil_hour(now) + timedelta(hours=horizon_h)
    if spec.end > last:
        raise HTTPException(422, f"the block ends at {spec.end:%Y-%m-%dT%H:%MZ}, beyond the "
                                 f"horizon of {horizon_h} h from now ({last:%Y-%m-%dT%H:%MZ})")
    return Block(spec.site, spec.start, spec.end, spec.it_power_w,
                 d.catalog[spec.site].it.capacity_w)


def _ttl(ttl_s: int | None) -> timedelta | None:
    """How long a hold lasts from now; None: until its block ends."""
    return None if ttl_s is None else timedelta(seconds=ttl_s)


def _out(res: Reservation, now: datetime) -> dict:
    return {k: v for k, v in res.as_dict(now).items() if k not in ("tenant", "cancelled")}


def _answer(held: list[Reservation], now: datetime) -> list[dict]:
    return [schemas.ReservationOut(**_out(x, now)).model_dump(mode="json") for x in held]


@router.post("", response_model=schemas.ReservationOut, status_code=201,
             responses={200: {"model": schemas.ReservationOut, "description": "replayed"},
                        **PROBLEMS})
def reserve(body: schemas.ReservationIn, t: Tenant, d: Data, r: Reservations,
            settings: SettingsDep, now: Now, idempotency_key: IdempotencyKey = None):
    """Hold IT power at a site over whole UTC hours; never more than the site's IT capacity
    in any hour, across all tenants. Replaying the same Idempotency-Key returns the first
    answer (200) instead of holding twice."""
    held, created = r.reserve(t, [_block(d, body, settings.max_horizon_h, now)],
                              _ttl(body.ttl_s), now, idempotency_key)
    return JSONResponse(_answer(held, now)[0], 201 if created else 200,
                        headers={"Location": f"{router.prefix}/{held[0].id}"})


@router.post(":batch", response_model=list[schemas.ReservationOut], status_code=201,
             responses={200: {"model": list[schemas.ReservationOut], "description": "replayed"},
                        **PROBLEMS})
def reserve_all(body: schemas.ReservationsIn, t: Tenant, d: Data, r: Reservations,
                settings: SettingsDep, now: Now, idempotency_key: IdempotencyKey = None):
    """Hold every block or none, in one transaction (e.g. a plan's holds, which may put
    several jobs on the same site-hours): 409 naming the first block that does not fit,
    nothing held. Replaying the same Idempotency-Key returns the first answer (200)."""
    if len(body.reservations) > settings.max_batch_blocks:
        raise HTTPException(422, f"{len(body.reservations)} blocks: at most "
                                 f"{settings.max_batch_blocks} per batch (setting "
                                 f"{ENV_PREFIX}MAX_BATCH_BLOCKS)")
    blocks = []
    for i, spec in enumerate(body.reservations):
        try:
            blocks.append(_block(d, spec, settings.max_horizon_h, now))
        except HTTPException as e:
            raise HTTPException(e.status_code, f"reservations[{i}]: {e.detail}") from e
    held, created = r.reserve(t, blocks, _ttl(body.ttl_s), now, idempotency_key)
    return JSONResponse(_answer(held, now), 201 if created else 200)


@router.get("", response_model=list[schemas.ReservationOut],
            responses={401: {"model": schemas.Problem}})
def list_reservations(t: Tenant, r: Reservations, now: Now, response: Response,
                      status: Literal["held", "expired", "cancelled"] | None = None,
                      site: schemas.SiteId | None = None,
                      start: schemas.QueryTime | None = None,
                      end: schemas.QueryTime | None = None,
                      limit: Annotated[int, Query(gt=0, le=MAX_LIST)] = MAX_LIST,
                      offset: Annotated[int, Query(ge=0, le=2**31)] = 0):
    """The tenant's reservations (held, expired and cancelled; or those with ``status``, at
    ``site``, overlapping [start, end)) in order of start: ``limit`` of them from ``offset``;
    the header X-Total-Count says how many match in all."""
    found, total = r.list(t, now, status=status, site=site, start=start, end=end, limit=limit,
                          offset=offset)
    response.headers["X-Total-Count"] = str(total)
    return [_out(x, now) for x in found]


@router.get("/{reservation_id}", response_model=schemas.ReservationOut,
            responses={401: {"model": schemas.Problem}, 404: {"model": schemas.Problem}})
def get_reservation(reservation_id: str, t: Tenant, r: Reservations, now: Now):
    res = r.get(reservation_id)
    if res is None or res.tenant != t:
        raise HTTPException(404, f"you have no reservation {reservation_id!r}")
    return _out(res, now)


@router.patch("/{reservation_id}", response_model=schemas.ReservationOut,
              responses={401: {"model": schemas.Problem}, 404: {"model": schemas.Problem},
                         409: {"model": schemas.Problem}})
def extend_reservation(reservation_id: str, body: schemas.ReservationPatch, t: Tenant,
                       r: Reservations, now: Now):
    """Extend a held reservation by ``ttl_s`` from now, or confirm it (no ``ttl_s``): held
    until its block ends. 409 when it has expired or was cancelled."""
    res = r.extend(reservation_id, t, _ttl(body.ttl_s), now)
    if res is None:
        raise HTTPException(404, f"you have no reservation {reservation_id!r}")
    return _out(res, now)


@router.delete("/{reservation_id}", response_model=schemas.ReservationOut,
               responses={401: {"model": schemas.Problem}, 404: {"model": schemas.Problem}})
def cancel_reservation(reservation_id: str, t: Tenant, r: Reservations, now: Now):
    """Cancel one of the tenant's reservations: its capacity is free again at once."""
    res = r.cancel(reservation_id, t)
    if res is None:
        raise HTTPException(404, f"you have no reservation {reservation_id!r}")
    return _out(res, now)
