"""The compiled cooling plants (twin.cooling) against the numpy implementations they replaced,
kept here as references, on real EPW years: the liquid side (dry coolers, fan staging fans_first
and least_water, modulated adiabatic pads, dust lock-out, air-cooled chiller trim) on the
catalog's liquid sites, and the direct air side (mixed or floating supply and its humidity
envelope, adiabatic pads or recirculation, filters filling with dust, DX or water-cooled
mechanical trim) on the catalog's direct sites."""

from __future__ import annotations

import numba
import numpy as np

import weather
from sites import get_site
from tests.conftest import EPW_FILES, needs_shared, with_settings
from twin import cooling
from twin.cooling import (
    CP_AIR,
    ECONOMIZER,
    EVAPORATIVE,
    FILTER_CAPTURE,
    FILTER_FACE_VELOCITY_M_S,
    MECHANICAL,
    PARTIAL,
    RHO_AIR_DESIGN,
    RHO_WATER,
    STAGING_STEPS,
    CoolingArrays,
    crossflow_effectiveness,
    humidity_envelope,
    outdoor_state,
)
from twin.psychrometrics import humidity_ratio_from_wet_bulb, moist_air_density

# --- the numpy plants' shared parts (twin.cooling before the compiled loops, commit f736844) -----

_fan_ufunc = numba.vectorize(["f8(f8, f8, f8, f8, f8, f8)"])(cooling._fan.py_func)


def fan_power(mass_flow, density, design_mass_flow, design_pressure_pa, efficiency,
              law="fixed_ducts"):
    return _fan_ufunc(mass_flow, density, design_mass_flow, design_pressure_pa, efficiency,
                      np.asarray(law == "fixed_pressure", dtype=float))


def reference_filter_pressure(c, outside_air_kg_s, design_mass_flow, pm10=None):
    shape = np.shape(outside_air_kg_s)
    sites, hours = shape[-2:]
    interval = np.broadcast_to(np.round(c.filter_change_days * 24).astype(int), (sites, 1))
    if pm10 is None or not np.any(outside_air_kg_s):
        return cooling._filter_drop(c, np.arange(hours) % interval / interval)
    face_m2 = design_mass_flow / RHO_AIR_DESIGN / FILTER_FACE_VELOCITY_M_S
    loading = np.broadcast_to(np.nan_to_num(
        FILTER_CAPTURE * pm10 * 1e-9 * outside_air_kg_s / RHO_AIR_DESIGN * 3600.0
        / (face_m2 * c.filter_dust_capacity_kg_per_m2)), shape)
    fraction = np.empty(shape)
    for row in np.ndindex(shape[:-1]):
        dust = np.concatenate([[0.0], np.cumsum(loading[row])])
        start, n = 0, int(interval[row[-1], 0])
        while start < hours:
            end = min(start + n, hours)
            full = start + int(np.searchsorted(dust[start + 1:end + 1] - dust[start], 1.0))
            end = min(end, full + 1)
            fraction[row][start:end] = np.maximum(np.arange(end - start) / n,
                                                  dust[start + 1:end + 1] - dust[start])
            start = end
    return cooling._filter_drop(c, np.clip(fraction, 0, 1))


def reference_air_handler(c, q_air, density, design_q_air, outside_air, pm10):
    mass = q_air / (CP_AIR * c.air_delta_t_k)
    design_mass = design_q_air / (CP_AIR * c.air_delta_t_k)
    filters = reference_filter_pressure(c, np.broadcast_to(outside_air, np.shape(mass)),
                                        design_mass, pm10)
    return fan_power(mass, density, design_mass, c.air_pressure_pa + filters, c.fan_efficiency,
                     c.fan_law)


@numba.njit(cache=True, error_model="numpy")
def _reference_mechanical_into(p, q_mech, design_q, temp_air, wet_bulb, density,
                               out):  # pragma: no cover (compiled)
    loads, sites, hours = q_mech.shape
    for k in range(loads):
        for s in range(sites):
            water_cooled = p.water_cooled[s] > 0
            for t in range(hours):
                r = cooling._mechanical_1(p, s, water_cooled, q_mech[k, s, t], design_q[s],
                                          temp_air[s, t], wet_bulb[s, t], density[s, t])
                for j in range(4):
                    out[j, k, s, t] = r[j]


