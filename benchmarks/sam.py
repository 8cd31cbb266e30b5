"""NREL SAM (through PySAM) as the independent reference for twin.solar and twin.wind.

Both sides get the same hourly weather and the same system. PySAM (``nrel-pysam``) is a test and
benchmark dependency only. Used by ``benchmarks/validate_generation.py`` and the test suite.

What the wind comparison tests, and what it cannot: SAM's Windpower is given the twin's own
hub-height wind, air (temperature and pressure at hub height) and power curve, one turbine, wakes
and losses off. It checks only the last step, the power-curve look-up with the IEC density
normalisation and cut-out, and agrees by construction otherwise. It does not test the wind: the
twin's hub wind is the station wind times a constant per site (the profile law is linear in the
wind speed) rescaled so that its long-term mean is the catalog's wind-farm mean, so the shear law
and its roughness cancel (tests/test_wind.py) and the farm mean is an assumption SAM never sees.
Checks that can fail on those are in ``benchmarks/validate_wind.py``.

Traps of PySAM's Windpower handled here: it refuses wind measured more than 35 m from hub height
(we give the hub-height wind at the hub height), and it reads pressure in atmospheres whatever the
number looks like (pressure between 0.5 and 1.1 is silently taken as atm): we convert Pa -> atm.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from windpowerlib import temperature

from sites import get_site
from twin.simulate import simulate
from twin.wind import TEMPERATURE_HEIGHT_M, power_curve
from weather.normals import normals, normals_to_mapping

PA_PER_ATM = 101325.0
WIND_SITE = "golmud"  # any catalog site: its turbine and hub height are used for every EPW


def epw_site(ds: xr.Dataset, base: str = WIND_SITE, **pv):
    """A site at the weather station of ``ds`` (its location and climate normals) with
    ``base``'s plants and a given PV system."""
    site = get_site(base)
    update = {"latitude": float(ds.latitude), "longitude": float(ds.longitude),
              "altitude_m": float(ds.altitude),
              "normals_table": normals_to_mapping(normals(ds))}
    if pv:
        update["pv"] = site.pv.model_copy(update=pv)
    return site.model_copy(update=update)


def wind_reference_site(ds: xr.Dataset):
    """One turbine, no wake, full availability: what SAM's Windpower computes with no losses."""
    site = epw_site(ds)
    wind = site.wind.model_copy(update={"turbine_count": 1, "wake_model": "constant",
                                        "array_efficiency": 1.0, "availability": 1.0})
    return site.model_copy(update={"wind": wind})


