"""The compiled cooling plants (twin.cooling) against the numpy implementations they replaced,
kept here as references: the liquid side (dry coolers, fan staging fans_first and least_water,
modulated adiabatic pads, dust lock-out, air-cooled chiller trim) on the catalog's liquid sites
and real EPW years."""

from __future__ import annotations

import numpy as np

import weather
from sites import get_site
from tests.conftest import EPW_FILES, needs_shared, with_settings
from twin import cooling
from twin.cooling import (
    CP_AIR,
    ECONOMIZER,
    EVAPORATIVE,
    MECHANICAL,
    PARTIAL,
    RHO_WATER,
    STAGING_STEPS,
    CoolingArrays,
    crossflow_effectiveness,
    fan_power,
    outdoor_state,
)
from twin.psychrometrics import humidity_ratio_from_wet_bulb

# --- the numpy liquid side (twin.cooling before the compiled loop, commit f736844) ---------------


def reference_approach(c, flow_ratio):
    """The dry coolers' approach [K] at air-flow ratios ``flow_ratio`` ``(site, n)``."""
    span = c.liquid_delta_t_k
    c_water, c_air = 1.0 / span, 1.0 / c.dry_cooler_air_delta_t_k
    air = flow_ratio * c_air
    c_min = np.minimum(c_water, air)
    effectiveness = crossflow_effectiveness(c.dry_cooler_ua / c_min,
                                            c_min / np.maximum(c_water, air))
    return 1.0 / (effectiveness * c_min) - span


def reference_grid(c, stage):
    """The staging's air-flow ratios and approaches ``(N, STAGING_STEPS)`` of the hours
    ``stage``."""
    rows = np.broadcast_to(np.arange(stage.shape[0])[:, None], stage.shape)[stage]
    grid = 1.0 + (c.dry_cooler_max_air_flow_ratio - 1.0) * np.linspace(0.0, 1.0, STAGING_STEPS)
    approach = reference_approach(c, grid)
    approach[:, 0] = c.dry_cooler_approach_k[:, 0]
    return grid[rows], approach[rows]


