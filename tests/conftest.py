import math
import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

SHARED_WEATHER = Path(__file__).resolve().parents[2] / "shared" / "weather"
EPW_FILES = sorted(SHARED_WEATHER.glob("*.epw"))
needs_shared = pytest.mark.skipif(
    not EPW_FILES, reason=f"real EPW files not found in {SHARED_WEATHER} (../shared/weather "
                          "beside the repository); this is expected on a user's fresh clone")


@pytest.fixture(scope="session")
def golmud_path():
    if not EPW_FILES:
        pytest.skip(f"real EPW files not found in {SHARED_WEATHER}")
    return SHARED_WEATHER / "CHN_Qinghai.Golmud.528180_CSWD.epw"


@pytest.fixture(scope="session")
def golmud_site():
    from sites import get_site

    return get_site("golmud")


def with_settings(site, table: str, **update):
    """A copy of ``site`` whose ``table`` (pv, wind, ...) has the ``update``d settings."""
    return site.model_copy(update={table: getattr(site, table).model_copy(update=update)})


def _toml_value(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    return repr(v)


def dump_toml(data: dict) -> str:
    """Enough of a TOML writer for a site file: top-level scalars, then one level of tables."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for table, body in ((k, v) for k, v in data.items() if isinstance(v, dict)):
        lines += ["", f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


def write_site(folder: Path, site_id: str, data: dict) -> Path:
    """``data`` written as the site file ``folder/site_id.toml``."""
    path = folder / f"{site_id}.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


def hami_data() -> dict:
    """The bundled Hami site file as a dict (to alter and write back with dump_toml)."""
    text = resources.files("sites").joinpath("catalog", "hami.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def write_era5(path, site, start: datetime, hours: int, sun: bool, years: int = 1):
    """An ERA5-style NetCDF (weather.read_netcdf's format) of ``hours`` from ``start`` built
    from the site's synthetic weather of ``years`` calendar years (and the hour after them);
    ``sun=False`` makes every hour dark."""
    wx = xr.concat([site.weather(year=start.year + k, seed=9) for k in range(years + 1)],
                   "time").sel(time=slice(start.replace(tzinfo=None), None)).isel(
        time=slice(0, hours + 1))
    valid = pd.DatetimeIndex(wx["time"].values)
    ghi_before = np.r_[0.0, wx["ghi"].values[:-1]] * (1.0 if sun else 0.0)  # hour ending at t
    speed = wx["wind_speed"].values
    fields = {"t2m": (wx["temp_air"].values + 273.15, "K"),
              "d2m": (wx["temp_dew"].values + 273.15, "K"),
              "ssrd": (ghi_before * 3600.0, "J m**-2"), "u10": (speed, "m s**-1"),
              "v10": (np.zeros_like(speed), "m s**-1"), "sp": (wx["pressure"].values, "Pa")}
    lats, lons = [site.latitude + 0.1, site.latitude - 0.1], [site.longitude - 0.1,
                                                              site.longitude + 0.1]
    ds = xr.Dataset({k: (("valid_time", "latitude", "longitude"),
                         np.broadcast_to(v[:, None, None], (len(valid), 2, 2)).copy(),
                         {"units": u}) for k, (v, u) in fields.items()},
                    coords={"valid_time": valid, "latitude": lats, "longitude": lons})
    ds.to_netcdf(path)


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of its own for the session (tests/postgres_server.py), or a skip
    saying why it cannot start."""
    try:
        from tests.postgres_server import PostgresServer

        server = PostgresServer().start()
    except (ImportError, RuntimeError, OSError) as err:
        pytest.skip(f"no PostgreSQL server for the ledger tests: {err}")
    yield server
    server.stop()


LEDGERS = ("sqlite", "postgresql")
# a test of the reservations ledger, run against each database (its ``ledger`` fixture)
both_ledgers = pytest.mark.parametrize("ledger", LEDGERS, indirect=True)


@pytest.fixture
def ledger(request, tmp_path) -> str:
    """Where a test's reservations are: a new SQLite file, or with ``both_ledgers`` a new
    database on the session's PostgreSQL server too."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("postgres").new_database()
    return str(tmp_path / "r.sqlite3")


def ledger_settings(ledger: str) -> dict:
    """The Settings fields that put the reservations at ``ledger``."""
    return {"db_url": ledger} if ledger.startswith("postgres") else {"db_path": Path(ledger)}