def hub_conditions(ds: xr.Dataset, hub_height_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Temperature [degC] and pressure [Pa] at hub height as twin.wind derives them (windpowerlib:
    standard lapse rate; pressure falling 1/8 hPa per metre), to give SAM the same air."""
    hub, screen = hub_height_m, TEMPERATURE_HEIGHT_M
    temp = temperature.linear_gradient(ds.temp_air.values + 273.15, screen, hub) - 273.15
    return temp, ds.pressure.values - (hub - screen) * 12.5


def twin_wind(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The twin's hourly wind power [W] of the reference site, and the hub-height wind speed,
    temperature [degC] and pressure [Pa] it used (given to SAM as measured at the hub)."""
    site = wind_reference_site(ds)
    out = simulate(ds, site, wind_scaling="weather").isel(site=0)
    temp_hub, pressure_hub = hub_conditions(ds, site.wind.hub_height_m)
    rho = pressure_hub / (287.058 * (temp_hub + 273.15))  # what SAM computes from them
    assert np.allclose(rho, out.air_density_hub.values)
    return out.wind_power.values, out.wind_speed_hub.values, temp_hub, pressure_hub


def sam_wind(site, speed_hub, temp_hub_c, pressure_hub_pa) -> np.ndarray:
    """PySAM Windpower [W], one turbine with the same power curve, data at hub height."""
    from PySAM import Windpower

    speeds, values, nominal = power_curve(site.wind.turbine_type)
    # the same curve as the twin's: a hard cut-out after the last producing speed (SAM would
    # otherwise ramp down linearly to the next point, e.g. 2.5 MW at 25 m/s to 0 at 26 m/s)
    last = np.flatnonzero(values > 0)[-1]
    speeds = np.insert(speeds, last + 1, speeds[last] + 1e-3)
    values = np.insert(values, last + 1, 0.0)
    hub = site.wind.hub_height_m
    m = Windpower.new()
    m.Resource.wind_resource_model_choice = 0
    m.Resource.wind_resource_data = {
        "heights": [hub] * 4, "fields": [1, 2, 3, 4],  # temperature, pressure, speed, direction
        # SAM refuses speeds above 120 m/s (a sheltered station scaled by ~7, e.g. Turpan, has a
        # few): both models give zero power far above cut-out, so clipping changes no energy
        "data": np.column_stack([temp_hub_c, pressure_hub_pa / PA_PER_ATM,
                                 np.minimum(speed_hub, 119.0),
                                 np.full(len(speed_hub), 270.0)]).tolist()}
    m.Turbine.wind_turbine_powercurve_windspeeds = speeds.tolist()
    m.Turbine.wind_turbine_powercurve_powerout = (values / 1000).tolist()
    m.Turbine.wind_turbine_hub_ht = hub
    m.Turbine.wind_turbine_rotor_diameter = 100.0  # only used by the wake models (off here)
    m.Turbine.wind_resource_shear = 1 / 7
    m.Turbine.wind_turbine_max_cp = 0.45
    m.Farm.wind_farm_xCoordinates, m.Farm.wind_farm_yCoordinates = [0.0], [0.0]
    m.Farm.wind_farm_wake_model = 0
    m.Farm.system_capacity = nominal / 1000
    m.Farm.wind_resource_turbulence_coeff = 0.1
    for name in ("avail_bop_loss", "avail_grid_loss", "avail_turb_loss", "elec_eff_loss",
                 "elec_parasitic_loss", "env_degrad_loss", "env_env_loss", "env_icing_loss",
                 "ops_env_loss", "ops_grid_loss", "ops_load_loss", "turb_generic_loss",
                 "turb_hysteresis_loss", "turb_perf_loss", "turb_specific_loss", "wake_ext_loss"):
        setattr(m.Losses, name, 0.0)
    m.execute()
    return np.asarray(m.Outputs.gen) * 1000.0


def compare_wind(ds: xr.Dataset) -> dict:
    """Annual energy of the twin and of SAM for the station of ``ds`` [MWh] and their difference."""
    site = wind_reference_site(ds)
    ours, speed, temp, pressure = twin_wind(ds)
    ref = sam_wind(site, speed, temp, pressure)
    return {"twin_mwh": ours.sum() / 1e6, "sam_mwh": ref.sum() / 1e6,
            "diff_pct": 100 * (ours.sum() / ref.sum() - 1), "r": np.corrcoef(ours, ref)[0, 1],
            "mean_hub_m_s": float(np.mean(speed)), "mean_density": float(np.mean(
                pressure / (287.058 * (temp + 273.15))))}


# The twin configured like PVWatts v5 (Dobos 2014): standard module (-0.47 %/K), Fuentes open rack,
# 14 % losses, IAM on the beam only, no row shading or spectral loss, albedo 0.2.
PVWATTS_V5 = {"temperature_model": "fuentes", "gamma_pdc_per_k": -0.0047, "dc_loss_fraction": 0.14,
              "inverter_efficiency": 0.96, "availability": 1.0, "soiling": "none",
              "transposition": "perez", "albedo": 0.2, "derate_start_degc": 80.0,
              "derate_end_degc": 90.0, "max_angle_deg": 45.0, "backtrack": True,
              "row_sky_shading": False, "diffuse_iam": False, "spectral": "none"}
# The twin with its own physics for what PVWatts v8 added (row shading of sky diffuse, diffuse
# reflection loss, spectral modifier) but its own module (PVWatts DC, -0.37 %/K, the v8 "standard"
# module's nominal coefficient) and temperature model (Faiman): the remaining difference to v8 is
# the module and temperature model (v8: CEC single-diode module, NOCT cell temperature).
PVWATTS_V8_LIKE = {**PVWATTS_V5, "temperature_model": "faiman", "gamma_pdc_per_k": -0.0037,
                   "row_sky_shading": True, "diffuse_iam": True, "spectral": "airmass"}
SYSTEMS = {  # the two validation systems, 1 MWdc, DC/AC 1.2 (clipping happens); v8's default gcr
    "fixed": {"mounting": "fixed", "tilt_deg": 30.0, "azimuth_deg": 180.0, "gcr": 0.3},
    "single_axis": {"mounting": "single_axis", "azimuth_deg": 180.0, "gcr": 0.4},
}
CAPACITY_W, DC_AC = 1e6, 1.2


def pv_reference_site(ds: xr.Dataset, system: str, version: int = 5):
    """The validation system at the station of ``ds``, configured like PVWatts v5 or v8."""
    config = PVWATTS_V5 if version == 5 else PVWATTS_V8_LIKE
    return epw_site(ds, capacity_wp=CAPACITY_W, dc_ac_ratio=DC_AC, **config, **SYSTEMS[system])


def sam_solar_resource(ds: xr.Dataset) -> dict:
    """PySAM ``solar_resource_data`` of ``ds`` in local standard time of the nearest whole-hour
    zone, minute 30: SAM then puts the sun at each hour's midpoint, as the twin does."""
    tz = float(round(float(ds.longitude) / 15))
    t = pd.DatetimeIndex(ds.time.values) + pd.Timedelta(hours=tz)

    def floats(a):  # plain Python floats: PySAM refuses numpy scalars
        return np.asarray(a, dtype=float).tolist()

    return {"lat": float(ds.latitude), "lon": float(ds.longitude), "tz": tz,
            "elev": float(ds.altitude), "year": floats(t.year), "month": floats(t.month),
            "day": floats(t.day), "hour": floats(t.hour), "minute": [30.0] * len(t),
            "dn": floats(ds.dni), "df": floats(ds.dhi), "gh": floats(ds.ghi),
            "tdry": floats(ds.temp_air), "wspd": floats(ds.wind_speed),
            "pres": floats(ds.pressure / 100.0), "albedo": [PVWATTS_V5["albedo"]] * len(t)}


def sam_pvwatts(version: int, resource: dict, system: str) -> np.ndarray:
    """PySAM Pvwattsv5 or Pvwattsv8 AC power [W] of a validation system."""
    from PySAM import Pvwattsv5, Pvwattsv8

    m = (Pvwattsv5 if version == 5 else Pvwattsv8).new()
    m.SolarResource.solar_resource_data = resource
    s = m.SystemDesign
    s.system_capacity, s.dc_ac_ratio = CAPACITY_W / 1000, DC_AC
    s.inv_eff, s.losses = (100 * PVWATTS_V5["inverter_efficiency"],
                           100 * PVWATTS_V5["dc_loss_fraction"])
    s.module_type, s.azimuth, s.gcr = 0, 180.0, SYSTEMS[system]["gcr"]
    if system == "fixed":
        s.array_type, s.tilt = 0, SYSTEMS["fixed"]["tilt_deg"]
    else:
        s.array_type, s.tilt = 3, 0.0  # 1-axis with backtracking (v5: rotation limit 45 deg)
    if version == 8:
        m.SolarResource.use_wf_albedo = 0
        m.SolarResource.albedo = [PVWATTS_V5["albedo"]] * 12
        s.rotlim, s.bifaciality, s.en_snowloss = PVWATTS_V5["max_angle_deg"], 0.0, 0
        s.soiling = [0.0] * 12
        s.xfmr_ll = s.xfmr_nll = 0.0
        s.enable_wind_stow = 0
    m.AdjustmentFactors.adjust_constant = 0.0
    m.execute(0)
    return np.array(m.Outputs.ac, float)


# issue 3 tolerances: PV like v5 within 1 % and r >= 0.995; like v8 within 4 %; wind within 3 %
TOLERANCES = {"pv_v5_pct": 1.0, "pv_v5_r": 0.995, "pv_v8_pct": 4.0, "wind_pct": 3.0}


def _pct(ours: np.ndarray, ref: np.ndarray) -> float:
    return 100 * (ours.sum() / ref.sum() - 1)


def validate_epw(path) -> dict:
    """Every comparison for one EPW: the twin against SAM Pvwattsv5, Pvwattsv8 (fixed and
    single-axis) and Windpower. Read on 2019 so that SAM and the twin share one calendar."""
    import weather

    ds = weather.read_epw(path, year=2019)
    resource = sam_solar_resource(ds)
    row = {"file": Path(path).stem}
    for system, label in (("fixed", "fixed"), ("single_axis", "1axis")):
        v5, v8 = sam_pvwatts(5, resource, system), sam_pvwatts(8, resource, system)
        ours5 = simulate(ds, pv_reference_site(ds, system, 5)).pv_power.values[0]
        ours8 = simulate(ds, pv_reference_site(ds, system, 8)).pv_power.values[0]
        row.update({f"{label}_v5_mwh": v5.sum() / 1e6, f"{label}_v5_pct": _pct(ours5, v5),
                    f"{label}_v5_r": np.corrcoef(ours5, v5)[0, 1],
                    f"{label}_v8_pct": _pct(ours8, v8),
                    f"{label}_v5cfg_vs_v8_pct": _pct(ours5, v8)})
    wind = compare_wind(ds)
    row.update({"wind_sam_mwh": wind["sam_mwh"], "wind_pct": wind["diff_pct"],
                "wind_r": wind["r"], "air_density": wind["mean_density"]})
    return row


def misses(row: dict) -> list[str]:
    """The tolerances a validation row misses."""
    out = []
    for label in ("fixed", "1axis"):
        if abs(row[f"{label}_v5_pct"]) > TOLERANCES["pv_v5_pct"]:
            out.append(f"{label} v5 energy")
        if row[f"{label}_v5_r"] < TOLERANCES["pv_v5_r"]:
            out.append(f"{label} v5 correlation")
        if abs(row[f"{label}_v8_pct"]) > TOLERANCES["pv_v8_pct"]:
            out.append(f"{label} v8 energy")
    if abs(row["wind_pct"]) > TOLERANCES["wind_pct"]:
        out.append("wind energy")
    return out
