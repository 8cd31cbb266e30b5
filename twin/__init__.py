"""Hourly energy-and-cooling digital twin of AI data centers on renewable power in deserts."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("desert-twin")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from twin.simulate import generation_summary, simulate  # noqa: E402  (needs __version__ above)

__all__ = ["__version__", "generation_summary", "simulate"]