def reference_mechanical(c, out, q_mech, design_q):
    hours = np.shape(out["temp_air"])
    shape = np.broadcast_shapes(np.shape(q_mech), hours)
    q = np.broadcast_to(q_mech, shape).reshape((-1, *hours))
    result = np.empty((4, *q.shape))
    _reference_mechanical_into(c.plant, q, np.broadcast_to(design_q, (hours[0], 1))[:, 0],
                               *(np.broadcast_to(out[k], hours) for k in ("temp_air", "wet_bulb",
                                                                          "density")), result)
    return dict(zip(("mechanical_power", "fan_power", "pump_power", "water_use"),
                    result.reshape((4, *shape)), strict=True))


def reference_direct_air_side(c, out, q_air, supply_air, *, design_q_air, lockout, pm10=None):
    t_oa, t_wb, w_oa, p = out["temp_air"], out["wet_bulb"], out["humidity_ratio"], out["pressure"]
    assist = c.evaporative_assist.astype(bool)
    bleed = c.cycles_of_concentration / (c.cycles_of_concentration - 1)
    t_ra = supply_air + c.air_delta_t_k
    mass = q_air / (CP_AIR * c.air_delta_t_k)
    t_sa, w_min, w_max = cooling.direct_supply(c, out, supply_air)  # numpy, shared
    usable = (w_oa <= w_max) & ~lockout
    econ = usable & (t_oa <= supply_air)
    hot = usable & ~econ & (c.above_economizer_limit == "adiabatic")
    w_evap_sa = humidity_ratio_from_wet_bulb(supply_air, t_wb, p)
    t_pad = t_oa - c.direct_evaporative_effectiveness * (t_oa - t_wb)
    w_pad = humidity_ratio_from_wet_bulb(t_pad, t_wb, p)
    evap = hot & assist & (t_pad <= supply_air) & (w_evap_sa <= w_max)
    pad_ok = assist & (w_pad <= w_max)
    t_pre = np.where(pad_ok, t_pad, t_oa)
    partial = hot & ~evap & (t_pre < t_ra)
    t_ra_econ = t_sa + c.air_delta_t_k
    with np.errstate(invalid="ignore", divide="ignore"):
        mix = np.where(econ, np.clip((t_ra_econ - t_sa) / (t_ra_econ - t_oa), 0.0, 1.0), 1.0)
    outside = np.where(econ, mix * mass, np.where(evap | partial, mass, 0.0))
    w_in = np.where(evap, w_evap_sa, np.where(partial & pad_ok, w_pad, w_oa))
    humidify = np.where(econ | evap | partial, np.maximum(w_min - w_in, 0.0), 0.0)
    sprayed = np.where(evap | (partial & pad_ok), np.maximum(w_in - w_oa, 0.0), 0.0)
    water_kg_s = outside * (humidify + sprayed * bleed)
    w_hall = np.where(econ | evap | partial, np.maximum(w_in, w_min),
                      np.clip(w_oa, w_min, w_max))
    trim = np.where(partial, mass * CP_AIR * (t_pre - supply_air), np.where(
        econ | evap, 0.0, q_air))
    mech = reference_mechanical(c, out, trim, design_q_air)
    fans = reference_air_handler(c, q_air, out["supply_density"], design_q_air, outside, pm10)
    mode = np.select([econ, evap, partial], [ECONOMIZER, EVAPORATIVE, PARTIAL], MECHANICAL)
    return {"fan_power": fans + mech["fan_power"], "pump_power": mech["pump_power"],
            "mechanical_power": mech["mechanical_power"],
            "water_use": water_kg_s * 3600.0 / RHO_WATER * 1000.0 + mech["water_use"],
            "mode": mode, "hall_humidity_ratio": w_hall}

# --- the numpy liquid side ----------------------------------------------------------------------


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


