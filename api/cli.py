"""``twin serve``: the scheduling service's command, added to the ``twin`` command of
:mod:`twin.cli` here, so that the dependency points from ``api/`` to ``twin/`` (the console
script ``twin`` is this module's ``app``)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from twin.cli import SitesDir, app, commands, err_console, fail
from twin.model_names import BATTERY_POLICIES

__all__ = ["app"]


@commands.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: Annotated[Optional[str], typer.Option(
        help="The reservations ledger: an SQLite file (env TWIN_DB_PATH; default "
             "./twin-reservations.sqlite3) or a PostgreSQL URL postgresql://user@host/database "
             "that replicas on several hosts share (env TWIN_DB_URL).")] = None,
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
    log_level: Annotated[str, typer.Option(
        help="critical | error | warning | info (an access-log line per request) | debug.")
    ] = "info",
):
    """The scheduling service: the dashboard at /, the HTTP API under /v1, its docs at /docs.
    It answers /health at once and everything else once the sites are simulated (GET /ready;
    a line says so). API keys for writes come from the environment:
    TWIN_API_KEYS="key1:tenant1,key2:tenant2"."""
    import uvicorn
    from pydantic import ValidationError

    from api.ledger import POSTGRES_SCHEMES, open_store
    from api.settings import ENV_PREFIX, Settings
    from sites import SiteError, load_catalog

    if db is not None:  # the option wins over either variable
        for name in ("DB_PATH", "DB_URL"):
            os.environ.pop(f"{ENV_PREFIX}{name}", None)
    postgres = db is not None and db.startswith(POSTGRES_SCHEMES)
    given = {"db_url" if postgres else "db_path": db, "year": year,
             "battery_policy": battery_policy, "forecast_dir": forecast_dir,
             "sites_dir": os.pathsep.join(map(str, sites_dir)) if sites_dir else None}
    # the server processes build their settings from the environment (api.app.create_app)
    os.environ.update({f"{ENV_PREFIX}{k.upper()}": str(v) for k, v in given.items()
                       if v is not None})
    try:
        settings = Settings.from_env()
        catalog = load_catalog(settings.sites_dir)
        store = open_store(settings.ledger, settings.db_busy_timeout_s)  # checked, migrated
    except ValidationError as err:  # a ValueError too: said in one line
        raise fail(ValueError("settings: " + "; ".join(
            f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}"
            for e in err.errors()))) from None
    except (SiteError, ValueError) as err:
        raise fail(err) from None
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    err_console.print(f"starting on {url}/ in {workers} process(es): simulating {len(catalog)} "
                      f"sites for the climate year {settings.year} (reservations in "
                      f"{store.location})", highlight=False, soft_wrap=True)
    watch = _Readiness(url)
    threading.Thread(target=watch.run, daemon=True).start()
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=True)
    if watch.failure:
        raise fail(ValueError(watch.failure))


class _Readiness:
    """Polls GET /ready of the service just started: says once when it is ready; when loading
    failed, stops the server (SIGINT, as Ctrl-C does) so that `twin serve` exits with it."""

    def __init__(self, url: str):
        self.url, self.failure = url, None

    def run(self):
        import urllib.error
        import urllib.request

        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/ready", timeout=5) as answer:
                    sites = json.load(answer)["sites"]
                err_console.print(f"ready: {self.url}/ (dashboard), {self.url}/v1/sites, "
                                  f"{self.url}/docs; {sites} sites", highlight=False,
                                  soft_wrap=True)
                return
            except urllib.error.HTTPError as err:
                detail = json.loads(err.read() or b"{}").get("detail", "")
                if "failed" in detail:
                    self.failure = detail
                    os.kill(os.getpid(), signal.SIGINT)
                    return
            except OSError:  # not listening yet
                pass
            time.sleep(0.2)
