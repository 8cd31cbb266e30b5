"""The site catalog with each site's annual figures, and its hourly values on calendar hours."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from api import schemas
from api.deps import Data, Now, Reservations, SettingsDep, refused
from api.rounding import round_value
from twin.outlook import calendar_hours, within_horizon

router = APIRouter(prefix="/v1/sites", tags=["sites"])
NOT_FOUND = {404: {"model": schemas.Problem}}
# hourly variables of GET /v1/sites/{id}/timeseries: API name (units in it) -> Dataset variable
TIMESERIES = {"renewable_power_w": "renewable_power", "pv_power_w": "pv_power",
              "wind_power_w": "wind_power", "facility_power_w": "facility_power",
              "it_power_w": "it_power", "it_available_power_w": "it_available_power",
              "pue": "pue", "marginal_pue": "marginal_pue",
              "facility_power_intercept_w": "facility_power_intercept",
              "carbon_intensity_g_per_kwh": "carbon_intensity",
              "electricity_price_per_kwh": "electricity_price", "battery_soc": "battery_soc",
              "battery_power_w": "battery_power", "grid_import_w": "grid_import",
              "temp_air_degc": "temp_air", "curtailment_w": "curtailment"}
HEADROOM = "it_headroom_w"


def _existing(d: Data, site_id: str) -> str:
    if site_id not in d.catalog:
        raise HTTPException(404, f"no site {site_id!r}; known: {', '.join(d.catalog)}")
    return site_id


def _site_out(d: Data, site_id: str) -> dict:
    s = d.catalog[site_id]
    return {"id": s.id, "name": s.name, "province": s.province, "role": s.role,
            "latitude": s.latitude, "longitude": s.longitude, "altitude_m": s.altitude_m,
            "it_capacity_w": s.it.capacity_w, "annual": d.site_summary(site_id)}


@router.get("", response_model=list[schemas.SiteOut])
def list_sites(d: Data):
    """The catalog with each site's annual figures (renewable fraction, PUE, WUE, ...)."""
    return [_site_out(d, s) for s in d.catalog]


@router.get("/{site_id}", response_model=schemas.SiteDetailOut, responses=NOT_FOUND)
def get_site(site_id: str, d: Data):
    """One site: its configuration and annual figures."""
    _existing(d, site_id)
    return {**_site_out(d, site_id), "configuration": d.configuration(site_id)}


def period(start: datetime, end: datetime, horizon_h: int) -> pd.DatetimeIndex:
    """The hours of [start, end), refused (422) when empty or longer than the horizon."""
    if end <= start:
        raise HTTPException(422, f"end {end:%Y-%m-%dT%H:%MZ} is not after start "
                                 f"{start:%Y-%m-%dT%H:%MZ}")
    with refused():
        within_horizon(start, end, horizon_h, "the period")
    return calendar_hours(start, end)


@router.get("/{site_id}/timeseries", response_model=schemas.TimeseriesOut,
            responses={**NOT_FOUND, 200: {"content": {"text/csv": {}}}})
def timeseries(site_id: str, d: Data, r: Reservations, settings: SettingsDep, now: Now,
               start: schemas.QueryTime | None = None,
               end: schemas.QueryTime | None = None,
               variables: Annotated[str | None, Query(
                   description=f"comma-separated, of: {', '.join(TIMESERIES)}, {HEADROOM}; "
                               "default all")] = None,
               format: Annotated[str, Query(pattern="^(json|csv)$")] = "json"):
    """Hourly values of one site between start and end (default: the next 24 h), including
    the IT headroom after every tenant's reservations."""
    _existing(d, site_id)
    # each row is a whole UTC hour labelled by its start: a start or end inside an hour would
    # label it wrongly (10:30 showing the 10:00 hour's values)
    for name, t in (("start", start), ("end", end)):
        if t is not None and t != t.replace(minute=0, second=0, microsecond=0):
            raise HTTPException(422, f"{name} {t.isoformat()} is not a whole UTC hour: rows are "
                                     "hours labelled by their start")
    start = start or now.replace(minute=0, second=0, microsecond=0)
    calendar = period(start, end or start + timedelta(hours=24), settings.max_horizon_h)
    known = [*TIMESERIES, HEADROOM]
    names = known if variables is None else [v.strip() for v in variables.split(",")]
    if unknown := [v for v in names if v not in known]:
        raise HTTPException(422, f"unknown variable(s) {', '.join(unknown)}; known: "
                                 f"{', '.join(known)}")
    values = {}
    for name in names:
        if name == HEADROOM:
            held = r.held([site_id], calendar[0], len(calendar), now)
            row = d.timeline([site_id], calendar, held).it_headroom_w
        else:
            row = d.values(TIMESERIES[name], [site_id], calendar)
        values[name] = [round_value(name, x) for x in row[0].tolist()]
    mode = d.mode([site_id], calendar)
    if format == "csv":
        out = io.StringIO()
        pd.DataFrame(values, index=pd.Index(calendar, name="time")).to_csv(
            out, date_format="%Y-%m-%dT%H:%M:%SZ")
        return Response(out.getvalue(), media_type="text/csv", headers={"X-Data-Mode": mode})
    return {"site": site_id, "data_mode": mode, "time": list(calendar),
            "values": {k: [None if np.isnan(x) else x for x in v] for k, v in values.items()}}
