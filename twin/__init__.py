"""Hourly energy-and-cooling digital twin of AI data centers on renewable power in deserts.

The names below are imported on first use (:mod:`twin._lazy`), so that ``import
twin.variables`` (as ``weather/`` does) loads neither the physics nor their libraries."""

from twin._lazy import lazy_package
from twin._version import __version__

_EXPORTS = {"simulate": ("twin.simulate", "simulate"),
            "generation_summary": ("twin.simulate", "generation_summary"),
            "facility_summary": ("twin.facility", "facility_summary"),
            "balance_summary": ("twin.storage", "balance_summary")}
__all__ = ["__version__", *_EXPORTS]
__getattr__, __dir__ = lazy_package(__name__, _EXPORTS)
