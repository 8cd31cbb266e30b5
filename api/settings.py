"""Service settings: one frozen pydantic model, from keyword arguments or the environment
(``TWIN_*`` variables), handed to the app factory and reaching routes through a dependency."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.ledger import POSTGRES_SCHEMES
from api.schemas import YEARS
from twin.latency import ROUTE_FACTOR
from twin.model_names import BATTERY_POLICIES
from twin.outlook import DEFAULT_BATTERY_POLICY, DEFAULT_HORIZON_H, DEFAULT_SEED, DEFAULT_YEAR

ENV_PREFIX = "TWIN_"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # SQLite file of the reservations (WAL mode): a restart keeps every committed reservation
    db_path: Path = Path("twin-reservations.sqlite3")
    # a PostgreSQL database instead (postgresql://user:password@host:port/database): the
    # ledger that replicas on several hosts share; when given, db_path is not used
    db_url: str | None = None
    # API keys -> tenant; writes (reservations) need one, reads do not
    api_keys: dict[str, str] = Field(default_factory=dict)
    # the climate year mapped onto calendar dates (typical-year mode) and its synthetic weather
    year: Annotated[int, Field(ge=YEARS[0], le=YEARS[1])] = DEFAULT_YEAR
    seed: int = DEFAULT_SEED
    sites_dir: list[Path] | None = None
    # weather forecasts: ERA5-style NetCDF files named SITE.nc; their hours answer from them
    forecast_dir: Path | None = None
    # what available IT power counts besides renewables: "none" or "balance" (the battery)
    battery_policy: Literal[BATTERY_POLICIES] = DEFAULT_BATTERY_POLICY
    # fibre route length over the great circle, for inference latency (twin.latency)
    route_factor: Annotated[float, Field(ge=1)] = ROUTE_FACTOR
    # limits on what one request may ask
    max_horizon_h: Annotated[int, Field(gt=0)] = DEFAULT_HORIZON_H
    # jobs per plan: 1,000 jobs over 15 sites and 168 h (a 130 KB body; benchmarks/plan.py
    # --jobs 1000 --sites 15: 210,000-220,000 columns, 2.2-2.4 million entries) gave a feasible
    # plan, its gap to the solver's bound reported, in 22-25 s of the 30 s limit on a loaded
    # 2-core machine; through POST /v1/plans in 23 s, the server's peak memory 0.8 GB higher
    max_jobs: Annotated[int, Field(gt=0)] = 1000
    max_body_bytes: Annotated[int, Field(gt=0)] = 1_000_000
    # a plan's time limit (and the most a request may ask), building the program included
    plan_time_limit_s: Annotated[float, Field(gt=0)] = 30.0
    # a plan's model is refused before it is built when its estimated matrix entries exceed
    # this (twin.schedule_milp.problem_size, an upper bound): 15 rigid 40 h jobs in 300 h at
    # every site (estimate tight) took 5 s and 0.5 GB at 5 million; 1,000 jobs on 15 sites
    # over 168 h are estimated at 4.6-5.3 million (built: 2.2 million) and took 0.7 GB
    max_plan_nonzeros: Annotated[int, Field(gt=0)] = 6_000_000
    # plans solved at once per server process; more get 503 with Retry-After, so that the
    # memory of plans stays bounded (0.5-0.8 GB each near max_plan_nonzeros, measured above)
    max_concurrent_plans: Annotated[int, Field(gt=0)] = 2
    # blocks per POST /v1/reservations:batch (held in one transaction, the write lock held)
    max_batch_blocks: Annotated[int, Field(gt=0)] = 5000
    # how long a write waits for another's lock before 503 with Retry-After [s]
    db_busy_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0

    @field_validator("db_url")
    @classmethod
    def _postgres_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(POSTGRES_SCHEMES):
            raise ValueError("not a PostgreSQL URL: postgresql://user@host:port/database")
        return url

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Settings from ``TWIN_DB_PATH``, ``TWIN_DB_URL``, ``TWIN_API_KEYS``
        ("key1:tenant1,key2:tenant2"), ``TWIN_YEAR``, ``TWIN_SEED``, ``TWIN_SITES_DIR``,
        ``TWIN_BATTERY_POLICY``, ``TWIN_MAX_*`` and ``TWIN_DB_BUSY_TIMEOUT_S``, then
        ``overrides``."""
        env = {k[len(ENV_PREFIX):].lower(): v for k, v in os.environ.items()
               if k.startswith(ENV_PREFIX)}
        values: dict = {k: v for k, v in env.items()
                        if k in cls.model_fields and k not in ("api_keys", "sites_dir")}
        if env.get("api_keys"):
            values["api_keys"] = parse_api_keys(env["api_keys"])
        if env.get("sites_dir"):
            values["sites_dir"] = [Path(p) for p in env["sites_dir"].split(os.pathsep) if p]
        return cls(**{**values, **overrides})

    @property
    def ledger(self) -> str:
        """Where the reservations are: the PostgreSQL URL, or else the SQLite file."""
        return self.db_url or str(self.db_path)


def parse_api_keys(text: str) -> dict[str, str]:
    """``"key1:tenant1,key2:tenant2"`` -> {key: tenant}; a malformed entry or a key given
    twice raises ValueError, which names the entry by its position, never by its text (a
    secret)."""
    keys = {}
    entries = [e.strip() for e in text.split(",")]
    for n, entry in enumerate(entries, 1):
        if not entry:
            continue
        key, sep, tenant = entry.partition(":")
        if not sep or not key.strip() or not tenant.strip():
            raise ValueError(f"{ENV_PREFIX}API_KEYS: entry {n} of {len(entries)} is not "
                             "key:tenant")
        if key.strip() in keys:
            raise ValueError(f"{ENV_PREFIX}API_KEYS: entry {n} of {len(entries)} gives a key "
                             "twice")
        keys[key.strip()] = tenant.strip()
    return keys
