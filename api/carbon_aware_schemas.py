"""Request and response bodies of the Green Software Foundation Carbon Aware SDK's Web API, as
its DTOs name them (``EmissionsForecastDTO``, ``EmissionsDataDTO``, ``EmissionsData``,
``CarbonIntensityDTO``, ``Location``, ``ValidationProblemDetails`` and the batch parameter
DTOs): camelCase fields, durations in minutes (``EmissionsData.duration``: a .NET time span),
times ISO 8601 with an offset. Unlike the rest of the API, unknown request fields are ignored
(as ASP.NET does) and errors are ``ValidationProblemDetails``, not ``{"detail": ...}``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from api.schemas import YEARS, _iso
from twin.timebase import utc

INT32_MAX = 2**31 - 1  # the SDK's windowSize is a .NET int
VALUE = ("carbon intensity [g CO2 / kWh] of the electricity the site uses: the grid's share "
         "of the facility's supply (after on-site renewables and battery, which count as zero "
         "carbon) times the grid's intensity; the twin's value for the hour, not a measurement")


def _within_years(t: datetime) -> datetime:
    """The time as given (naive: taken as UTC), its offset kept (the SDK echoes it), refused
    outside YEARS."""
    aware = t if t.tzinfo is not None else t.replace(tzinfo=UTC)
    try:
        year = utc(aware).year
    except OverflowError:
        year = None
    if year is None or not YEARS[0] <= year <= YEARS[1]:
        raise ValueError(f"time {t.isoformat()} is outside the years {YEARS[0]}-{YEARS[1]}")
    return aware


SdkTime = Annotated[datetime, BeforeValidator(_iso), AfterValidator(_within_years)]
WindowSize = Annotated[int, Field(ge=0, le=INT32_MAX, description=(
    "the workload's duration [min]: the values are averaged over windows of this length, "
    "time-weighted, one window starting every hour from dataStartAt; 0 or omitted: the "
    "twin's hourly points as they are"))]


class ValidationProblemDetails(BaseModel):
    """ASP.NET Core's validation problem (RFC 9457 problem details with ``errors``: each
    request field -> its messages), as the SDK answers every 400."""

    model_config = ConfigDict(extra="allow")

    type: str | None = None
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None
    errors: dict[str, list[str]] = Field(default_factory=dict)


class EmissionsDataDTO(BaseModel):
    """One forecast point or window."""

    location: str = Field(examples=["hami"])
    timestamp: datetime = Field(description="start of the point or window (UTC)")
    duration: int = Field(description="length [min]: 60 for the twin's hourly points, "
                                      "windowSize for windows")
    value: float = Field(description=VALUE + "; time-weighted over the window")


class EmissionsForecastDTO(BaseModel):
    generatedAt: datetime = Field(description=(
        "start of the forecast: the hour of requestedAt. The twin's values do not depend on "
        "it (typical-year values and forecast files are fixed)"))
    requestedAt: datetime = Field(description=(
        "current forecasts: when the request was made; batch: requestedAt as given, the time "
        "as of which the forecast was the latest"))
    location: str
    dataStartAt: datetime = Field(description=(
        "as requested (offset kept); when omitted, the timestamp of the first point"))
    dataEndAt: datetime = Field(description=(
        "as requested (offset kept): no window ends after it; when omitted, the timestamp of "
        "the last point (as the SDK reports it)"))
    windowSize: int = Field(description="as requested [min]; 0 when omitted")
    optimalDataPoints: list[EmissionsDataDTO] = Field(description=(
        "the points of forecastData with the lowest value (all of them on a tie); empty when "
        "forecastData is"))
    forecastData: list[EmissionsDataDTO] = Field(description=(
        "chronological; empty when no window of windowSize fits between dataStartAt and "
        "dataEndAt"))


class EmissionsData(BaseModel):
    """One of the twin's hourly points, as the SDK's emissions endpoints give them."""

    location: str = Field(examples=["hami"])
    time: datetime = Field(description="start of the hour (UTC)")
    rating: float = Field(description=VALUE)
    duration: str = Field(description="length, a .NET time span (hh:mm:ss)",
                          json_schema_extra={"format": "time-span"}, examples=["01:00:00"])


class CarbonIntensityDTO(BaseModel):
    location: str
    startTime: datetime
    endTime: datetime
    carbonIntensity: float = Field(description=VALUE + "; time-weighted over the period")


class Location(BaseModel):
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = Field(None, description="the site id (the location the endpoints take)")


class _Body(BaseModel):
    # ASP.NET's JSON binding ignores fields it does not know
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class EmissionsForecastBatchParametersDTO(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "location": "hami", "requestedAt": "2026-06-01T12:01:00Z",
        "dataStartAt": "2026-06-01T14:00:00Z", "dataEndAt": "2026-06-01T18:00:00Z",
        "windowSize": 30}]})

    requestedAt: SdkTime = Field(description=(
        "the forecast is the one that was the latest at this time (not after now)"))
    location: str = Field(max_length=64, description="a site id")
    dataStartAt: SdkTime | None = Field(None, description=(
        "within the forecast (the hour of requestedAt .. the horizon after it); default its "
        "start"))
    dataEndAt: SdkTime | None = Field(None, description=(
        "no window ends after it; within the forecast; default its end"))
    windowSize: WindowSize | None = None


class CarbonIntensityBatchParametersDTO(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "location": "hami", "startTime": "2026-06-01T14:00:00Z",
        "endTime": "2026-06-01T18:00:00Z"}]})

    location: str = Field(max_length=64, description="a site id")
    startTime: SdkTime
    endTime: SdkTime
