"""Wind-farm generation for every site and hour in one vectorised pass (windpowerlib).

Arrays are ``(site, time)``; per-site parameters ``(site,)`` broadcast over time. Chain: station
wind -> hub height (log law or power law) -> scaled so that its long-term hub-height mean is the
region's wind-farm mean -> wake losses -> air density at hub height -> power curve (windpowerlib's
bundled library) with IEC density normalisation -> cut-out -> turbines x availability.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
from windpowerlib import density, temperature, wake_losses
from windpowerlib import wind_speed as profiles
from windpowerlib.wind_turbine import WindTurbine

from twin.arrays import column, groups, site_rows
from twin.interp import interp
from twin.model_names import DENSITY_CORRECTIONS, WAKE_MODELS, WIND_PROFILES, unknown_name

RHO_STANDARD = 1.225  # kg m-3, IEC 61400-12-1 reference air density
TEMPERATURE_HEIGHT_M = 2.0  # screen height of station temperature and pressure


@dataclass(frozen=True)
class WindArrays:
    """Per-site wind-farm parameters as ``(site,)`` arrays (built from ``sites.WindConfig``)."""

    turbine_type: np.ndarray  # str
    turbine_count: np.ndarray
    hub_height_m: np.ndarray
    hub_mean_wind_speed_m_s: np.ndarray
    profile: np.ndarray  # str
    roughness_length_m: np.ndarray
    hellman_exponent: np.ndarray
    density_correction: np.ndarray  # str
    wake_model: np.ndarray  # str
    array_efficiency: np.ndarray
    availability: np.ndarray

    @classmethod
    def from_configs(cls, configs) -> WindArrays:
        """Stack ``sites.WindConfig`` objects (one per site) into arrays."""
        def col(name, dtype=float):
            return np.array([getattr(c, name) for c in configs], dtype=dtype)

        return cls(**{name: col(name, str if name in (
            "turbine_type", "profile", "density_correction", "wake_model") else float)
            for name in cls.__dataclass_fields__})

    subset = site_rows  # the sites ``rows`` (a slice or indices)

    @property
    def capacity_w(self) -> np.ndarray:
        return np.array([power_curve(t)[2] for t in self.turbine_type]) * self.turbine_count


@functools.cache
def power_curve(turbine_type: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Wind speeds [m s-1], power [W] at standard density, and nominal power [W] of a turbine from
    windpowerlib's bundled library (oedb turbine library; read from the installed package)."""
    with warnings.catch_warnings():  # windpowerlib 0.2 uses pandas' deprecated inplace dropna
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        turbine = WindTurbine(turbine_type=turbine_type, hub_height=100.0)
    if turbine.power_curve is None:
        raise ValueError(f"turbine type {turbine_type!r} has no power curve in windpowerlib")
    curve = turbine.power_curve.sort_values("wind_speed")
    return (curve["wind_speed"].to_numpy(float), curve["value"].to_numpy(float),
            float(turbine.nominal_power))


