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
