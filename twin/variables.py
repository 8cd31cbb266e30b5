"""The registry of variable names, units and CF attributes.

Every Dataset the twin reads or writes takes its variable attributes from here, so a name means
one thing with one unit everywhere. Units are CF/UDUNITS strings; names follow pvlib where pvlib
has one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

W_PER_MW = 1e6  # W (and Wh) inside the library; MW (MWh) only for people


def to_mw(watts):
    """W -> MW (and Wh -> MWh): the one display conversion."""
    return watts / W_PER_MW


def fmt(value: float, spec: str) -> str:
    """A figure for people: ``format(value, spec)``, or "–" where it is undefined (NaN)."""
    return "–" if not np.isfinite(value) else format(value, spec)


@dataclass(frozen=True)
class Variable:
    units: str
    long_name: str
    standard_name: str | None = None

    def attrs(self) -> dict[str, str]:
        out = {"units": self.units, "long_name": self.long_name}
        if self.standard_name:
            out["standard_name"] = self.standard_name
        return out


VARIABLES: dict[str, Variable] = {
    # weather in (pvlib names)
    "ghi": Variable("W m-2", "global horizontal irradiance, mean over the hour",
                    "surface_downwelling_shortwave_flux_in_air"),
    "dni": Variable("W m-2", "direct normal irradiance, mean over the hour",
                    "surface_direct_along_beam_shortwave_flux_in_air"),
    "dhi": Variable("W m-2", "diffuse horizontal irradiance, mean over the hour",
                    "surface_diffuse_downwelling_shortwave_flux_in_air"),
    "temp_air": Variable("degC", "dry-bulb air temperature at 2 m", "air_temperature"),
    "temp_dew": Variable("degC", "dew-point temperature at 2 m", "dew_point_temperature"),
    "relative_humidity": Variable("%", "relative humidity at 2 m", "relative_humidity"),
    "pressure": Variable("Pa", "surface air pressure", "surface_air_pressure"),
    "wind_speed": Variable("m s-1", "wind speed at measurement height", "wind_speed"),
    "albedo": Variable("1", "ground albedo", "surface_albedo"),
    "pm10": Variable("ug m-3", "PM10 mass concentration",
                     "mass_concentration_of_pm10_ambient_aerosol_particles_in_air"),
    "pm2_5": Variable("ug m-3", "PM2.5 mass concentration",
                      "mass_concentration_of_pm2p5_ambient_aerosol_particles_in_air"),
    "precipitable_water": Variable("cm", "precipitable water",
                                   "lwe_thickness_of_atmosphere_mass_content_of_water_vapor"),
    "precipitation": Variable("mm", "liquid precipitation over the hour",
                              "lwe_thickness_of_precipitation_amount"),
    "wind_height": Variable("m", "height of the wind speed measurement above ground", "height"),
    # geometry
    "latitude": Variable("degrees_north", "latitude", "latitude"),
    "longitude": Variable("degrees_east", "longitude", "longitude"),
    "altitude": Variable("m", "altitude above mean sea level", "surface_altitude"),
    # generation (twin.solar, twin.wind, twin.simulate)
    "poa_global": Variable("W m-2", "plane-of-array (front) global irradiance, mean over the hour"),
    "soiling_loss": Variable("1", "fraction of plane-of-array irradiance lost to soiling"),
    "temp_cell": Variable("degC", "PV cell temperature"),
    "pv_power": Variable("W", "AC power of the PV plant, mean over the hour"),
    "wind_speed_hub": Variable("m s-1", "wind speed at hub height after scaling to the wind-farm "
                               "mean", "wind_speed"),
    "air_density_hub": Variable("kg m-3", "air density at hub height", "air_density"),
    "wind_power": Variable("W", "power of the wind farm, mean over the hour"),
    "renewable_power": Variable("W", "PV plus wind power, mean over the hour"),
    "pv_capacity": Variable("W", "PV plant DC nameplate capacity"),
    "wind_capacity": Variable("W", "wind farm nameplate capacity"),
    "wind_speed_scale": Variable("1", "factor scaling the station's hub-height wind to the "
                                 "configured wind-farm mean"),
    # IT, cooling and facility (twin.it_load, twin.cooling, twin.facility)
    "utilisation": Variable("1", "mean utilisation of the servers over the hour"),
    "it_power": Variable("W", "IT power (servers incl. their fans), mean over the hour"),
    "server_fan_power": Variable("W", "server fan power (part of IT power)"),
    "electrical_losses": Variable("W", "UPS, distribution and lighting losses"),
    "cooling_power": Variable("W", "electric power of the cooling plant"),
    "cooling_fan_power": Variable("W", "air-handler, heat-exchanger, dry-cooler and tower fans"),
    "cooling_pump_power": Variable("W", "cooling pumps"),
    "mechanical_cooling_power": Variable("W", "chiller or DX compressor power"),
    "facility_power": Variable("W", "total facility power: IT + losses + cooling"),
    "pue": Variable("1", "power usage effectiveness of the hour: facility over IT power"),
    "water_use": Variable("L h-1", "site water use: evaporation, drift, blowdown, sprays, "
                          "humidification"),
    "cooling_mode": Variable("1", "cooling mode of the hour"),
    "supply_air_temperature": Variable("degC", "supply air temperature setpoint"),
    "facility_water_temperature": Variable("degC", "facility water supply temperature setpoint"),
    "inlet_outside_recommended": Variable("1", "server inlet outside the ASHRAE recommended "
                                          "envelope"),
    "inlet_outside_allowable": Variable("1", "server inlet outside the ASHRAE allowable envelope "
                                        "of the site's class, derated for altitude"),
    "cooling_power_baseline": Variable("W", "cooling power under the baseline control"),
    "facility_power_baseline": Variable("W", "facility power under the baseline control"),
    # power balance (twin.storage)
    "battery_power": Variable("W", "battery power into the facility (> 0 discharging, < 0 "
                              "charging)"),
    "battery_soc": Variable("1", "battery state of charge at the end of the hour, fraction of "
                            "its energy rating (0 without a battery)"),
    "battery_dischargeable_power": Variable("W", "power the battery could deliver at the start "
                                            "of the hour"),
    "grid_import": Variable("W", "power imported from the grid"),
    "curtailment": Variable("W", "renewable power neither used nor stored"),
    "unserved_power": Variable("W", "facility demand met by nothing (grid import limit reached)"),
    "carbon_intensity": Variable("g kWh-1", "carbon intensity of grid electricity (CO2)"),
    "electricity_price": Variable("kWh-1", "price of grid electricity (currency in attribute "
                                  "currency)"),
    "grid_emissions": Variable("kg h-1", "CO2 emitted for the grid import"),
    "grid_cost": Variable("h-1", "cost of the grid import (currency in attribute currency)"),
    "battery_energy": Variable("W h", "battery energy rating"),
    "grid_import_capacity": Variable("W", "grid import capacity"),
    # availability for schedulers (twin.facility)
    "it_available_power": Variable("W", "largest IT power the renewables (and battery, by "
                                   "policy) can carry after that hour's cooling and losses, at "
                                   "most the IT capacity"),
    "it_committed_power": Variable("W", "IT power already committed (reservations)"),
    "it_headroom": Variable("W", "available IT power minus committed IT power, at least 0"),
    "facility_power_intercept": Variable("W", "a of facility power ~= a + b IT power (fixed "
                                         "overhead of the hour)"),
    "marginal_pue": Variable("1", "b of facility power ~= a + b IT power (facility power per "
                             "watt of IT)"),
    "facility_linear_max_error": Variable("W", "largest error of facility power ~= a + b IT "
                                          "power over the load curve and the hours"),
    # annual figures of a climate-year study (twin.study), one per site and year
    "renewable_fraction": Variable("1", "fraction of facility energy from renewables"),
    "annual_pue": Variable("1", "energy-weighted annual PUE: facility over IT energy"),
    "wue": Variable("L kWh-1", "water use per kWh of IT energy"),
    "hours_over_allowable": Variable("h", "hours with the server inlet outside the ASHRAE "
                                     "allowable envelope"),
    "curtailed_energy": Variable("W h", "renewable energy curtailed over the year"),
    "grid_energy": Variable("W h", "grid energy imported over the year"),
    "emissions": Variable("t", "CO2 emitted for the grid import over the year"),
    "it_available_mean": Variable("W", "annual mean of the IT power renewables (and battery, by "
                                  "policy) can carry"),
}

WEATHER_REQUIRED = ("ghi", "dni", "dhi", "temp_air", "temp_dew", "relative_humidity", "pressure",
                    "wind_speed")
WEATHER_OPTIONAL = ("albedo", "pm10", "pm2_5", "precipitable_water", "precipitation")


def annotate(ds: xr.Dataset) -> xr.Dataset:
    """Set the registry's CF attributes on every known variable and coordinate of ``ds``
    (in place)."""
    for name in list(ds.data_vars) + list(ds.coords):
        if name in VARIABLES:
            ds[name].attrs.update(VARIABLES[name].attrs())
    return ds