def _plants(configs, wx):
    """The plants of ``configs`` at the weather ``wx`` (one year each): their arrays, the
    outdoor state, a random generator, a design heat of 2 MW and two loads varying by hour, the
    same at every site ``(2, S, T)``."""
    c = CoolingArrays.from_configs(configs)
    hours = wx[0].sizes["time"]
    outdoor = outdoor_state(*(np.stack([w[v].values for w in wx]) for v in
                              ("temp_air", "temp_dew", "pressure")))
    rng = np.random.default_rng(22)
    design = np.full((len(configs), 1), 2e6)
    return c, outdoor, rng, design, design * rng.uniform(0.2, 1.0, (2, 1, hours))


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
    c, out, rng, design, q = _plants(configs, wx)
    sites, hours = q.shape[1], wx[0].sizes["time"]
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


# --- the compiled direct air side against it -----------------------------------------------------

DIRECT_SITES = ("ulanqab", "zhongwei")  # the catalog's direct outside-air sites
DIRECT_VARIANTS = {
    "floating": dict(economizer_supply="floating"),
    "recirculate": dict(above_economizer_limit="recirculate"),
    "dry": dict(evaporative_assist=False),
    "water_cooled": dict(air_side_mechanical="water_cooled", sensible_heat_ratio=0.95,
                         fan_law="fixed_pressure", economizer_supply="floating"),
}


def supply_state(c, out, supply_air):
    """The outdoor state with the supply air's humidity envelope and density at ``supply_air``
    (as twin.facility.Facility._supply_state)."""
    low, high = humidity_envelope(c, supply_air, out["pressure"])
    hall = np.clip(out["humidity_ratio"], low, high)
    return {**out, "supply_humidity_min": low, "supply_humidity_max": high,
            "supply_density": moist_air_density(supply_air, hall, out["pressure"])}


@needs_shared
def test_compiled_direct_air_side_equals_the_numpy_one():
    """``air_side(direct=True)`` (compiled, ``_direct_into``) against the numpy implementation it
    replaced (above) on the catalog's direct sites as configured and under each of
    DIRECT_VARIANTS, on real EPW years (hot and dry, humid, plateau), two loads varying by hour,
    the supply at its setpoint ``(S, 1)`` and hourly ``(S, T)``, without PM10 and with PM10 of
    400 ug m-3 (filters filling before their change) rising to 900 (outside air locked out) 40
    hours in 500 and missing 10 hours: every output bit for bit. The dust changes the fans'
    power and the lock-out the modes (exercised), and every mode occurs."""
    files = [next(f for f in EPW_FILES if name in f.name) for name in EPW_YEARS]
    years = [weather.read_epw(f, year=2019) for f in files]
    configs, wx = [], []
    for i, site_id in enumerate(DIRECT_SITES):
        site = get_site(site_id)
        assert (site.cooling.topology, site.cooling.air_path) == ("airside_economizer", "direct")
        for j, update in enumerate([{}, *DIRECT_VARIANTS.values()]):
            configs.append(with_settings(site, "cooling", **update).cooling)
            wx.append(years[(i + j) % len(years)])
    c, outdoor, rng, design, q = _plants(configs, wx)
    sites, hours = q.shape[1], wx[0].sizes["time"]
    pm10 = np.where(np.arange(hours) % 500 < 40, 900.0, 400.0) * np.ones((sites, 1))
    pm10[:, 1000:1010] = np.nan
    runs = {}
    for supply in (c.supply_air_degc, c.supply_air_degc + rng.uniform(-3.0, 3.0, (sites, hours))):
        out = supply_state(c, outdoor, supply)
        for dust in (None, pm10):
            lockout = np.zeros((sites, hours), dtype=bool) if dust is None else \
                dust > c.pm10_lockout_ug_m3
            new, old = (f(c, out, q, supply, design_q_air=design, lockout=lockout, pm10=dust)
                        for f in (lambda *a, **k: cooling.air_side(*a, direct=True, **k),
                                  reference_direct_air_side))
            for key, value in new.items():
                np.testing.assert_array_equal(value, np.broadcast_to(old[key], value.shape),
                                              err_msg=key)
            runs[dust is None] = new
        assert (runs[False]["fan_power"] > runs[True]["fan_power"]).sum() > 1000
        locked = lockout & (runs[True]["mode"][0] != MECHANICAL)
        assert locked.any() and (runs[False]["mode"][:, locked] == MECHANICAL).all()
        assert set(np.unique(runs[False]["mode"])) == {ECONOMIZER, EVAPORATIVE, PARTIAL,
                                                       MECHANICAL}
