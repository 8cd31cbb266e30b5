"""The site catalog: one TOML file per site (sites/catalog/) and the loader that validates it."""

from sites.catalog import (
    ENV_SITES_DIR,
    BatteryConfig,
    CoolingConfig,
    GridConfig,
    ITConfig,
    PVConfig,
    Site,
    SiteError,
    WindConfig,
    get_site,
    load_catalog,
    load_site,
    turbine_types,
)
from twin.model_names import COOLING_TOPOLOGIES, MOUNTINGS, ROLES

__all__ = ["COOLING_TOPOLOGIES", "ENV_SITES_DIR", "MOUNTINGS", "ROLES", "BatteryConfig",
           "CoolingConfig", "GridConfig", "ITConfig", "PVConfig", "Site", "SiteError",
           "WindConfig", "get_site", "load_catalog", "load_site", "turbine_types"]
