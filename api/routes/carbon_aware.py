"""The Green Software Foundation Carbon Aware SDK's Web API over the twin's sites: its paths,
parameters, DTOs, operation ids and ``ValidationProblemDetails`` errors, with the rules its
sources define (``CarbonAwareController``, ``LocationsController``, the ``ForecastHandler`` and
``EmissionsHandler``, ``CarbonAwareParameters`` validation, ``EmissionsForecast.Validate``,
``IntervalHelper.FilterByDuration`` and ``EmissionsDataExtensions.RollingAverage`` /
``AverageOverPeriod``), written here from those rules.

What the values are: the carbon intensity [g CO2 / kWh] of the electricity a site uses, each
hour (:meth:`twin.outlook.Outlook.electricity_carbon_intensity`): the grid's share of the
facility's supply, after on-site renewables and battery, times the grid's intensity. Locations
are site ids. The twin answers any calendar hour from its climate year (typical-year mode: same
month, day and hour; 29 February reads 28 February) or from a forecast file, so:

- forecasts: the current forecast starts at the hour of the request and covers the service's
  horizon (``TWIN_MAX_HORIZON_H``, 744 h); times outside it are refused, as the SDK refuses
  times outside its data source's forecast (a "current forecast" of past hours is refused);
  the batch's forecast "as of requestedAt" starts at the hour of requestedAt;
- emissions ("observed" in the SDK): the twin's values of the hours up to the current one stand
  for measurements; later hours have none (204, or 400 for an average).

Which data answered is in the ``X-Data-Mode`` header (``typical_year``, ``forecast`` or both):
the SDK's DTOs have no field for it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Body, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.carbon_aware_schemas import (
    CarbonIntensityBatchParametersDTO,
    CarbonIntensityDTO,
    EmissionsData,
    EmissionsForecastBatchParametersDTO,
    EmissionsForecastDTO,
    Location,
    SdkTime,
    ValidationProblemDetails,
    WindowSize,
)
from api.deps import Data, Now, SettingsDep
from twin.outlook import FORECAST, TYPICAL_YEAR, Outlook
from twin.timebase import HOUR, ceil_hour, floor_hour, hours, utc

router = APIRouter(tags=["Carbon Aware SDK"])

PATHS = ("/emissions/", "/locations")  # where bad requests get ValidationProblemDetails
PROBLEM_TYPE = "https://tools.ietf.org/html/rfc9110#section-15.5.1"  # ASP.NET's, for 400
PROBLEM_TITLE = "One or more validation errors occurred."
MAX_LOCATIONS = 100  # locations in one request, items in one batch: bounds an answer's size
MAX_BATCH = 100
DATA_MODE = {"X-Data-Mode": {"description": "which data answered: typical_year (the climate "
                                            "year on calendar dates), forecast, or both",
                             "schema": {"type": "string"}}}
BAD = {400: {"model": ValidationProblemDetails,
             "description": "bad parameters: each field's messages in `errors`"}}
EMPTY = {204: {"description": "no data: the period has no hour up to the current one"}}


class Invalid(RequestValidationError):
    """A request the SDK's rules refuse: ``errors`` field -> messages (400, answered by
    :func:`validation_problem` through the app's validation handler)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__([{"loc": (field,), "msg": m, "type": "value_error"}
                          for field, messages in errors.items() for m in messages])
        self.problems = errors


def validation_problem(err: RequestValidationError) -> JSONResponse:
    """A refused request as ASP.NET's ``ValidationProblemDetails`` (400): request
    validation errors keyed as ASP.NET keys them (the query parameter's name, or a JSON path
    such as ``$[0].requestedAt`` in a body), the SDK's own rules with its messages."""
    if isinstance(err, Invalid):
        errors = err.problems
    else:
        errors = {}
        for e in err.errors():
            field = _field(e)
            errors.setdefault(field, []).append(_message(e, field))
    detail = "; ".join(f"{field}: {m}" for field, messages in errors.items() for m in messages)
    return JSONResponse({"type": PROBLEM_TYPE, "title": PROBLEM_TITLE, "status": 400,
                         "detail": detail, "errors": errors}, 400)


