"""The Green Software Foundation Carbon Aware SDK's forecast endpoint over the twin's sites."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query

from api import schemas
from api.deps import Data, Now, SettingsDep
from twin.timebase import hours

router = APIRouter(tags=["Carbon Aware SDK"])


@router.get("/emissions/forecasts/current", responses={400: {"model": schemas.Problem}})
def carbon_aware_forecast(d: Data, settings: SettingsDep, now: Now,
                          location: Annotated[list[str], Query()],
                          dataStartAt: schemas.QueryTime | None = None,  # noqa: N803 (SDK)
                          dataEndAt: schemas.QueryTime | None = None,  # noqa: N803
                          windowSize: Annotated[int | None, Query(gt=0)] = None):  # noqa: N803
    """Green Software Foundation Carbon Aware SDK ``GetCurrentForecastData``: for each
    location (site id), the carbon intensity [g CO2 / kWh] of the site's electricity each
    hour (grid share of the facility's supply, on-site renewables and battery counted, times
    the grid's intensity), averaged over windowSize minutes (default 60) from each hour
    start, and the optimal (lowest) window. Bad parameters get 400, as in the SDK."""
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
    n = len(calendar) - window_h + 1
    if n < 1:
        raise HTTPException(400, "windowSize is longer than the data period")
    intensity = d.electricity_carbon_intensity(location, calendar)
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
