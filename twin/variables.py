"""The registry of variable names, units and CF attributes.

Every Dataset the twin reads or writes takes its variable attributes from here, so a name means
one thing with one unit everywhere. Names follow pvlib where pvlib has one. Units are strings
UDUNITS-2 parses (CF 1.8 section 3.1): a kilowatt hour is ``kW h``, so "per kWh" is ``kW-1 h-1``.
Money is no UDUNITS unit and CF defines none: a price or cost carries the rest of its unit
(``kW-1 h-1``, ``h-1``) and names its currency (ISO 4217) in a ``currency`` attribute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the registry imports no numerical library: `twin sites` starts without them
    import xarray as xr

# the CF version the twin's NetCDF and Zarr outputs follow: nothing they use is newer, and the
# CF checker (cfchecker 4.1) checks up to it
CONVENTIONS = "CF-1.8"
W_PER_MW = 1e6  # W (and Wh) inside the library; MW (MWh) only for people


def to_mw(watts):
    """W -> MW (and Wh -> MWh): the one display conversion."""
    return watts / W_PER_MW


def fmt(value: float, spec: str) -> str:
    """A figure for people: ``format(value, spec)``, or "–" where it is undefined (NaN)."""
    return "–" if not math.isfinite(value) else format(value, spec)


@dataclass(frozen=True)
class Variable:
    """CF attributes of a variable. ``cell_methods`` (CF 7.3) applies where the variable has a
    ``time`` dimension: ``time: mean`` for the mean over the hour a time label starts,
    ``time: point`` for a state at one instant of it. ``flag_meanings`` (CF 3.5) gives the
    meanings of the values 0, 1, ... of a flag variable (booleans: False, True). ``units`` None:
    a label (a string, or a number that is no quantity)."""

    units: str | None
    long_name: str
    standard_name: str | None = None
    cell_methods: str | None = None
    flag_meanings: tuple[str, ...] = ()
    positive: str | None = None  # a vertical coordinate's direction (CF 4.3)

    def attrs(self, dims: tuple[str, ...] = ()) -> dict[str, str]:
        out = {"long_name": self.long_name}
        if self.units is not None:
            out["units"] = self.units
        for key in ("standard_name", "positive"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.cell_methods and "time" in dims:
            out["cell_methods"] = self.cell_methods
        return out


MEAN, POINT = "time: mean", "time: point"


VARIABLES: dict[str, Variable] = {
    # coordinates: the hour (its units are written by xarray's time encoding) and labels
    "time": Variable(None, "start of the hour (UTC)", "time"),
    "site": Variable(None, "site id (the twin's site catalog)"),
    "name": Variable(None, "site name"),
    "cooling_topology": Variable(None, "cooling plant topology (twin.cooling)"),
    "cooling_control": Variable(None, "cooling plant control (twin.cooling)"),
    "year": Variable("1", "weather year: the year of its weather file, or the seed of its "
                     "synthetic year (twin.study)"),
    "scenario": Variable(None, "climate scenario: baseline or a warming (twin.study)"),
    "variant": Variable(None, "design variant: the site settings it changes (twin.study)"),
    # weather in (pvlib names)
    "ghi": Variable("W m-2", "global horizontal irradiance, mean over the hour",
                    "surface_downwelling_shortwave_flux_in_air", MEAN),
    "dni": Variable("W m-2", "direct normal irradiance, mean over the hour",
                    "surface_direct_along_beam_shortwave_flux_in_air", MEAN),
    "dhi": Variable("W m-2", "diffuse horizontal irradiance, mean over the hour",
                    "surface_diffuse_downwelling_shortwave_flux_in_air", MEAN),
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
                              "lwe_thickness_of_precipitation_amount", "time: sum"),
    "wind_height": Variable("m", "height of the wind speed measurement above ground", "height",
                            positive="up"),
    # geometry
    "latitude": Variable("degrees_north", "latitude", "latitude"),
    "longitude": Variable("degrees_east", "longitude", "longitude"),
    "altitude": Variable("m", "altitude above mean sea level", "surface_altitude"),
    # generation (twin.solar, twin.wind, twin.simulate)
    "poa_global": Variable("W m-2", "plane-of-array (front) global irradiance, mean over the "
                           "hour", cell_methods=MEAN),
    "soiling_loss": Variable("1", "fraction of plane-of-array irradiance lost to soiling"),
    "temp_cell": Variable("degC", "PV cell temperature"),
    "pv_power": Variable("W", "AC power of the PV plant, mean over the hour", cell_methods=MEAN),
    "wind_speed_hub": Variable("m s-1", "wind speed at hub height after scaling to the wind-farm "
                               "mean", "wind_speed"),
    "air_density_hub": Variable("kg m-3", "air density at hub height", "air_density"),
    "wind_power": Variable("W", "power of the wind farm, mean over the hour", cell_methods=MEAN),
    "renewable_power": Variable("W", "PV plus wind power, mean over the hour", cell_methods=MEAN),
    "pv_capacity": Variable("W", "PV plant DC nameplate capacity"),
    "wind_capacity": Variable("W", "wind farm nameplate capacity"),
    "wind_speed_scale": Variable("1", "factor scaling the station's hub-height wind to the "
                                 "configured wind-farm mean"),
    # IT, cooling and facility (twin.it_load, twin.cooling, twin.facility)
    "utilisation": Variable("1", "mean utilisation of the servers over the hour",
                            cell_methods=MEAN),
    "it_power": Variable("W", "IT power (servers incl. their fans), mean over the hour",
                         cell_methods=MEAN),
    "server_fan_power": Variable("W", "server fan power (part of IT power)", cell_methods=MEAN),
    "electrical_losses": Variable("W", "UPS, distribution and lighting losses",
                                  cell_methods=MEAN),
    "cooling_power": Variable("W", "electric power of the cooling plant", cell_methods=MEAN),
    "cooling_fan_power": Variable("W", "air-handler, heat-exchanger, dry-cooler and tower fans",
                                  cell_methods=MEAN),
    "cooling_pump_power": Variable("W", "cooling pumps", cell_methods=MEAN),
    "mechanical_cooling_power": Variable("W", "chiller or DX compressor power",
                                         cell_methods=MEAN),
    "facility_power": Variable("W", "total facility power: IT + losses + cooling",
                               cell_methods=MEAN),
    "pue": Variable("1", "power usage effectiveness of the hour: facility over IT power"),
    "water_use": Variable("L h-1", "site water use: evaporation, drift, blowdown, sprays, "
                          "humidification", cell_methods=MEAN),
    # flag_values and flag_meanings: twin.simulate, from twin.cooling.MODES
    "cooling_mode": Variable("1", "cooling mode of the hour"),
    "supply_air_temperature": Variable("degC", "supply air temperature setpoint"),
    "facility_water_temperature": Variable("degC", "facility water supply temperature setpoint"),
    "inlet_outside_recommended": Variable("1", "server inlet outside the ASHRAE recommended "
                                          "envelope", flag_meanings=("inside", "outside")),
    "inlet_outside_allowable": Variable("1", "server inlet outside the ASHRAE allowable envelope "
                                        "of the site's class, derated for altitude",
                                        flag_meanings=("inside", "outside")),
    "it_power_baseline": Variable("W", "IT power under the baseline control (server fans at "
                                  "its setpoints)", cell_methods=MEAN),
    "cooling_power_baseline": Variable("W", "cooling power under the baseline control",
                                       cell_methods=MEAN),
    "facility_power_baseline": Variable("W", "facility power under the baseline control",
                                        cell_methods=MEAN),
    # power balance (twin.storage)
    "battery_power": Variable("W", "battery power into the facility (> 0 discharging, < 0 "
                              "charging)", cell_methods=MEAN),
    "battery_soc": Variable("1", "battery state of charge at the end of the hour, fraction of "
                            "its energy rating (0 without a battery)", cell_methods=POINT),
    "battery_dischargeable_power": Variable("W", "power the battery could deliver at the start "
                                            "of the hour", cell_methods=POINT),
    "grid_import": Variable("W", "power imported from the grid", cell_methods=MEAN),
    "curtailment": Variable("W", "renewable power neither used nor stored", cell_methods=MEAN),
    "unserved_power": Variable("W", "facility demand met by nothing (grid import limit reached)",
                               cell_methods=MEAN),
    "carbon_intensity": Variable("g kW-1 h-1", "carbon intensity of grid electricity (g CO2 per "
                                 "kWh)"),
    "electricity_price": Variable("kW-1 h-1", "price of grid electricity (attribute currency "
                                  "per kWh)"),
    "grid_emissions": Variable("kg h-1", "CO2 emitted for the grid import", cell_methods=MEAN),
    "grid_cost": Variable("h-1", "cost of the grid import (attribute currency per hour)",
                          cell_methods=MEAN),
    "battery_energy": Variable("W h", "battery energy rating"),
    "grid_import_capacity": Variable("W", "grid import capacity"),
    # availability for schedulers (twin.facility)
    "it_available_power": Variable("W", "largest IT power the renewables (and battery, by "
                                   "policy) can carry after that hour's cooling and losses, at "
                                   "most the IT capacity", cell_methods=MEAN),
    "it_committed_power": Variable("W", "IT power already committed (reservations)",
                                   cell_methods=MEAN),
    "it_headroom": Variable("W", "available IT power minus committed IT power, at least 0",
                            cell_methods=MEAN),
    "facility_power_intercept": Variable("W", "a of facility power ~= a + b IT power (fixed "
                                         "overhead of the hour)"),
    "marginal_pue": Variable("1", "b of facility power ~= a + b IT power (facility power per "
                             "watt of IT)"),
    "facility_linear_max_error": Variable("W", "largest error of facility power ~= a + b IT "
                                          "power over the load curve and the hours"),
    # annual figures of a climate-year study (twin.study), one per site and year
    "renewable_fraction": Variable("1", "fraction of facility energy from renewables"),
    "annual_pue": Variable("1", "energy-weighted annual PUE: facility over IT energy"),
    "wue": Variable("L kW-1 h-1", "water use per kWh of IT energy"),
    "hours_over_allowable": Variable("h", "hours with the server inlet outside the ASHRAE "
                                     "allowable envelope"),
    "curtailed_energy": Variable("W h", "renewable energy curtailed over the year"),
    "grid_energy": Variable("W h", "grid energy imported over the year"),
    "emissions": Variable("t", "CO2 emitted for the grid import over the year"),
    "it_available_mean": Variable("W", "annual mean of the IT power renewables (and battery, by "
                                  "policy) can carry"),
    # a fleet operated over a year (twin.fleet, twin.workload)
    "policy": Variable(None, "fleet operating policy: isolated, linked or linked-forecast "
                       "(twin.fleet)"),
    "region": Variable(None, "user region of inference demand (twin.latency)"),
    "job": Variable(None, "training job name (twin.workload)"),
    "it_capacity": Variable("W", "installed IT capacity of the site"),
    "training_power": Variable("W", "IT power of the training jobs running at the site",
                               cell_methods=MEAN),
    "inference_power": Variable("W", "IT power serving inference at the site",
                                cell_methods=MEAN),
    "inference_demand": Variable("W", "inference demand of the user region (IT power)",
                                 cell_methods=MEAN),
    "inference_served": Variable("W", "inference demand of the user region served at some site",
                                 cell_methods=MEAN),
    "inference_unserved": Variable("W", "inference demand of the user region no site within its "
                                   "latency budget had capacity for", cell_methods=MEAN),
    "inference_latency": Variable("ms", "fibre round trip of the region's inference served, "
                                  "mean weighted by IT power", cell_methods=MEAN),
    "round_trip": Variable("ms", "fibre round trip from the user region to the site"),
    "inference_home": Variable(None, "site serving the region's inference when not linked"),
    "inference_budget": Variable("ms", "fibre round trip the region's inference may take"),
    "job_home": Variable(None, "site the job is submitted at (where it runs when not linked)"),
    "job_site": Variable(None, "site the job ran at (empty: refused)"),
    "job_status": Variable("1", "outcome of the training job"),
    "job_finish": Variable("h", "hours from the job's arrival to its end (NaN: refused)"),
    "job_arrival": Variable(None, "arrival time of the job (UTC)", "time"),
    "job_it_power": Variable("W", "IT power of the job's servers running flat out"),
    "job_duration": Variable("h", "run time of the job"),
    "job_deadline": Variable("h", "the job must end within this many hours of its arrival"),
    "job_interruptible": Variable("1", "the job can checkpoint and resume between hours",
                                  flag_meanings=("rigid", "interruptible")),
}

WEATHER_REQUIRED = ("ghi", "dni", "dhi", "temp_air", "temp_dew", "relative_humidity", "pressure",
                    "wind_speed")
WEATHER_OPTIONAL = ("albedo", "pm10", "pm2_5", "precipitable_water", "precipitation")


def annotate(ds: xr.Dataset) -> xr.Dataset:
    """Set the registry's CF attributes on every known variable and coordinate of ``ds``
    (in place). String variables are written as character arrays (netCDF ``char``, Zarr ``|S``):
    what CF 2.2 and netCDF-C's NCZarr read, where variable-length strings are not."""
    import numpy as np

    variables = ds.variables  # the Dataset's own Variable objects: their attrs are the Dataset's
    for name, var in variables.items():
        if var.dtype.kind in "OUS":
            var.encoding["dtype"] = "S1"
        if name not in VARIABLES:
            continue
        entry = VARIABLES[name]
        var.attrs.update(entry.attrs(var.dims))
        if entry.flag_meanings:
            dtype = np.int8 if var.dtype == bool else var.dtype  # xarray writes bool as int8
            var.attrs.update(flag_values=np.arange(len(entry.flag_meanings), dtype=dtype),
                             flag_meanings=" ".join(entry.flag_meanings))
    # CF 5 and 6.1: a string label of a dimension (the site ids, written as characters) is an
    # auxiliary coordinate, named in the coordinates attribute with the others xarray lists
    labels = {d for d in ds.dims if d in ds.coords and variables[d].dtype.kind in "OUS"}
    auxiliary = {c: set(variables[c].dims) for c in ds.coords if c not in ds.dims}
    for name in ds.data_vars:
        var = variables[name]
        aux = {c for c, dims in auxiliary.items() if dims <= set(var.dims)}
        aux |= labels & set(var.dims)
        if aux:
            var.encoding["coordinates"] = " ".join(sorted(aux))
    return ds


