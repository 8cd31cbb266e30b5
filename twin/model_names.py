"""The names of each model family: the one list site files are validated against, the physics
dispatches on and error messages are built from.

A leaf module (standard library only): ``sites/`` imports it for its ``Literal[...]`` fields
without importing the physics, and each physics module imports its family's tuple from here.
"""

from __future__ import annotations

from collections.abc import Iterable

# twin.cooling / twin.facility
COOLING_TOPOLOGIES = ("airside_economizer", "chilled_water", "liquid_dry_cooler")
AIR_PATHS = ("direct", "indirect")
COOLING_CONTROLS = ("baseline", "optimised")
ECONOMIZER_SUPPLIES = ("mixed", "floating")
ABOVE_ECONOMIZER_LIMIT = ("adiabatic", "recirculate")
DRY_COOLER_STAGING = ("fans_first", "least_water")
AIR_SIDE_MECHANICAL = ("air_cooled", "water_cooled")
FAN_LAWS = ("fixed_ducts", "fixed_pressure")
ASHRAE_CLASSES = ("A1", "A2", "A3", "A4")
# twin.it_load (the keys of twin.it_load.SERVERS, in that order)
SERVER_MODELS = ("H100", "H200", "H800", "H20", "Ascend910B", "Ascend910C", "CPU")
# twin.solar (and the surfaces of pvlib.albedo.SURFACE_ALBEDOS, in that order)
MOUNTINGS = ("fixed", "single_axis")
ALBEDO_SURFACES = ("urban", "grass", "fresh grass", "soil", "sand", "snow", "fresh snow",
                   "asphalt", "concrete", "aluminum", "copper", "fresh steel", "dirty steel", "sea")
TRANSPOSITIONS = ("perez", "haydavies")
TEMPERATURE_MODELS = ("faiman", "sapm", "fuentes")
SPECTRAL_MODELS = ("none", "airmass")
SOILING_MODELS = ("none", "kimber", "hsu")
# twin.wind
WIND_PROFILES = ("log", "power")
DENSITY_CORRECTIONS = ("iec", "none")
WAKE_MODELS = ("dena_mean", "knorr_mean", "constant")
# twin.simulate: what the available IT power counts besides renewables
BATTERY_POLICIES = ("none", "balance")
# what a site is for (twin.schedule places jobs of these kinds)
ROLES = ("training", "inference")


def unknown_name(label: str, value, known: Iterable[str]) -> ValueError:
    """The error for a name outside its family: ``unknown <label> <value!r>; known: a, b``."""
    shown = repr(str(value)) if isinstance(value, str) else repr(value)  # numpy's str_ as str
    return ValueError(f"unknown {label} {shown}; known: {', '.join(known)}")


def check_name(label: str, value, known: Iterable[str]):
    """``value`` if it is one of ``known``; else :func:`unknown_name`'s ``ValueError``."""
    known = tuple(known)
    if value not in known:
        raise unknown_name(label, value, known)
    return value