def _field(e: dict) -> str:
    where, *path = e.get("loc", ()) or ("body",)
    if where != "body":
        return ".".join(str(p) for p in path) or str(where)
    if e.get("type") == "json_invalid":  # its loc is a character position
        return "$"
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _message(e: dict, field: str) -> str:
    name = next((p for p in reversed(e.get("loc", ())) if isinstance(p, str)), field)
    if e.get("type") == "missing":
        return ("A non-empty request body is required." if name == "body"
                else f"{name} is not set")
    value = e.get("input")
    if isinstance(value, (str, int, float)):
        return f"The value '{value}' is not valid for {name}: {e.get('msg', '')}"
    return str(e.get("msg", ""))


def _iso(t: datetime) -> str:
    return t.isoformat()


def _known_locations(d: Outlook, locations: list[str], field: str = "location") -> None:
    if unknown := [s for s in locations if s not in d.catalog]:
        known = ", ".join(d.catalog)
        raise Invalid({field: [f"Unknown Location: '{s}' not found (known: {known})"
                               for s in unknown]})


def _one_location(d: Outlook, location: str, prefix: str = "") -> None:
    if not location:
        raise Invalid({f"{prefix}location": ["location is not set"]})
    _known_locations(d, [location], f"{prefix}location")


def _locations(d: Outlook, location: list[str]) -> list[str]:
    """The requested locations without empty ones (the SDK skips them), refused when none,
    too many or unknown."""
    named = [s for s in location if s]
    if not named:
        raise Invalid({"location": ["location is not set"]})
    if len(named) > MAX_LOCATIONS:
        raise Invalid({"location": [f"at most {MAX_LOCATIONS} locations in one request"]})
    _known_locations(d, named)
    return named


def _start_before_end(start, end, names: tuple[str, str], errors: dict,
                      prefix: str = "") -> None:
    """``CarbonAwareParameters``' StartBeforeEnd (an unset bound is the smallest or largest
    time, so it holds with one bound), keyed ``prefix`` + the start's name."""
    if start is not None and end is not None and not utc(start) < utc(end):
        errors.setdefault(prefix + names[0], []).append(f"{names[0]} must be before {names[1]}")


def _raise(errors: dict) -> None:
    if errors:
        raise Invalid(errors)


def _mode(modes: list[str]) -> str:
    """One data mode for answers from several calendars."""
    parts = {p for m in modes for p in m.split("+")} or {TYPICAL_YEAR}
    return parts.pop() if len(parts) == 1 else f"{FORECAST}+{TYPICAL_YEAR}"


def _point(location: str, time, minutes: int, value: float) -> dict:
    return {"location": location, "timestamp": pd.Timestamp(time).to_pydatetime(),
            "duration": minutes, "value": float(value)}