@functools.cache
def wind_efficiency_curve(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Wind speeds [m s-1] and wind-farm efficiencies of a windpowerlib wind-efficiency curve
    (dena 2010, Knorr 2016), read once from the installed package."""
    curve = wake_losses.get_wind_efficiency_curve(curve_name=name)
    return curve["wind_speed"].to_numpy(float), curve["efficiency"].to_numpy(float)


def hub_wind_speed(w: WindArrays, wind_speed, height_m) -> np.ndarray:
    """Wind speed at hub height [m s-1] from ``wind_speed`` measured at ``height_m`` (scalar or
    ``(S,)``): log law with roughness length (windpowerlib.wind_speed.logarithmic_profile) or
    power law (windpowerlib.wind_speed.hellman), chosen per site."""
    wind_speed = np.asarray(wind_speed, dtype=float)
    height = np.broadcast_to(np.asarray(height_m, dtype=float), w.hub_height_m.shape)
    out = np.full(np.broadcast_shapes(wind_speed.shape, column(height).shape), np.nan)
    keys = [f"{law}@{h}" for law, h in zip(w.profile.tolist(), height.tolist(), strict=True)]
    for _, rows in groups(keys):  # windpowerlib takes one measurement height per call
        law, h = w.profile[rows][0], float(height[rows][0])
        v, hub = wind_speed[rows], column(w.hub_height_m[rows])
        if law == "log":
            out[rows] = profiles.logarithmic_profile(v, h, hub, column(w.roughness_length_m[rows]))
        elif law == "power":
            out[rows] = profiles.hellman(v, h, hub,
                                         hellman_exponent=column(w.hellman_exponent[rows]))
        else:
            raise unknown_name("wind profile", law, WIND_PROFILES)
    return out


def long_term_scale(w: WindArrays, station_mean_m_s, station_height_m) -> np.ndarray:
    """Factor ``(S,)`` that makes the station's long-term mean, carried to hub height by the
    site's profile, equal the configured wind-farm hub-height mean."""
    hub_mean = hub_wind_speed(w, column(station_mean_m_s), station_height_m)[:, 0]
    return w.hub_mean_wind_speed_m_s / hub_mean


def air_density_hub(w: WindArrays, pressure, temp_air, measured_at_m=TEMPERATURE_HEIGHT_M):
    """Air density at hub height [kg m-3] from station pressure [Pa] and temperature [degC]:
    temperature by the standard lapse rate (windpowerlib.temperature.linear_gradient), pressure
    falling 1/8 hPa per metre, ideal gas (windpowerlib.density.ideal_gas)."""
    hub = column(w.hub_height_m)
    t_hub = temperature.linear_gradient(np.asarray(temp_air) + 273.15, measured_at_m, hub)
    return density.ideal_gas(np.asarray(pressure), measured_at_m, hub, t_hub)


def turbine_power(w: WindArrays, wind_speed_hub, air_density) -> np.ndarray:
    """Power of one turbine [W]: wake loss, then the power curve at the IEC 61400-12-1 normalised
    speed v (rho/1.225)^(1/3) (the same normalisation as NREL SAM's Windpower), zero outside the
    curve and above its last producing wind speed (cut-out)."""
    v = np.array(wind_speed_hub, dtype=float)
    power = np.full_like(v, np.nan)
    for model, rows in groups(w.wake_model):
        if model in ("dena_mean", "knorr_mean"):  # windpowerlib.wake_losses.reduce_wind_speed
            speeds, efficiency = wind_efficiency_curve(model)
            v[rows] *= interp(v[rows], speeds, efficiency)
        elif model != "constant":
            raise unknown_name("wake model", model, WAKE_MODELS)
    for correction, rows in groups(w.density_correction):
        if correction == "iec":
            v[rows] *= np.cbrt(air_density[rows] / RHO_STANDARD)
        elif correction != "none":
            raise unknown_name("density correction", correction, DENSITY_CORRECTIONS)
    for turbine_type, rows in groups(w.turbine_type):
        speeds, values, _ = power_curve(turbine_type)
        cut_out = speeds[np.flatnonzero(values > 0)[-1]]
        p = interp(v[rows], speeds, values, left=0.0, right=0.0)
        power[rows] = np.where(v[rows] > cut_out, 0.0, p)
    power[np.isnan(v)] = np.nan
    power *= np.where(w.wake_model == "constant", w.array_efficiency, 1.0)[:, None]
    return power


def wind_power(w: WindArrays, wind_speed, height_m, pressure, temp_air, scale) -> dict:
    """Wind-farm power [W] and its intermediates for every site and hour.

    wind_speed [m s-1] measured at ``height_m``; pressure [Pa] and temp_air [degC] at the station;
    ``scale`` ``(S,)``: factor applied to the hub-height wind (see :func:`long_term_scale`).
    """
    v_hub = hub_wind_speed(w, wind_speed, height_m)
    v_hub *= column(scale)
    rho = air_density_hub(w, pressure, temp_air)
    farm = turbine_power(w, v_hub, rho)  # one turbine's power, made the farm's in place
    farm *= column(w.turbine_count * w.availability)
    return {"wind_power": farm, "wind_speed_hub": v_hub, "air_density_hub": rho}
