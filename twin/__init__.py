"""Hourly energy-and-cooling digital twin of AI data centers on renewable power in deserts."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("desert-twin")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

# noqa: E402 below: these need __version__ above
from twin.facility import facility_summary  # noqa: E402
from twin.simulate import generation_summary, simulate  # noqa: E402
from twin.storage import balance_summary  # noqa: E402

__all__ = ["__version__", "balance_summary", "facility_summary", "generation_summary", "simulate"]