def reference_fans_first(c, t_oa, facility_water, stage):
    shape = np.shape(stage)
    flows, approach = reference_grid(c, stage)
    target = (np.broadcast_to(facility_water, shape) - np.broadcast_to(t_oa, shape))[stage]
    reached = approach <= target[:, None]
    j = np.where(reached.any(axis=1), np.argmax(reached, axis=1), STAGING_STEPS - 1)
    i = np.maximum(j - 1, 0)
    n = np.arange(j.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.clip((approach[n, i] - target) / (approach[n, i] - approach[n, j]), 0.0, 1.0)
    ratio = np.ones(shape)
    ratio[stage] = np.where(j > 0, flows[n, i] + np.nan_to_num(share) * (flows[n, j] - flows[n, i]),
                            1.0)
    return ratio


def reference_least_water(c, out, t_pad, t_water, stage):
    shape = np.shape(stage)
    flows, approach = reference_grid(c, stage)

    def picked(x):
        return np.broadcast_to(x, shape)[stage][:, None]

    t_oa, t_wb, p, w_oa = (picked(out[k]) for k in ("temp_air", "wet_bulb", "pressure",
                                                     "humidity_ratio"))
    need = t_oa - picked(t_water) + approach
    pads = t_oa - np.maximum(need, 0.0)
    water = flows * np.maximum(humidity_ratio_from_wet_bulb(pads, t_wb, p) - w_oa, 0.0)
    best = np.argmin(water, axis=1)
    n = np.arange(best.size)
    flow, pad = flows[n, best], pads[n, best]
    alone = need[:, -1] <= 0.0
    j = np.argmax(need <= 0.0, axis=1)
    i = np.maximum(j - 1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(j > 0, need[n, i] / (need[n, i] - need[n, j]), 0.0)
    flow = np.where(alone, flows[n, i] + share * (flows[n, j] - flows[n, i]), flow)
    pad = np.where(alone, t_oa[:, 0], pad)
    ratio, outlet = np.ones(shape), np.array(np.broadcast_to(t_pad, shape), dtype=float)
    ratio[stage], outlet[stage] = flow, pad
    return ratio, outlet


def reference_liquid_side(c, out, q_liquid, facility_water, *, design_q_liquid, lockout):
    t_oa, t_wb, w_oa, p = out["temp_air"], out["wet_bulb"], out["humidity_ratio"], out["pressure"]
    returning = facility_water + c.liquid_delta_t_k
    span = returning - facility_water

    def free_fraction(air_in, approach=c.dry_cooler_approach_k):
        return np.clip((returning - (air_in + approach)) / span, 0.0, 1.0)

    dry = free_fraction(t_oa)
    assist = c.evaporative_assist.astype(bool)
    flow, approach = 1.0, c.dry_cooler_approach_k
    staging = assist & (c.dry_cooler_max_air_flow_ratio > 1.0)
    first = staging & (c.dry_cooler_staging == "fans_first")
    stage = first & (dry < 1.0)
    if stage.any():
        flow = reference_fans_first(c, t_oa, facility_water, stage)
        approach = np.where(stage, reference_approach(c, flow), approach)
        dry = np.where(stage, free_fraction(t_oa, approach), dry)
    t_needed = facility_water - approach
    t_full = t_oa - c.direct_evaporative_effectiveness * (t_oa - t_wb)
    pad = assist & (dry < 1.0) & ~lockout
    t_pad = np.where(pad, np.minimum(np.maximum(t_full, t_needed), t_oa), t_oa)
    free = np.where(pad, free_fraction(t_pad, approach), dry)
    least = staging & ~first & pad & (free > 0)
    if least.any():
        ratio, t_pad = reference_least_water(c, out, t_pad, returning - free * span, least)
        flow = np.where(least, ratio, flow)
        pad = pad & (t_pad < t_oa)
    q_dry, q_chiller = free * q_liquid, (1.0 - free) * q_liquid
    air = flow * q_dry / (CP_AIR * c.dry_cooler_air_delta_t_k)
    design_air = design_q_liquid / (CP_AIR * c.dry_cooler_air_delta_t_k)
    fans = fan_power(air, out["density"], design_air, c.dry_cooler_pressure_pa,
                     c.dry_cooler_fan_efficiency, c.fan_law)
    sprayed = np.where(pad, np.maximum(humidity_ratio_from_wet_bulb(t_pad, t_wb, p) - w_oa, 0.0),
                       0.0)
    bleed = c.cycles_of_concentration / (c.cycles_of_concentration - 1)
    water_kg_s = air * sprayed * bleed
    pumps = 2 * cooling._pump(q_liquid, c.liquid_delta_t_k, c.pump_head_pa, c.pump_efficiency)
    mode = np.select([(free >= 1) & ~pad, free >= 1, free > 0], [ECONOMIZER, EVAPORATIVE, PARTIAL],
                     MECHANICAL)
    return {"fan_power": fans, "pump_power": pumps,
            "mechanical_power": q_chiller / np.vectorize(cooling._dx_cop)(c.dx_cop, t_oa),
            "water_use": water_kg_s * 3600.0 / RHO_WATER * 1000.0, "mode": mode}


# --- the compiled liquid side against it ---------------------------------------------------------

LIQUID_SITES = ("golmud", "hohhot", "urumqi", "qingyang")  # the catalog's liquid_dry_cooler sites
VARIANTS = {  # adiabatic dry coolers: no staging (two fan laws), fans first, least water
    "plain": dict(evaporative_assist=True, dry_cooler_max_air_flow_ratio=1.0),
    "fixed_pressure": dict(evaporative_assist=True, dry_cooler_max_air_flow_ratio=1.0,
                           fan_law="fixed_pressure"),
    "fans_first": dict(evaporative_assist=True, dry_cooler_staging="fans_first",
                       dry_cooler_max_air_flow_ratio=1.25),
    "least_water": dict(evaporative_assist=True, dry_cooler_staging="least_water",
                        dry_cooler_max_air_flow_ratio=1.6),
}
EPW_YEARS = ("Turpan", "Shanghai", "Golmud", "Hohhot")  # hot, humid (saturated hours), plateau


@needs_shared
def test_compiled_liquid_side_equals_the_numpy_one():
    """``liquid_side`` (compiled, ``_liquid_into``) against the numpy implementation it replaced
    (above) on every catalog liquid site as configured and under each of VARIANTS, on a real EPW
    year each, two loads varying by hour, the facility water at its setpoint ``(S, 1)`` and
    hourly ``(S, T)``, with and without dust locking the pads out 40 hours in 500: the mode
    equal, the pumps and the chiller bit for bit, the fans and the water within 1e-12 (the
    approaches at the staged flows use scalar exp, expm1 and pow where numpy's are vectorised:
    3e-15 apart at most); a value near 0 within 1e-12 of the site's largest. At the setpoints,
    both stagings and the lock-out change the outputs of every site (exercised)."""
    files = [next(f for f in EPW_FILES if name in f.name) for name in EPW_YEARS]
    years = [weather.read_epw(f, year=2019) for f in files]
    configs, wx, labels = [], [], []
    for site_id, year in zip(LIQUID_SITES, years, strict=True):
        site = get_site(site_id)
        assert site.cooling.topology == "liquid_dry_cooler"
        for name, update in {"catalog": {}, **VARIANTS}.items():
            configs.append(with_settings(site, "cooling", **update).cooling)
            wx.append(year)
            labels.append((site_id, name))
    c = CoolingArrays.from_configs(configs)
    sites, hours = len(configs), wx[0].sizes["time"]
    out = outdoor_state(*(np.stack([w[v].values for w in wx]) for v in
                          ("temp_air", "temp_dew", "pressure")))
    rng = np.random.default_rng(22)
    design = np.full((sites, 1), 2e6)
    q = design * rng.uniform(0.2, 1.0, (2, 1, hours))  # the same loads at every site
    dust = np.broadcast_to(np.arange(hours) % 500 < 40, (sites, hours))
    for water in (c.facility_water_degc, rng.uniform(24.0, 40.0, (sites, 1)) + rng.uniform(
            -2.0, 2.0, (sites, hours))):
        new, old = ({locked: f(c, out, q, water, design_q_liquid=design, lockout=dust & locked)
                     for locked in (True, False)}
                    for f in (cooling.liquid_side, reference_liquid_side))
        for locked in (True, False):
            np.testing.assert_array_equal(new[locked]["mode"],
                                          np.broadcast_to(old[locked]["mode"], q.shape))
            for key in ("pump_power", "mechanical_power"):
                np.testing.assert_array_equal(new[locked][key], old[locked][key], err_msg=key)
            for key in ("fan_power", "water_use"):
                a, b = new[locked][key], old[locked][key]
                np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=key)
                tolerance = 1e-12 * np.maximum(np.abs(b), np.nanmax(b, axis=(0, 2), keepdims=True))
                assert (np.abs(a - b)[~np.isnan(b)] <= tolerance[~np.isnan(b)]).all(), key
        fans, water_use = new[False]["fan_power"], new[False]["water_use"]
        for k, (site_id, name) in enumerate(labels if water is c.facility_water_degc else ()):
            if name in ("fans_first", "least_water"):  # the fans rise above the plain plant's
                plain = labels.index((site_id, "plain"))
                assert (fans[:, k] > fans[:, plain] * 1.001).any(), (site_id, name)
            if configs[k].evaporative_assist:  # the pads stay dry where dust locks them out
                assert (water_use[:, k, dust[k]] > 0).any(), (site_id, name)
                assert (new[True]["water_use"][:, k, dust[k]] == 0).all(), (site_id, name)
        assert set(np.unique(new[True]["mode"])) == {ECONOMIZER, EVAPORATIVE, PARTIAL, MECHANICAL}
