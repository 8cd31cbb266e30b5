import math
import tomllib
from importlib import resources
from pathlib import Path

import pytest

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
