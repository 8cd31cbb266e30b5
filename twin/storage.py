"""Batteries and the hourly power balance of each site: renewables, storage, grid, curtailment.

Every hour, in this order (the load-following dispatch of HOMER and of NREL SAM's manual
battery dispatch): renewable generation meets the facility's demand; a surplus charges the battery
(up to its power rating and the room below ``soc_max``) and the rest is curtailed; a deficit is met
by the battery (power rating, energy above ``soc_min``), then by the grid up to the import
capacity; what is left is unserved. The battery charges from renewables only, so what it delivers
is renewable energy. Round-trip efficiency is split equally between charging and discharging
(eta_c = eta_d = sqrt(RTE)); self-discharge takes a fixed fraction of the stored energy each hour,
never below the ``soc_min`` reserve (the battery management keeps it).

Powers [W] are hourly means, so one hour moves ``power x 1 h`` [Wh]. Sign: ``battery_power`` > 0
discharges into the facility, < 0 charges. Every hour closes:
renewable + battery_power + grid_import + unserved = demand + curtailment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from twin.arrays import first_bad, site_param
from twin.it_load import daily_profile

HOUR_H = 1.0  # the twin's time step [h]


@dataclass(frozen=True)
class BatteryArrays:
    """The sites' batteries as ``(S,)`` arrays (from ``sites.BatteryConfig``)."""

    energy_wh: np.ndarray
    power_w: np.ndarray
    charge_efficiency: np.ndarray
    discharge_efficiency: np.ndarray
    soc_min: np.ndarray
    soc_max: np.ndarray
    keep_per_hour: np.ndarray  # fraction of the stored energy left after an hour's self-discharge
    initial_soc: np.ndarray

    @classmethod
    def from_configs(cls, configs) -> BatteryArrays:
        def col(name):
            return np.array([getattr(c, name) for c in configs], dtype=float)

        leg = np.sqrt(col("round_trip_efficiency"))
        return cls(energy_wh=col("energy_wh"), power_w=col("power_w"), charge_efficiency=leg,
                   discharge_efficiency=leg, soc_min=col("soc_min"), soc_max=col("soc_max"),
                   keep_per_hour=(1.0 - col("self_discharge_per_day")) ** (HOUR_H / 24.0),
                   initial_soc=col("initial_soc"))


def non_negative_profile(time, values, name: str, out=None) -> np.ndarray:
    """``(S, T)`` hourly values of a per-site constant or 24-hour CST profile
    (:func:`twin.it_load.daily_profile`, into ``out`` where given); NaN or negative values
    raise ``ValueError``."""
    out = daily_profile(time, values, name, out)
    bad = ~(np.isfinite(out) & (out >= 0))
    if bad.any():
        site, _ = first_bad(bad)
        raise ValueError(f"{name} at site index {site} must be numbers >= 0, got "
                         f"{np.asarray(values[site]).tolist()}")
    return out


@numba.njit(cache=True, nogil=True)
def _balance_hours(energy, power, eta_c, eta_d, soc_min, soc_max, keep, initial_soc,
                   import_capacity, renewable, demand, battery_power, soc, dischargeable, grid,
                   curtailment, unserved):  # pragma: no cover (compiled)
    """The balance hour by hour (the state of charge carries over), compiled by numba: fills the
    ``(S, T)`` outputs of :func:`power_balance` from ``renewable`` and ``demand`` ``(S, T)`` [W]
    and the batteries' and grid's ``(S,)`` parameters; sites without a battery (energy 0) move
    nothing through it; an hour with NaN renewable or demand moves nothing and is NaN."""
    for i in range(renewable.shape[0]):
        has = energy[i] > 0
        floor, top = soc_min[i] * energy[i], soc_max[i] * energy[i]
        level = initial_soc[i] * energy[i] if has else 0.0
        for t in range(renewable.shape[1]):
            net = renewable[i, t] - demand[i, t]
            if np.isnan(net):
                net = 0.0
            surplus, deficit = max(net, 0.0), max(-net, 0.0)
            c = d = can = 0.0
            if has:
                level = max(level * keep[i], min(level, floor))  # self-discharge, not below floor
                can = min(power[i], (level - floor) * (eta_d[i] / HOUR_H))
                c = min(surplus, power[i], (top - level) / (eta_c[i] * HOUR_H))
                d = min(deficit, can)
                level = level + (c * eta_c[i] - d / eta_d[i]) * HOUR_H
            short = deficit - d
            g = min(short, import_capacity[i])
            if np.isnan(renewable[i, t]) or np.isnan(demand[i, t]):
                battery_power[i, t] = soc[i, t] = dischargeable[i, t] = grid[i, t] = np.nan
                curtailment[i, t] = unserved[i, t] = np.nan
            else:
                battery_power[i, t], dischargeable[i, t], grid[i, t] = d - c, can, g
                soc[i, t] = level / energy[i] if has else 0.0
                curtailment[i, t], unserved[i, t] = surplus - c, short - g