def _forecast(d: Outlook, location: str, requested: datetime, requested_at: datetime,
              start: datetime | None, end: datetime | None, window_min: int | None,
              horizon_h: int, prefix: str = "") -> tuple[dict, str]:
    """One ``EmissionsForecastDTO`` and its data mode: the forecast that was the latest at
    ``requested`` starts at that hour and covers ``horizon_h`` hours; points or windows
    between ``start`` and ``end`` (default: the forecast's bounds). ``prefix``: of the error
    keys (a batch item's JSON path)."""
    first_hour = floor_hour(requested)
    last = first_hour + timedelta(hours=horizon_h)
    data_start = utc(start) if start is not None else first_hour
    data_end = utc(end) if end is not None else last
    errors: dict[str, list[str]] = {}
    # EmissionsForecast.Validate: the period, within the forecast's data
    if data_start >= data_end:
        errors.setdefault(f"{prefix}dataStartAt", []).append(
            "dataStartAt must be earlier than dataEndAt")
    span = f"'{_iso(first_hour)}' through '{_iso(last)}'"
    for name, t in (("dataStartAt", data_start), ("dataEndAt", data_end)):
        if not first_hour <= t <= last:
            errors.setdefault(f"{prefix}{name}", []).append(
                f"{name} must be within time range of the forecasted data, {span}")
    _raise(errors)

    window = window_min or 0
    if window == 0:
        # the hourly points as they are: those overlapping the period, also one starting at
        # dataEndAt (FilterByDuration keeps points whose time <= dataEndAt)
        calendar = hours(floor_hour(data_start),
                         min(floor_hour(data_end), last - HOUR) + HOUR)
        values = d.electricity_carbon_intensity([location], calendar)[0]
        points = [_point(location, t, 60, v) for t, v in zip(calendar, values)]
    else:
        # RollingAverage: windows of windowSize from dataStartAt, one every data point (an
        # hour), time-weighted; only windows that end by dataEndAt
        length = timedelta(minutes=window)
        count = max(0, (data_end - data_start - length) // HOUR + 1)
        starts = [data_start + k * HOUR for k in range(count)]
        ends = [t + length for t in starts]
        values = (d.mean_electricity_carbon_intensity([location], starts, ends)[0]
                  if count else [])
        points = [_point(location, t, window, v) for t, v in zip(starts, values)]
        calendar = hours(floor_hour(data_start), ceil_hour(ends[-1] if count else data_start))
    best = min((p["value"] for p in points), default=None)
    return {"generatedAt": first_hour, "requestedAt": requested_at, "location": location,
            "dataStartAt": start if start is not None else (
                points[0]["timestamp"] if points else data_start),
            "dataEndAt": end if end is not None else (
                points[-1]["timestamp"] if points else data_end),
            "windowSize": window,
            "optimalDataPoints": [p for p in points if p["value"] == best],
            "forecastData": points}, d.mode([location], calendar)


def _observed(d: Outlook, locations: list[str], start: datetime, end: datetime,
              now: datetime) -> tuple[list[dict], str]:
    """The twin's hourly points that overlap start..end (also one starting at end, as
    FilterByDuration keeps) among the hours up to the current one: ``EmissionsData``."""
    first, last = floor_hour(start), min(floor_hour(end), floor_hour(now))
    calendar = hours(first, last + HOUR) if last >= first else hours(first, first)
    if not len(calendar):
        return [], TYPICAL_YEAR
    values = d.electricity_carbon_intensity(locations, calendar)
    return [{"location": site, "time": t.to_pydatetime(), "rating": float(v),
             "duration": "01:00:00"}
            for site, row in zip(locations, values) for t, v in zip(calendar, row)], \
        d.mode(locations, calendar)


def _emissions(d: Outlook, horizon_h: int, now: datetime, location: list[str],
               time: datetime | None, to_time: datetime | None) -> tuple[list[dict], str]:
    """``EmissionsHandler.GetEmissionsDataAsync``: validation, then the observed points from
    time (default now) to toTime (default time)."""
    locations = _locations(d, location)
    errors: dict[str, list[str]] = {}
    _start_before_end(time, to_time, ("time", "toTime"), errors)
    if to_time is not None and time is None:
        errors.setdefault("time", []).append("time must be defined if toTime is defined")
    _raise(errors)
    start = utc(time) if time is not None else now
    end = utc(to_time) if to_time is not None else start
    if end - start > timedelta(hours=horizon_h):
        raise Invalid({"toTime": [f"time..toTime spans more than {horizon_h} h, the longest "
                                  "period the service answers in one request"]})
    return _observed(d, locations, start, end, now)


def _average(d: Outlook, horizon_h: int, now: datetime, location: str, start: datetime,
             end: datetime, prefix: str = "") -> tuple[dict, str]:
    """``EmissionsHandler.GetAverageCarbonIntensityAsync``: the time-weighted mean over
    start..end of the observed hours (AverageOverPeriod), which must cover the period."""
    _one_location(d, location, prefix)
    errors: dict[str, list[str]] = {}
    _start_before_end(start, end, ("startTime", "endTime"), errors, prefix)
    _raise(errors)
    start, end = utc(start), utc(end)
    if end - start > timedelta(hours=horizon_h):
        raise Invalid({f"{prefix}endTime": [
            f"startTime..endTime spans more than {horizon_h} h, the longest period the "
            "service answers in one request"]})
    observed_end = floor_hour(now) + HOUR
    if end > observed_end:
        raise Invalid({f"{prefix}endTime": [
            f"Period out of range. Data points did not cover the requested average period: "
            f"{_iso(start)} through {_iso(end)} (the twin's hours up to the current one, "
            f"ending {_iso(observed_end)}, stand for measurements)"]})
    value = d.mean_electricity_carbon_intensity([location], [start], [end])[0, 0]
    calendar = hours(floor_hour(start), ceil_hour(end))
    return {"location": location, "startTime": start, "endTime": end,
            "carbonIntensity": float(value)}, d.mode([location], calendar)


SITES = "site ids (`GET /locations`)"


@router.get("/emissions/bylocations/best", operation_id="GetBestEmissionsDataForLocationsByTime",
            response_model=list[EmissionsData],
            responses={**EMPTY, **BAD, 200: {"headers": DATA_MODE}})
def best_emissions(d: Data, settings: SettingsDep, now: Now, response: Response,
                   location: Annotated[list[str], Query(description=SITES)],
                   time: SdkTime | None = None, toTime: SdkTime | None = None):  # noqa: N803
    """The lowest of the twin's hourly points over all locations from `time` (default now)
    to `toTime` (default `time`): every point with that value; 204 when there is none (the
    period is after the current hour). Points are the twin's values for the hours up to the
    current one (typical-year mode maps any calendar date onto the climate year): the carbon
    intensity of the site's electricity after on-site renewables and battery."""
    points, mode = _emissions(d, settings.max_horizon_h, now, location, time, toTime)
    if not points:
        return Response(status_code=204)
    best = min(p["rating"] for p in points)
    response.headers["X-Data-Mode"] = mode
    return [p for p in points if p["rating"] == best]


@router.get("/emissions/bylocations", operation_id="GetEmissionsDataForLocationsByTime",
            response_model=list[EmissionsData],
            responses={**EMPTY, **BAD, 200: {"headers": DATA_MODE}})
def emissions_by_locations(d: Data, settings: SettingsDep, now: Now, response: Response,
                           location: Annotated[list[str], Query(description=SITES)],
                           time: SdkTime | None = None,
                           toTime: SdkTime | None = None):  # noqa: N803
    """The twin's hourly points of each location that overlap `time` (default now) ..
    `toTime` (default `time`), up to the current hour; 204 when there is none. The value:
    the carbon intensity of the site's electricity after on-site renewables and battery, the
    twin's value for the hour (typical-year mode maps any date onto the climate year)."""
    points, mode = _emissions(d, settings.max_horizon_h, now, location, time, toTime)
    if not points:
        return Response(status_code=204)
    response.headers["X-Data-Mode"] = mode
    return points


@router.get("/emissions/bylocation", operation_id="GetEmissionsDataForLocationByTime",
            response_model=list[EmissionsData],
            responses={**EMPTY, **BAD, 200: {"headers": DATA_MODE}})
def emissions_by_location(d: Data, settings: SettingsDep, now: Now, response: Response,
                          location: Annotated[str, Query(description="a site id")],
                          time: SdkTime | None = None,
                          toTime: SdkTime | None = None):  # noqa: N803
    """`GET /emissions/bylocations` for one location."""
    return emissions_by_locations(d, settings, now, response, [location], time, toTime)


@router.get("/emissions/forecasts/current", operation_id="GetCurrentForecastData",
            response_model=list[EmissionsForecastDTO],
            responses={**BAD, 200: {"headers": DATA_MODE}})
def current_forecast(d: Data, settings: SettingsDep, now: Now, response: Response,
                     location: Annotated[list[str], Query(description=SITES)],
                     dataStartAt: Annotated[SdkTime | None, Query(description=(  # noqa: N803
                         "within the forecast (the current hour .. the horizon after it); "
                         "default its start"))] = None,
                     dataEndAt: Annotated[SdkTime | None, Query(description=(  # noqa: N803
                         "no window ends after it; within the forecast; default its "
                         "end"))] = None,
                     windowSize: WindowSize | None = None):  # noqa: N803
    """The current forecast of each location and its optimal windows (SDK
    `GetCurrentForecastData`). The forecast starts at the current hour and covers the
    service's horizon (744 h by default); dataStartAt and dataEndAt outside it (past hours
    among them) are refused, as the SDK refuses times outside its data source's forecast.
    With `windowSize` (minutes, any): windows of that length starting at dataStartAt and every
    hour after, each the time-weighted mean of the hours it covers, only those that end by
    dataEndAt; without it (or 0): the twin's hourly points that overlap the period, as they
    are (also one starting at dataEndAt, as the SDK's filter keeps it).

    The value is the carbon intensity [g CO2 / kWh] of the site's electricity: the grid's
    share of its supply after on-site renewables and battery, times the grid's intensity;
    the twin's values (typical-year mode: the climate year's same month, day and hour), not a
    grid operator's forecast. `X-Data-Mode` says which data answered."""
    locations = _locations(d, location)
    errors: dict[str, list[str]] = {}
    _start_before_end(dataStartAt, dataEndAt, ("dataStartAt", "dataEndAt"), errors)
    _raise(errors)
    answers = [_forecast(d, site, now, now, dataStartAt, dataEndAt, windowSize,
                         settings.max_horizon_h) for site in locations]
    response.headers["X-Data-Mode"] = _mode([mode for _, mode in answers])
    return [forecast for forecast, _ in answers]


@router.post("/emissions/forecasts/batch", operation_id="BatchForecastDataAsync",
             response_model=list[EmissionsForecastDTO],
             responses={**BAD, 200: {"headers": DATA_MODE}})
def batch_forecasts(d: Data, settings: SettingsDep, now: Now, response: Response,
                    requestedForecasts: Annotated[  # noqa: N803
                        list[EmissionsForecastBatchParametersDTO], Body()]):
    """Forecasts as they were at past times, for back-testing (SDK `BatchForecastDataAsync`):
    for each item, the forecast that was the latest at `requestedAt` (starting at its hour,
    covering the horizon), with the rules of `GET /emissions/forecasts/current`. The twin's
    values do not change with requestedAt (typical-year values and forecast files are fixed):
    it only moves the forecast's range. requestedAt after now is refused (no forecast was
    made then). At most 100 items."""
    if len(requestedForecasts) > MAX_BATCH:
        raise Invalid({"$": [f"at most {MAX_BATCH} forecasts in one request"]})
    answers = []
    for i, item in enumerate(requestedForecasts):
        prefix = f"$[{i}]."
        _one_location(d, item.location, prefix)
        errors: dict[str, list[str]] = {}
        _start_before_end(item.dataStartAt, item.dataEndAt, ("dataStartAt", "dataEndAt"),
                          errors, prefix)
        if utc(item.requestedAt) > now:
            errors.setdefault(f"{prefix}requestedAt", []).append(
                f"No forecast was generated at the requested time {_iso(item.requestedAt)}: "
                f"it is after the current time {_iso(now)}")
        _raise(errors)
        answers.append(_forecast(d, item.location, item.requestedAt, item.requestedAt,
                                 item.dataStartAt, item.dataEndAt, item.windowSize,
                                 settings.max_horizon_h, prefix))
    response.headers["X-Data-Mode"] = _mode([mode for _, mode in answers])
    return [forecast for forecast, _ in answers]


@router.get("/emissions/average-carbon-intensity", operation_id="GetAverageCarbonIntensity",
            response_model=CarbonIntensityDTO, responses={**BAD, 200: {"headers": DATA_MODE}})
def average_carbon_intensity(d: Data, settings: SettingsDep, now: Now, response: Response,
                             location: Annotated[str, Query(description="a site id")],
                             startTime: SdkTime, endTime: SdkTime):  # noqa: N803
    """The time-weighted mean carbon intensity of a site's electricity from `startTime` to
    `endTime` (any minutes; each hour counts for the part of it the period covers). The
    twin's values for the hours up to the current one stand for measurements (typical-year
    mode maps any date onto the climate year): a period ending after the current hour is
    refused, as the SDK refuses a period its data do not cover."""
    answer, mode = _average(d, settings.max_horizon_h, now, location, startTime, endTime)
    response.headers["X-Data-Mode"] = mode
    return answer


@router.post("/emissions/average-carbon-intensity/batch",
             operation_id="GetAverageCarbonIntensityBatch", response_model=list[CarbonIntensityDTO],
             responses={**BAD, 200: {"headers": DATA_MODE}})
def average_carbon_intensity_batch(
        d: Data, settings: SettingsDep, now: Now, response: Response,
        requestedCarbonIntensities: Annotated[  # noqa: N803
            list[CarbonIntensityBatchParametersDTO], Body()]):
    """`GET /emissions/average-carbon-intensity` for each item (each with its own location,
    as the SDK's controller does). At most 100 items."""
    if len(requestedCarbonIntensities) > MAX_BATCH:
        raise Invalid({"$": [f"at most {MAX_BATCH} items in one request"]})
    answers = [_average(d, settings.max_horizon_h, now, item.location, item.startTime,
                        item.endTime, f"$[{i}].")
               for i, item in enumerate(requestedCarbonIntensities)]
    response.headers["X-Data-Mode"] = _mode([mode for _, mode in answers])
    return [answer for answer, _ in answers]


@router.get("/locations", operation_id="GetAllLocations", response_model=dict[str, Location],
            responses={204: {"description": "no locations"}})
def all_locations(d: Data):
    """Every location the endpoints take: the catalog's site ids, with their coordinates."""
    if not d.catalog:
        return Response(status_code=204)
    return {s.id: {"latitude": s.latitude, "longitude": s.longitude, "name": s.id}
            for s in d.catalog.values()}