def hourly_time(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its hourly ``time`` axis described as CF 4.4 and 7.1 ask: axis ``T`` and
    bounds ``time_bnds`` (each label the start of its hour, the hour its cell)."""
    import numpy as np

    start = ds["time"].values
    ds = ds.assign_coords(time_bnds=(("time", "bnds"),
                                     np.stack([start, start + np.timedelta64(1, "h")], axis=1)))
    ds["time"].attrs.update(VARIABLES["time"].attrs(), axis="T")
    # one unit for the axis and its bounds; "bounds" in the encoding, where xarray writes it as
    # the attribute without also listing time_bnds in a non-CF global "coordinates" attribute
    units = {"units": f"hours since {np.datetime_as_string(start[0], unit='D')} 00:00:00",
             "calendar": "standard"}
    # int32: cfchecker 4.1 takes no int64 for numbers (netCDF-3 has none)
    ds["time"].encoding.update(units, bounds="time_bnds", dtype="int32")
    ds["time_bnds"].encoding.update(units, dtype="int32")
    return ds


# the monthly climate normals of weather.normals (what the synthetic generator reproduces) and
# its annual statistics: name -> (units, long_name); site files hold them ([normals] tables)
NORMALS_MONTHLY = {  # name: (units, long_name)
    "temp_air_mean": ("degC", "monthly mean air temperature"),
    "temp_air_daily_range": ("K", "mean daily maximum minus minimum air temperature"),
    "temp_air_daily_std": ("K", "standard deviation of daily mean air temperature in the month"),
    "temp_dew_mean": ("degC", "monthly mean dew-point temperature"),
    "temp_dew_daily_std": ("K", "standard deviation of daily mean dew point in the month"),
    "relative_humidity_mean": ("%", "monthly mean relative humidity"),
    "ghi_mean": ("W m-2", "monthly mean global horizontal irradiance"),
    "clearness_index_mean": ("1", "monthly mean of the daily clearness index Kt"),
    "clearness_index_std": ("1", "standard deviation of the daily clearness index"),
    "wind_speed_mean": ("m s-1", "monthly mean wind speed"),
    "wind_speed_weibull_k": ("1", "Weibull shape of hourly wind speed (Justus et al. 1978)"),
    "wind_speed_diurnal_amplitude": ("1", "first-harmonic diurnal amplitude / monthly mean"),
    "wind_speed_peak_hour": ("h", "local solar hour of the diurnal wind maximum"),
    "pressure_mean": ("Pa", "monthly mean surface pressure"),
    "pressure_daily_std": ("Pa", "standard deviation of daily mean pressure in the month"),
}
NORMALS_ANNUAL = {
    "temp_air_daily_autocorrelation": (
        "1", "lag-1 autocorrelation of daily mean temperature anomaly"),
    "wind_speed_hourly_autocorrelation": (
        "1", "lag-1 autocorrelation of hourly wind speed anomaly"),
}