def power_balance(battery: BatteryArrays, renewable_w, demand_w, import_capacity_w
                  ) -> dict[str, np.ndarray]:
    """The hourly balance ``(S, T)`` of renewable generation against the facility's demand [W]
    with each site's battery and grid import capacity ``(S,)`` [W]: renewables first, then the
    battery, then the grid up to its capacity (load following). The capacity and the batteries'
    parameters besides energy_wh (whose sites these are) are one value per site or one for all
    (:func:`twin.arrays.site_param`); another length raises ValueError.

    Returns battery_power (> 0 discharging), battery_soc (end of hour, fraction of energy_wh; 0
    without a battery), battery_dischargeable_power (what the battery could deliver at the start
    of the hour), grid_import, curtailment and unserved_power [W]. Hours where renewable or demand
    is NaN move nothing and are NaN in every output."""
    renewable_w, demand_w = (np.ascontiguousarray(a, dtype=float) for a in np.broadcast_arrays(
        np.asarray(renewable_w, dtype=float), np.asarray(demand_w, dtype=float)))
    if renewable_w.ndim != 2 or renewable_w.shape[0] != np.size(battery.energy_wh):
        raise ValueError(f"renewable and demand of shape {renewable_w.shape}: expected (site, "
                         f"time) with {np.size(battery.energy_wh)} sites")
    sites = renewable_w.shape[0]

    def per_site(name, value):  # checked, and contiguous for the compiled loop
        return np.ascontiguousarray(site_param(value, sites, name))

    names = ("battery_power", "battery_soc", "battery_dischargeable_power", "grid_import",
             "curtailment", "unserved_power")
    out = {k: np.empty(renewable_w.shape) for k in names}
    b = vars(battery)
    _balance_hours(*(per_site(k, b[k]) for k in (
        "energy_wh", "power_w", "charge_efficiency", "discharge_efficiency", "soc_min",
        "soc_max", "keep_per_hour", "initial_soc")),
        per_site("import_capacity_w", import_capacity_w), renewable_w, demand_w, *out.values())
    return out


def balance_summary(ds) -> pd.DataFrame:
    """Per site and period: renewable fraction of facility energy (met by renewables directly or
    through the battery), hours fully renewable, grid energy [Wh], emissions [t CO2], cost
    [currency], curtailed and unserved energy [Wh], battery equivalent full cycles (energy
    discharged over energy_wh), and mean and P10 of the IT power renewables can carry [W]."""
    hours = ds["facility_power"]
    grid, unserved = ds["grid_import"], ds["unserved_power"]
    facility_energy = hours.sum("time") * HOUR_H
    discharged = ds["battery_power"].clip(min=0).sum("time") * HOUR_H
    with np.errstate(invalid="ignore", divide="ignore"):
        cycles = (discharged / ds["battery_energy"]).where(ds["battery_energy"] > 0, 0.0)
        frame = pd.DataFrame({
            "renewable_fraction": (1 - (grid + unserved).sum("time") * HOUR_H
                                   / facility_energy).values,
            "hours_fully_renewable": ((grid <= 0) & (unserved <= 0)).sum("time").values,
            "grid_energy_wh": (grid.sum("time") * HOUR_H).values,
            "emissions_t": (ds["grid_emissions"].sum("time") * HOUR_H / 1000.0).values,
            "cost": (ds["grid_cost"].sum("time") * HOUR_H).values,
            "curtailed_energy_wh": (ds["curtailment"].sum("time") * HOUR_H).values,
            "unserved_energy_wh": (unserved.sum("time") * HOUR_H).values,
            "battery_cycles": cycles.values,
            "it_available_mean_w": ds["it_available_power"].mean("time").values,
            "it_available_p10_w": ds["it_available_power"].quantile(0.1, "time").values,
        }, index=pd.Index(ds["site"].values, name="site"))
    frame.insert(0, "name", ds["name"].values)
    return frame
