"""Request and response bodies of the HTTP API: units in field names (MW, MWh, h, kg), times as
ISO 8601 with a time zone (UTC in answers), unknown fields refused. Numbers and booleans in
request bodies are strict: ``true`` is not 1 W, ``"6"`` is not 6 h, 6.0 is not an int."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)

from twin.it_load import servers_from_gpus
from twin.latency import REGIONS
from twin.model_names import ROLES, SERVER_MODELS
from twin.schedule import OBJECTIVES
from twin.timebase import utc

YEARS = (1900, 2200)  # times outside are refused (and could not be computed on)


def _in_range(t: datetime) -> datetime:
    """The time in UTC (naive: taken as UTC), refused outside YEARS: every time a request gives
    reaches the routes as an aware UTC datetime."""
    try:
        in_utc = utc(t)
    except OverflowError:
        in_utc = None
    if in_utc is None or not YEARS[0] <= in_utc.year <= YEARS[1]:
        raise ValueError(f"time {t.isoformat()} is outside the years {YEARS[0]}-{YEARS[1]}")
    return in_utc


def _iso(value):
    """Times as ISO 8601 text (or datetimes, from Python); pydantic would read numbers as Unix
    times, which the schema (a date-time string) does not offer."""
    if isinstance(value, datetime) or (isinstance(value, str)
                                       and re.match(r"\s*\d{4}-\d\d-\d\d", value)):
        return value
    raise ValueError(f"{value!r} is not an ISO 8601 time such as 2026-07-01T08:00:00Z")


_DATETIME = TypeAdapter(datetime)
# times rendered as text kept for reuse: answers mostly give the same whole hours
TIMES_KEPT = 4096


@lru_cache(maxsize=TIMES_KEPT)
def time_text(t: datetime) -> str:
    """A UTC time as answers give it: as pydantic renders a datetime field
    (2026-07-01T08:00:00Z), for routes that build their JSON data themselves. Equal times
    share one text: give UTC ones only."""
    return _DATETIME.dump_python(t, mode="json")


Time = Annotated[AwareDatetime, BeforeValidator(_iso), AfterValidator(_in_range)]  # with a zone
QueryTime = Annotated[datetime, BeforeValidator(_iso), AfterValidator(_in_range)]  # naive: UTC
Objective = Literal[OBJECTIVES]
SiteId = Annotated[str, Field(min_length=1, max_length=64)]
# the least IT power a job or a hold may have [W]: below it a number is a mistake (5e-324 W)
MIN_POWER_W = 1.0


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class JobIn(_In):
    """A compute job: its IT power (MW, or a GPU count and model) for a duration, a window it must
    run in, where it may run, and whether it can pause and resume (interruptible)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "train-a", "it_power_w": 4_000_000, "duration_h": 8,
         "earliest_start": "2026-07-01T00:00:00Z", "deadline": "2026-07-03T00:00:00Z",
         "sites": ["hami", "ulanqab"]},
        {"name": "serve-b", "gpu_count": 512, "gpu_model": "H100", "duration_h": 4,
         "deadline": "2026-07-02T00:00:00Z", "kind": "inference", "latency_budget_ms": 40,
         "user_region": "shanghai"}]})

    name: str = Field("", max_length=200)
    it_power_w: float | None = Field(None, ge=MIN_POWER_W, le=1e9, strict=True,
                                     description="IT power [W]")
    gpu_count: int | None = Field(None, gt=0, le=10_000_000, strict=True)
    gpu_model: Literal[SERVER_MODELS] = "H100"
    duration_h: int = Field(gt=0, le=24 * 366, strict=True)
    earliest_start: Time | None = Field(None, description="default: now")
    deadline: Time = Field(description="the job must end by then")
    sites: list[SiteId] | None = Field(None, min_length=1, max_length=100,
                                       description="allowed; default all")
    interruptible: bool = Field(False, strict=True)
    kind: Literal[ROLES] = "training"
    latency_budget_ms: float | None = Field(None, gt=0, le=10_000, strict=True, description=(
        "inference: round-trip budget from the user region; sites beyond it are not offered"))
    user_region: Literal[tuple(REGIONS)] | None = Field(None, description="where the users are")

    @model_validator(mode="after")
    def _one_size(self) -> JobIn:
        if (self.it_power_w is None) == (self.gpu_count is None):
            raise ValueError("give the job's size as it_power_w or as gpu_count (with "
                             "gpu_model), not both and not neither")
        if self.kind == "inference" and (self.latency_budget_ms is None
                                         or self.user_region is None):
            raise ValueError("an inference job needs latency_budget_ms and user_region")
        if (self.latency_budget_ms is None) != (self.user_region is None):
            raise ValueError("latency_budget_ms and user_region go together")
        return self

    def power_w(self) -> float:
        """The job's IT power [W]: as given, or that of its GPUs' servers at full load."""
        if self.it_power_w is not None:
            return self.it_power_w
        return float(servers_from_gpus([self.gpu_model], [self.gpu_count])[1][0])


