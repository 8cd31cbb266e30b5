"""``twin serve``: the scheduling service's command, added to the ``twin`` command of
:mod:`twin.cli` here, so that the dependency points from ``api/`` to ``twin/`` (the console
script ``twin`` is this module's ``app``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from api.settings import ENV_PREFIX, Settings
from sites import SiteError, load_catalog
from twin.cli import SitesDir, app, err_console, fail
from twin.simulate import BATTERY_POLICIES

__all__ = ["app"]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: Annotated[Optional[Path], typer.Option(
        help="SQLite file of the reservations (env TWIN_DB_PATH; default "
             "./twin-reservations.sqlite3).")] = None,
    year: Annotated[Optional[int], typer.Option(
        help="Climate year mapped onto calendar dates (env TWIN_YEAR; default 2025).")] = None,
    battery_policy: Annotated[Optional[str], typer.Option(
        help=f"{' | '.join(BATTERY_POLICIES)}: what available IT power counts besides "
             "renewables (env TWIN_BATTERY_POLICY; default balance).")] = None,
    forecast_dir: Annotated[Optional[Path], typer.Option(
        help="Weather forecasts, ERA5-style NetCDF named SITE.nc: their hours answer from them "
             "(env TWIN_FORECAST_DIR).")] = None,
    workers: Annotated[int, typer.Option(
        min=1, help="Server processes (each simulates the sites at start-up; they share the "
                    "reservations database).")] = 1,
    sites_dir: SitesDir = None,
):
    """The scheduling service: HTTP API under /v1 (OpenAPI at /docs). API keys for writes come
    from the environment: TWIN_API_KEYS="key1:tenant1,key2:tenant2"."""
    import uvicorn

    given = {"db_path": db, "year": year, "battery_policy": battery_policy,
             "forecast_dir": forecast_dir,
             "sites_dir": os.pathsep.join(map(str, sites_dir)) if sites_dir else None}
    # the server processes build their settings from the environment (api.app.create_app)
    os.environ.update({f"{ENV_PREFIX}{k.upper()}": str(v) for k, v in given.items()
                       if v is not None})
    try:
        settings = Settings.from_env()
        catalog = load_catalog(settings.sites_dir)
    except (SiteError, ValueError) as err:
        raise fail(err) from None
    err_console.print(f"simulating {len(catalog)} sites for the climate year {settings.year} in "
                      f"{workers} process(es), then serving on http://{host}:{port}/v1 "
                      f"(reservations in {settings.db_path})")
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning")