class SearchIn(JobIn):

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"it_power_w": 4_000_000, "duration_h": 8, "deadline": "2026-07-03T00:00:00Z",
         "objective": "carbon", "limit": 3, "sites": ["hami", "zhongwei", "ulanqab"]}]})
    objective: Objective = "grid_energy"
    limit: int = Field(10, gt=0, le=50, strict=True, description="ranked options returned")


class PlanIn(_In):

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"jobs": [{"name": "train-a", "it_power_w": 3_000_000, "duration_h": 10,
                   "deadline": "2026-07-03T00:00:00Z"},
                  {"name": "train-b", "it_power_w": 2_000_000, "duration_h": 12,
                   "deadline": "2026-07-03T00:00:00Z", "interruptible": True,
                   "sites": ["hami", "golmud"]}],
         "objective": "carbon"}]})
    jobs: list[JobIn] = Field(min_length=1)
    objective: Objective = "grid_energy"
    time_limit_s: float | None = Field(None, gt=0, le=60, strict=True)


class BlockOut(BaseModel):
    site: str
    start: datetime
    end: datetime
    it_power_w: float


class OptionOut(BaseModel):
    site: str
    start: datetime = Field(description="when the job starts: a whole hour, or its earliest "
                                        "start when that is inside an hour (a job run now)")
    end: datetime
    hours: list[datetime] | None = Field(None, description="interruptible jobs: the hours run")
    holds: list[BlockOut] = Field(description=(
        "what to reserve to run it, whole UTC hours (a run starting inside an hour holds that "
        "hour): POST them to /v1/reservations:batch"))
    renewable_fraction: float
    grid_energy_wh: float
    emissions_kg_co2: float
    cost: float
    currency: str
    mean_pue: float
    run_now: bool
    round_trip_ms: float = Field(description="fibre round trip from the user region (0 "
                                             "without one)")


class SearchOut(BaseModel):
    data_mode: str
    objective: str
    it_power_w: float
    options: list[OptionOut] = Field(description="best first; the run-now option, flagged, "
                                                 "is appended when it is not ranked")
    run_now: OptionOut | None = Field(description="starting at the earliest start, for "
                                                  "comparison (None when it does not fit)")


class RunOut(BaseModel):
    site: str
    start: datetime
    fraction: float = Field(description="of the hour at the job's power (1 for rigid jobs)")


class BlockIn(_In):

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"site": "ulanqab", "start": "2026-07-01T00:00:00Z", "end": "2026-07-01T08:00:00Z",
         "it_power_w": 4_000_000}]})
    site: SiteId
    start: Time = Field(description="a whole UTC hour")
    end: Time = Field(description="a whole UTC hour after start")
    it_power_w: float = Field(ge=MIN_POWER_W, le=1e9, strict=True, description="IT power [W]")


class AssignmentOut(BaseModel):
    name: str
    it_power_w: float
    sites: list[str]
    start: datetime
    end: datetime
    runs: list[RunOut]
    holds: list[BlockOut] = Field(description=(
        "the job's IT power as blocks of constant power over consecutive hours at one site: "
        "POST every job's holds to /v1/reservations:batch to hold the plan"))


class PlanOut(BaseModel):
    data_mode: str
    objective: str
    method: Literal["milp", "greedy"]
    status: str
    objective_value: float
    mip_gap: float | None = Field(description="relative gap of the MILP; None for greedy")
    solve_seconds: float
    grid_energy_wh: float
    emissions_kg_co2: float
    cost: float
    currency: str
    assignments: list[AssignmentOut]


TTL = Field(None, gt=0, le=366 * 24 * 3600, strict=True,
            description="how long the hold lasts from now [s] (default: until its block ends)")


class ReservationIn(BlockIn):
    ttl_s: int | None = TTL


class ReservationsIn(_In):

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reservations": [{"site": "ulanqab", "start": "2026-07-01T00:00:00Z",
                           "end": "2026-07-01T08:00:00Z", "it_power_w": 3_000_000},
                          {"site": "hami", "start": "2026-07-01T04:00:00Z",
                           "end": "2026-07-01T06:00:00Z", "it_power_w": 1_500_000}]}]})
    reservations: list[BlockIn] = Field(min_length=1, description=(
        "held all or none; as many as the body limit allows"))
    ttl_s: int | None = TTL


class ReservationPatch(_In):
    """Extend a held reservation (``ttl_s`` from now) or confirm it (no ``ttl_s``: held until
    its block ends)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"ttl_s": 3600}, {}]})

    ttl_s: int | None = TTL


class ReservationOut(BaseModel):
    id: str
    site: str
    start: datetime
    end: datetime
    it_power_w: float
    created: datetime
    expires: datetime
    status: Literal["held", "expired", "cancelled"]


class SiteOut(BaseModel):
    id: str
    name: str
    province: str
    role: str
    latitude: float
    longitude: float
    altitude_m: float
    it_capacity_w: float
    annual: dict[str, float | int | str | None]


class SiteDetailOut(SiteOut):
    configuration: dict


class TimeseriesOut(BaseModel):
    site: str
    data_mode: str
    time: list[datetime]
    values: dict[str, list[float | None]]


class HealthOut(BaseModel):
    status: Literal["ok", "ready"]
    sites: int | None = Field(None, description="sites simulated (readiness)")


class Problem(BaseModel):
    detail: str
