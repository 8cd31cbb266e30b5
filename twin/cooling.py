"""Cooling plants, one hourly model per topology, vectorised over (site, time).

Equations and default parameters are those of ``reference/cooling.md`` (section numbers below),
built on EnergyPlus (engineering reference; Chiller:Electric:EIR, evaporative coolers, fans) and on
the Lei and Masanet (2020, Energy 197, 117556) hourly PUE/WUE model. Psychrometrics at the site's
pressure come from :mod:`twin.psychrometrics`.

Each topology takes the heat it must remove [W] and its setpoints and returns the electric power
of its parts [W], its water use [L h-1] and the mode of each hour:

``economizer`` (outside air or dry heat rejection alone, fans and pumps only), ``evaporative``
(free cooling with water), ``partial`` (free cooling plus mechanical trim), ``mechanical``.

Parameters arrive as :class:`CoolingArrays`, ``(site, 1)`` columns; weather as ``(site, time)``
arrays of the outdoor state (:func:`outdoor_state`). The topology and air path are dispatched on
by :class:`twin.facility.Facility`.
"""

from __future__ import annotations

import collections
import functools
from dataclasses import dataclass

import numpy as np

from twin.arrays import site_rows
from twin.psychrometrics import (
    compiled,
    humidity_ratio_from_dew_point,
    humidity_ratio_from_rh,
    humidity_ratio_from_wet_bulb,
    state,
    w_from_wet_bulb,
)

MODES = ("economizer", "evaporative", "partial", "mechanical")
ECONOMIZER, EVAPORATIVE, PARTIAL, MECHANICAL = range(4)

CP_AIR = 1006.0  # J kg-1 K-1, dry air (ASHRAE HOF 2017 ch. 1)
CP_WATER = 4186.0  # J kg-1 K-1
RHO_WATER = 997.0  # kg m-3
RHO_AIR_DESIGN = 1.204  # kg m-3, 20 degC at 101,325 Pa: fans are rated here (reference 8)
# EnergyPlus Coil:Cooling:DX:SingleSpeed EIR(T) of the 2-zone data-centre example (reference 4.5):
# x entering-coil wet bulb, y outdoor dry bulb [degC]; rated at 19.4 / 35 degC; valid y 18-46.1
DX_EIRFT = (0.297145, 0.0430933, -0.000748766, 0.00597727, 0.000482112, -0.000956448)
DX_RATED_WET_BULB_DEGC, DX_OUTDOOR_RANGE_DEGC = 19.4, (18.0, 46.1)
# captured fraction of PM10 by MERV 13 filters (ASHRAE 52.2 E3 >= 85 %) and their face velocity
FILTER_CAPTURE, FILTER_FACE_VELOCITY_M_S = 0.85, 2.5
_FLOAT_MAX = float(np.finfo(np.float64).max)


def outdoor_state(temp_air, temp_dew, pressure) -> dict[str, np.ndarray]:
    """The outdoor air ``(S, T)``: dry bulb, pressure, humidity ratio, wet bulb and density at
    the site's pressure."""
    names = ("humidity_ratio", "wet_bulb", "density")
    air = state(temp_air, temp_dew, pressure, names=names)
    return {"temp_air": temp_air, "pressure": pressure, **{k: air[k] for k in names}}


def humidity_envelope(c, supply_air, pressure):
    """The humidity ratios [kg/kg] between which supply air at ``supply_air`` [degC] is within
    the sites' humidity envelope (dew point and relative-humidity limits of ``c``): the floor is
    the higher of the two minima, the ceiling the lower of the two maxima."""
    low = np.maximum(humidity_ratio_from_dew_point(c.dew_point_min_degc, pressure),
                     humidity_ratio_from_rh(supply_air, c.relative_humidity_min_pct, pressure))
    high = np.minimum(humidity_ratio_from_dew_point(c.dew_point_max_degc, pressure),
                      humidity_ratio_from_rh(supply_air, c.relative_humidity_max_pct, pressure))
    return low, high


# the parameters of CoolingArrays that compiled code reads (CoolingArrays.plant), the string ones
# as 0/1 flags: each a (site,) float array
_FLAGS = {"fixed_pressure": ("fan_law", "fixed_pressure"),
          "water_cooled": ("air_side_mechanical", "water_cooled"),
          "fans_first": ("dry_cooler_staging", "fans_first"),
          "adiabatic": ("above_economizer_limit", "adiabatic")}
_NUMERIC = ("evaporative_assist", "air_delta_t_k", "sensible_heat_ratio", "air_pressure_pa",
            "fan_efficiency", "iec_dry_effectiveness", "iec_wet_effectiveness",
            "iec_secondary_flow_ratio", "iec_secondary_fan_w_per_m3s", "iec_pump_w_per_m3s",
            "dx_cop", "coil_effectiveness", "water_delta_t_k", "tower_approach_k",
            "tower_range_k", "tower_fan_pressure_pa", "tower_fan_efficiency",
            "tower_liquid_to_gas", "hx_approach_k", "cycles_of_concentration", "drift_fraction",
            "pump_head_pa", "tower_pump_head_pa", "pump_efficiency", "liquid_delta_t_k",
            "dry_cooler_approach_k", "dry_cooler_air_delta_t_k", "dry_cooler_pressure_pa",
            "dry_cooler_fan_efficiency", "dry_cooler_max_air_flow_ratio",
            "direct_evaporative_effectiveness", "filter_clean_pa", "filter_final_pa",
            "filter_dust_capacity_kg_per_m2")
Plant = collections.namedtuple("Plant", (*_NUMERIC, *_FLAGS))


@dataclass(frozen=True)
class CoolingArrays:
    """The sites' cooling plants and electrical losses (from ``sites.CoolingConfig``, whose
    comments give each parameter's meaning and source): every parameter a ``(site, 1)`` column
    that broadcasts over time, except the UPS loss coefficients ``(site, 3)``. Units are in the
    names (degC, K, Pa, W per m3 s-1, ug m-3, kg m-2, days); the rest are fractions or ratios."""

    topology: np.ndarray  # str, twin.model_names.COOLING_TOPOLOGIES
    air_path: np.ndarray  # str, AIR_PATHS
    evaporative_assist: np.ndarray  # bool
    control: np.ndarray  # str, COOLING_CONTROLS
    supply_air_degc: np.ndarray
    supply_approach_k: np.ndarray
    air_delta_t_k: np.ndarray
    economizer_supply: np.ndarray  # str, ECONOMIZER_SUPPLIES
    supply_air_min_degc: np.ndarray
    above_economizer_limit: np.ndarray  # str, ABOVE_ECONOMIZER_LIMIT
    dew_point_min_degc: np.ndarray
    dew_point_max_degc: np.ndarray
    relative_humidity_min_pct: np.ndarray
    relative_humidity_max_pct: np.ndarray
    sensible_heat_ratio: np.ndarray
    air_side_mechanical: np.ndarray  # str, AIR_SIDE_MECHANICAL
    fan_law: np.ndarray  # str, FAN_LAWS
    allowable_class: np.ndarray  # str, ASHRAE_CLASSES
    air_pressure_pa: np.ndarray
    fan_efficiency: np.ndarray
    direct_evaporative_effectiveness: np.ndarray
    iec_dry_effectiveness: np.ndarray
    iec_wet_effectiveness: np.ndarray
    iec_secondary_flow_ratio: np.ndarray
    iec_secondary_fan_w_per_m3s: np.ndarray
    iec_pump_w_per_m3s: np.ndarray
    dx_cop: np.ndarray
    coil_effectiveness: np.ndarray
    water_delta_t_k: np.ndarray
    tower_approach_k: np.ndarray
    tower_range_k: np.ndarray
    tower_fan_pressure_pa: np.ndarray
    tower_fan_efficiency: np.ndarray
    tower_liquid_to_gas: np.ndarray
    hx_approach_k: np.ndarray
    cycles_of_concentration: np.ndarray
    drift_fraction: np.ndarray
    liquid_fraction: np.ndarray
    facility_water_degc: np.ndarray
    facility_water_max_degc: np.ndarray
    cdu_approach_k: np.ndarray
    dry_cooler_approach_k: np.ndarray
    liquid_delta_t_k: np.ndarray
    dry_cooler_air_delta_t_k: np.ndarray
    dry_cooler_pressure_pa: np.ndarray
    dry_cooler_fan_efficiency: np.ndarray
    dry_cooler_max_air_flow_ratio: np.ndarray
    dry_cooler_staging: np.ndarray  # str, DRY_COOLER_STAGING
    pump_head_pa: np.ndarray
    tower_pump_head_pa: np.ndarray
    pump_efficiency: np.ndarray
    pm10_lockout_ug_m3: np.ndarray
    filter_clean_pa: np.ndarray
    filter_final_pa: np.ndarray
    filter_change_days: np.ndarray
    filter_dust_capacity_kg_per_m2: np.ndarray
    ups_loss_coefficients: np.ndarray  # (site, 3): no-load, proportional, square-law
    distribution_loss_fraction: np.ndarray
    lighting_fraction: np.ndarray

    @classmethod
    def from_configs(cls, configs) -> CoolingArrays:
        """Stack ``sites.CoolingConfig`` objects (one per site) into columns."""
        def col(name):
            value = getattr(configs[0], name)
            dtype = str if isinstance(value, str) else bool if isinstance(value, bool) else float
            return np.array([getattr(c, name) for c in configs], dtype=dtype)

        return cls(**{name: col(name) if name == "ups_loss_coefficients" else col(name)[:, None]
                      for name in cls.__dataclass_fields__})

    @functools.cached_property
    def plant(self) -> Plant:
        """The numeric parameters ``(site,)`` float, the string ones as 0/1 flags, for compiled
        code."""
        return Plant(*(getattr(self, f)[:, 0].astype(float) for f in _NUMERIC),
                     *((getattr(self, f)[:, 0] == v).astype(float) for f, v in _FLAGS.values()))

    @functools.cached_property
    def dry_cooler_ua(self) -> np.ndarray:
        """The dry coolers' UA per watt of heat ``(site, 1)`` (``_dry_cooler_ua``), found once
        for every evaluation of these plants."""
        return _dry_cooler_ua(self)

    subset = site_rows  # the sites ``rows`` (a slice or indices)


@compiled
def _max(a, b):  # pragma: no cover (compiled)
    """np.maximum of two numbers: NaN propagates."""
    return a if a > b or a != a else b


@compiled
def _min(a, b):  # pragma: no cover (compiled)
    """np.minimum of two numbers: NaN propagates."""
    return a if a < b or a != a else b


@compiled
def _clip(x, low, high):  # pragma: no cover (compiled)
    """np.clip of numbers."""
    return _min(_max(x, low), high)


@compiled
def _fan(mass_flow, density, design_mass_flow, design_pressure_pa, efficiency,
         fixed_pressure):  # pragma: no cover (compiled)
    """Fan power [W] moving ``mass_flow`` [kg s-1] of air at ``density`` [kg m-3] (numbers).
    Fixed ducts: through a system whose pressure drop is ``design_pressure_pa`` at the design
    mass flow and the rating density 1.204 kg m-3, the drop scaling with rho V^2 (fixed ducts and
    coils), so power scales with m^3 / rho^2 (the fan laws; at 2,800 m 1.41 times the air volume
    and about twice the power, reference 8). ``fixed_pressure`` (the fan_law flag): the pressure
    rise held at ``design_pressure_pa`` whatever the flow and density, P = V dP / eta (Lei and
    Masanet 2020)."""
    volume = mass_flow / density
    design_volume = design_mass_flow / RHO_AIR_DESIGN
    if fixed_pressure:
        return volume * design_pressure_pa / efficiency
    ratio = volume * (1.0 / design_volume if design_volume > 0 else 0.0)
    return (design_pressure_pa / (RHO_AIR_DESIGN * efficiency)) * density * ratio * ratio * volume


@compiled
def _dx_cop(rated_cop, outdoor_degc):  # pragma: no cover (compiled)
    """COP of DX / air-cooled mechanical cooling at the outdoor dry bulb (numbers): the rated COP
    over the EnergyPlus EIR(T) curve at the rated coil wet bulb, inputs clamped to the curve's
    range (reference 4.5)."""
    a, b, c, d, e, f = DX_EIRFT
    x = DX_RATED_WET_BULB_DEGC
    y = _clip(outdoor_degc, DX_OUTDOOR_RANGE_DEGC[0], DX_OUTDOOR_RANGE_DEGC[1])
    rated = a + b * x + c * x * x + d * 35.0 + e * 35.0 * 35.0 + f * x * 35.0
    return rated_cop * rated / (a + b * x + c * x * x + d * y + e * y * y + f * x * y)


@compiled
def _chiller_cop(load_ratio, condenser_degc):  # pragma: no cover (compiled)
    """Water-cooled chiller COP (Lei and Masanet 2020 regression, reference 4.4) at the load ratio
    (clipped to 0.1-1) and the condenser-water temperature [degC] (clipped to 10-40, its data)."""
    load = _clip(load_ratio, 0.1, 1.0)
    t = _clip(condenser_degc, 10.0, 40.0)
    return (16.798751 + 0.008840 * t ** 2 - 8.528931 * load ** 2 + 9.885294 * load
            - 0.760621 * t + 0.084615 * load * t)


@compiled
def latent_heat(temp_degc):  # pragma: no cover (compiled)
    """Latent heat of vaporisation of water [J kg-1] (Lei and Masanet fit, reference 5.2), of a
    number or an array."""
    return (-0.0013 * temp_degc ** 2 - 2.3097 * temp_degc + 2500.5) * 1000.0


def _filter_interval(c):
    """The filters' change interval [h] ``(S,)``, filter_change_days rounded to hours, at least
    one (changed every hour)."""
    return np.maximum(np.round(c.filter_change_days[:, 0] * 24), 1).astype(np.int64)


@compiled
def _nan_to_num(x):  # pragma: no cover (compiled)
    """np.nan_to_num of a number."""
    if x != x:
        return 0.0
    return _clip(x, -_FLOAT_MAX, _FLOAT_MAX)


@compiled
def _filter_capacity(design_mass_flow, capacity_kg_per_m2):  # pragma: no cover (compiled)
    """The dust [kg] that fills filters sized for ``design_mass_flow`` [kg s-1] at
    FILTER_FACE_VELOCITY_M_S (numbers)."""
    return design_mass_flow / RHO_AIR_DESIGN / FILTER_FACE_VELOCITY_M_S * capacity_kg_per_m2


@compiled
def _filter_hour(pm10, outside_air_kg_s, capacity_kg, dust, changed, age,
                 interval):  # pragma: no cover (compiled)
    """One hour of :func:`filter_pressure` (numbers): the filters capture FILTER_CAPTURE of the
    PM10 [ug m-3] in the outside air they pass; ``dust`` is what they have taken since the first
    hour, ``changed`` what they had at their last change (fractions of ``capacity_kg``), ``age``
    the hours since it. Returns the fraction of the way from clean to final and the state after
    the hour."""
    dust += _nan_to_num(FILTER_CAPTURE * pm10 * 1e-9 * outside_air_kg_s / RHO_AIR_DESIGN
                        * 3600.0 / capacity_kg)
    filled = dust - changed
    fraction = _clip(_max(age / interval, filled), 0.0, 1.0)
    age += 1
    if filled >= 1.0 or age == interval:  # changed after this hour
        changed, age = dust, 0
    return fraction, dust, changed, age


@compiled
def _filters_into(outside_air_kg_s, pm10, design_mass_flow, capacity_kg_per_m2, interval,
                  fraction):  # pragma: no cover (compiled)
    rows, sites, hours = outside_air_kg_s.shape
    for s in range(sites):
        capacity = _filter_capacity(design_mass_flow[s], capacity_kg_per_m2[s])
        for r in range(rows):
            dust, changed, age = 0.0, 0.0, 0
            for t in range(hours):
                fraction[r, s, t], dust, changed, age = _filter_hour(
                    pm10[s, t], outside_air_kg_s[r, s, t], capacity, dust, changed, age,
                    interval[s])


def filter_pressure(c, outside_air_kg_s, design_mass_flow, pm10=None):
    """Filter pressure drop [Pa] ``(S, T)`` (or ``(K, S, T)``, as ``outside_air_kg_s``) at design
    flow (reference 9.1, dP = dP_clean + k M): from clean towards final as the filters age over
    ``filter_change_days`` or, where PM10 is known, as they fill with the dust captured
    (FILTER_CAPTURE) from the outside air they pass (``outside_air_kg_s``), whichever is
    further; changed at the interval or when full. Compiled (``_filter_hour``, which the direct
    air side runs in its own loop); without PM10 the filters age only, each hour's fraction its
    age over the interval."""
    shape = np.shape(outside_air_kg_s)  # (S, T) or (K, S, T)
    hours = shape[-2:]
    if pm10 is None:
        interval = _filter_interval(c)[:, None]
        return _filter_drop(c, np.broadcast_to(np.arange(hours[1]) % interval / interval, shape))
    outside = _contiguous([outside_air_kg_s], shape)[0].reshape((-1, *hours))
    fraction = np.empty(outside.shape)
    _filters_into(outside, _contiguous([pm10], hours)[0],
                  *(np.broadcast_to(x, (hours[0], 1))[:, 0] for x in (
                      design_mass_flow, c.filter_dust_capacity_kg_per_m2)),
                  _filter_interval(c), fraction)
    return _filter_drop(c, fraction.reshape(shape))


def _ageing_filters(c, terms, hours, design_q_air):
    """:func:`filter_pressure` of filters that pass no outside air (they age only), kept in
    ``terms`` (:func:`weather_term`)."""
    return weather_term(terms, "ageing_filter_pressure", lambda: filter_pressure(
        c, np.zeros(hours), design_q_air / (CP_AIR * c.air_delta_t_k)))


def weather_term(terms: dict | None, name: str, compute):
    """``compute()``, a term of a plant's weather and parameters alone (not of its load or
    setpoints), kept in ``terms[name]`` the first time where ``terms`` is a dict: twin.facility
    passes one per plant and weather state, so that the load curves and the control's
    candidates reuse the baseline's terms."""
    if terms is None:
        return compute()
    if name not in terms:
        terms[name] = compute()
    return terms[name]


def _filter_drop(c, fraction):
    return c.filter_clean_pa + (c.filter_final_pa - c.filter_clean_pa) * fraction


@compiled
def _pump(heat, delta_t_k, head_pa, efficiency):  # pragma: no cover (compiled)
    """Pump power [W] circulating water that carries ``heat`` [W] at a ``delta_t_k`` rise
    (numbers or arrays)."""
    return heat / (CP_WATER * delta_t_k) / RHO_WATER * head_pa / efficiency


@compiled
def _make_up(evaporated_kg_s, circulating_kg_s, drift_fraction,
             cycles_of_concentration):  # pragma: no cover (compiled)
    """Make-up water [L h-1] of an evaporative device (numbers): evaporation, drift
    (drift_fraction of the circulating water) and the blowdown that holds the cycles of
    concentration (reference 5.2)."""
    drift = drift_fraction * circulating_kg_s
    blowdown = _max(evaporated_kg_s / (cycles_of_concentration - 1) - drift, 0.0)
    return (evaporated_kg_s + drift + blowdown) * 3600.0 / RHO_WATER * 1000.0


@compiled
def _chillers(p, s, q_chiller, q_free, design_q, wet_bulb, density):  # pragma: no cover
    """Water-cooled chillers at site ``s`` of the plants ``p`` (numbers): Lei and Masanet COP at
    the condenser-water temperature (wet bulb + tower approach) and the load ratio ``q_chiller /
    design_q`` (reference 4.4), carrying ``q_chiller`` [W], with ``q_free`` [W] more rejected
    without them (waterside economiser), and their cooling towers (reference 5.1, 5.2): the
    towers evaporate all the heat rejected (``q_chiller + q_free`` and the chillers' work) at
    the mean tower water temperature, their circulating water is that heat over the range, their
    fans move circulating water / L/G of outdoor air, and two pumps (chilled or facility water
    over water_delta_t_k, condenser water over the range) circulate the loops. Returns
    mechanical, fan and pump power [W] and make-up water [L h-1]."""
    condenser = wet_bulb + p.tower_approach_k[s]
    chiller = q_chiller / _chiller_cop(q_chiller / design_q, condenser) if q_chiller > 0 else 0.0
    rejected = q_chiller + q_free + chiller
    circulating = rejected / (CP_WATER * p.tower_range_k[s])  # kg s-1 through the towers
    evaporated = rejected / latent_heat(condenser + p.tower_range_k[s] / 2)
    design_air = design_q * 1.2 / (CP_WATER * p.tower_range_k[s]) / p.tower_liquid_to_gas[s]
    fans = _fan(circulating / p.tower_liquid_to_gas[s], density, design_air,
                p.tower_fan_pressure_pa[s], p.tower_fan_efficiency[s], p.fixed_pressure[s] > 0)
    pumps = _pump(q_chiller + q_free, p.water_delta_t_k[s], p.pump_head_pa[s],
                  p.pump_efficiency[s]) + \
        _pump(rejected, p.tower_range_k[s], p.tower_pump_head_pa[s], p.pump_efficiency[s])
    return chiller, fans, pumps, _make_up(evaporated, circulating, p.drift_fraction[s],
                                          p.cycles_of_concentration[s])


@compiled
def _mechanical_1(p, s, water_cooled, q_mech, design_q, temp_air, wet_bulb,
                  density):  # pragma: no cover (compiled)
    """Mechanical cooling of an air system at site ``s`` carrying ``q_mech`` [W] (numbers;
    sensible, the coil's latent load added: 1/SHR - 1 of it, made up by humidifiers): DX /
    air-cooled (``_dx_cop`` over the outdoor dry bulb, reference 4.5) or water-cooled chillers
    with towers (:func:`_chillers`), by ``water_cooled`` (the site's flag, read by the caller
    before its loop). Returns mechanical, fan, pump power [W] and water [L h-1] (towers and
    humidifiers)."""
    latent = q_mech * (1.0 / p.sensible_heat_ratio[s] - 1.0)
    humidifier = latent / latent_heat(20.0) * 3600.0 / RHO_WATER * 1000.0
    q_coil = q_mech + latent
    if water_cooled:
        mech, fans, pumps, water = _chillers(p, s, q_coil, 0.0, design_q, wet_bulb, density)
        return mech, fans, pumps, humidifier + water
    return q_coil / _dx_cop(p.dx_cop[s], temp_air), 0.0, 0.0, humidifier + 0.0


@compiled
def _direct_into(p, q_air, supply_air, supply_floating, temp_air, wet_bulb, humidity_ratio,
                 pressure, density, supply_density, humidity_min, humidity_max, lockout, pm10,
                 interval, design_q_air, out, mode, hall):  # pragma: no cover (compiled)
    """The direct air side (:func:`air_side`) at every (load, site, hour) of C-contiguous
    arrays: fan, pump and mechanical power, water use into ``out`` ``(4, K, S, T)``, the mode
    into ``mode`` ``(K, S, T)``, the hall's humidity ratio into ``hall`` ``(S, T)``. The site's
    parameters are read before its hours, each hour's mode, mixing and humidity found once for
    all loads; then, for each load, the filters' pressure drop (:func:`filter_pressure`, changed
    every ``interval`` hours or when full of the PM10 ``pm10`` [ug m-3] captured from the
    outside air) runs through the hours."""
    loads, sites, hours = q_air.shape
    kind, mix = np.empty(hours, dtype=np.int8), np.empty(hours)
    wet, trim_k = np.empty(hours), np.empty(hours)
    for s in range(sites):
        air_dt, design_q = p.air_delta_t_k[s], design_q_air[s]
        design_mass = design_q / (CP_AIR * air_dt)
        assist = p.evaporative_assist[s] > 0
        adiabatic = p.adiabatic[s] > 0
        water_cooled = p.water_cooled[s] > 0
        bleed = p.cycles_of_concentration[s] / (p.cycles_of_concentration[s] - 1)
        pad_effectiveness = p.direct_evaporative_effectiveness[s]
        pressure_pa, efficiency = p.air_pressure_pa[s], p.fan_efficiency[s]
        fixed_pressure = p.fixed_pressure[s] > 0
        clean, final = p.filter_clean_pa[s], p.filter_final_pa[s]
        capacity = _filter_capacity(design_mass, p.filter_dust_capacity_kg_per_m2[s])
        n = interval[s]
        for t in range(hours):  # what does not depend on the load
            sa, t_sa, t_oa = supply_air[s, t], supply_floating[s, t], temp_air[s, t]
            t_wb, w_oa, w_min = wet_bulb[s, t], humidity_ratio[s, t], humidity_min[s, t]
            w_max = humidity_max[s, t]
            usable = w_oa <= w_max and not lockout[s, t] > 0
            econ = usable and t_oa <= sa
            evap = partial = pad_ok = False
            w_in, t_pre = w_oa, t_oa
            if usable and not econ and adiabatic:
                w_evap_sa = w_from_wet_bulb(sa, t_wb, pressure[s, t])  # sprayed down to supply
                t_pad = t_oa - pad_effectiveness * (t_oa - t_wb)
                w_pad = w_from_wet_bulb(t_pad, t_wb, pressure[s, t])
                evap = assist and t_pad <= sa and w_evap_sa <= w_max
                pad_ok = assist and w_pad <= w_max
                t_pre = t_pad if pad_ok else t_oa
                partial = not evap and t_pre < sa + air_dt
                w_in = w_evap_sa if evap else w_pad if partial and pad_ok else w_oa
            t_ra_econ = t_sa + air_dt
            mix[t] = _clip((t_ra_econ - t_sa) / (t_ra_econ - t_oa), 0.0, 1.0) if econ else 1.0
            free = econ or evap or partial
            humidify = _max(w_min - w_in, 0.0) if free else 0.0
            sprayed = _max(w_in - w_oa, 0.0) if evap or (partial and pad_ok) else 0.0
            wet[t] = humidify + sprayed * bleed  # kg per kg of outside air
            hall[s, t] = _max(w_in, w_min) if free else _clip(w_oa, w_min, w_max)
            trim_k[t] = t_pre - sa  # K trimmed by the mechanical plant after the pads
            kind[t] = ECONOMIZER if econ else EVAPORATIVE if evap else \
                PARTIAL if partial else MECHANICAL
        for k in range(loads):
            dust, changed, age = 0.0, 0.0, 0  # the filters' state (_filter_hour)
            for t in range(hours):
                q = q_air[k, s, t]
                mass = q / (CP_AIR * air_dt)
                free = kind[t] != MECHANICAL
                outside = mix[t] * mass if kind[t] == ECONOMIZER else mass if free else 0.0
                if kind[t] == PARTIAL:
                    trim = mass * CP_AIR * trim_k[t]
                else:
                    trim = 0.0 if free else q
                mech, mech_fans, mech_pumps, mech_water = _mechanical_1(
                    p, s, water_cooled, trim, design_q, temp_air[s, t], wet_bulb[s, t],
                    density[s, t])
                fraction, dust, changed, age = _filter_hour(pm10[s, t], outside, capacity, dust,
                                                            changed, age, n)
                fans = _fan(mass, supply_density[s, t], design_mass,
                            pressure_pa + (clean + (final - clean) * fraction), efficiency,
                            fixed_pressure)
                out[0, k, s, t] = fans + mech_fans
                out[1, k, s, t] = mech_pumps
                out[2, k, s, t] = mech
                out[3, k, s, t] = outside * wet[t] * 3600.0 / RHO_WATER * 1000.0 + mech_water
                mode[k, s, t] = kind[t]


def direct_supply(c, out: dict, supply_air):
    """Outside air's supply temperature and humidity window ``(S, T)``: ``supply_air``, or the
    outside air down to supply_air_min_degc where the supply floats (``economizer_supply``),
    and the humidity ratios between which it may enter (:func:`humidity_envelope` at that
    temperature where it floats)."""
    t_oa, p = out["temp_air"], out["pressure"]
    floating = c.economizer_supply == "floating"
    t_sa = np.where(floating, np.clip(t_oa, c.supply_air_min_degc, supply_air), supply_air)
    w_min, w_max = out["supply_humidity_min"], out["supply_humidity_max"]
    if floating.any():
        w_min, w_float = np.where(floating, humidity_envelope(c, t_sa, p), (w_min, w_max))
        # outside air colder than the floating minimum is mixed with return air: as warm as
        # the supply setpoint if its relative humidity needs it
        w_max = np.where(floating & (t_oa >= c.supply_air_min_degc), w_float, w_max)
    return t_sa, w_min, w_max


def _direct(c, out: dict, q_air, supply_air, design_q_air, lockout, pm10):
    """:func:`air_side` on outside air; compiled (``_direct_into``), the supply's temperature
    and humidity window (:func:`direct_supply`) found before."""
    hours = np.shape(out["temp_air"])
    q, shape = _loads(q_air, hours)
    t_oa, p = out["temp_air"], out["pressure"]
    t_sa, w_min, w_max = direct_supply(c, out, supply_air)
    result, mode = np.empty((4, *q.shape)), np.empty(q.shape, dtype=np.int8)
    hall = np.empty(hours)
    _direct_into(c.plant, q, *_contiguous(
        [supply_air, t_sa, t_oa, out["wet_bulb"], out["humidity_ratio"], p, out["density"],
         out["supply_density"], w_min, w_max, lockout, 0.0 if pm10 is None else pm10], hours),
        _filter_interval(c), np.broadcast_to(design_q_air, (hours[0], 1))[:, 0], result, mode,
        hall)
    return {**_parts(result, mode, shape), "hall_humidity_ratio": hall}


def air_side(c, out: dict, q_air, supply_air, *, direct, design_q_air, lockout, pm10=None,
             terms=None):
    """An air-cooled hall (reference 6.2-6.4, 12 step 4): heat ``q_air`` [W] leaves in return air
    at supply + air_delta_t_k. ``direct``: outside air used while its humidity is within the
    envelope at the supply temperature (:func:`humidity_envelope`) and dust does not lock it out
    (``lockout``), humidified up to the envelope's floor; the supply is ``supply_air`` (mixed) or
    floats with the outside air down to supply_air_min_degc (``economizer_supply``). Above the
    supply (``above_economizer_limit``): pads cool the outside air (adiabatic, at
    direct_evaporative_effectiveness of the depression; the water the humidity-ratio rise along
    the wet bulb, with the blowdown of the cycles of concentration) with mechanical trim, or the
    hall recirculates on the mechanical plant. The air handlers' fans move the air through
    filters that age and fill with the dust of ``pm10`` (:func:`_direct`). Indirect: an
    air-to-air heat exchanger, dry or with a wet secondary side (:func:`_indirect`). Mechanical
    cooling (``_mechanical_1``) removes what free cooling cannot. ``out``: outdoor temp_air,
    wet_bulb, humidity_ratio, pressure, density and, at ``supply_air``, the supply_density and
    the envelope's supply_humidity_min and supply_humidity_max ``(S, T)``. ``terms``: a dict
    keeping the terms of the weather alone for the next call (:func:`weather_term`)."""
    if not direct:
        return _indirect(c, out, q_air, supply_air, design_q_air, terms)
    return _direct(c, out, q_air, supply_air, design_q_air, lockout, pm10)


@compiled
def _indirect_into(p, q_air, supply_air, temp_air, wet_bulb, humidity_ratio, density,
                   supply_density, filters, secondary_wetted, design_q_air, out,
                   mode):  # pragma: no cover (compiled)
    """The indirect air side (:func:`_indirect`) at every (load, site, hour) of C-contiguous
    arrays: fan, pump and mechanical power, water use into ``out`` ``(4, K, S, T)``, the mode
    into ``mode`` ``(K, S, T)``. The site's parameters are read before the loop over hours,
    which then runs on SIMD lanes."""
    loads, sites, hours = q_air.shape
    for s in range(sites):
        air_dt, design_q = p.air_delta_t_k[s], design_q_air[s]
        design_mass = design_q / (CP_AIR * air_dt)
        assist = p.evaporative_assist[s] > 0
        water_cooled = p.water_cooled[s] > 0
        bleed = p.cycles_of_concentration[s] / (p.cycles_of_concentration[s] - 1)
        tower, rated_cop = p.tower_approach_k[s], p.dx_cop[s]
        dry_effectiveness = p.iec_dry_effectiveness[s]
        wet_effectiveness = p.iec_wet_effectiveness[s]
        flow_ratio = p.iec_secondary_flow_ratio[s]
        secondary_fan, secondary_pump = p.iec_secondary_fan_w_per_m3s[s], p.iec_pump_w_per_m3s[s]
        pressure, efficiency = p.air_pressure_pa[s], p.fan_efficiency[s]
        fixed_pressure = p.fixed_pressure[s] > 0
        for k in range(loads):
            for t in range(hours):
                sa, t_oa, t_wb = supply_air[s, t], temp_air[s, t], wet_bulb[s, t]
                w_oa = humidity_ratio[s, t]
                t_ra = sa + air_dt
                cop = _chiller_cop(1.0, t_wb + tower) if water_cooled else \
                    _dx_cop(rated_cop, t_oa)
                t_dry = t_ra - dry_effectiveness * (t_ra - t_oa) if t_oa < t_ra else t_ra
                t_wet = t_ra - wet_effectiveness * (t_ra - t_wb)
                econ = t_dry <= sa
                evap = not econ and assist and t_wet <= sa
                wet = assist and t_wet < t_dry
                t_pre = t_wet if wet else t_dry
                needed = _clip((t_ra - sa) / (t_ra - t_dry), 0.0, 1.0) if econ else 1.0
                q = q_air[k, s, t]
                mass = q / (CP_AIR * air_dt)
                full_secondary = flow_ratio * (mass / supply_density[s, t])
                # pre-cooling runs only where the compressor work it saves exceeds its fans and
                # pump
                saved = mass * CP_AIR * (t_ra - t_pre) / cop
                cost = full_secondary * (secondary_fan + (secondary_pump if wet else 0.0))
                partial = not econ and not evap and t_pre < t_ra and saved > cost
                secondary = needed * full_secondary if econ or evap or partial else 0.0
                wet_on = (evap or partial) and wet
                pumps = secondary * secondary_pump if wet_on else 0.0
                # water: the secondary air's humidity rise (to secondary_wetted), scaled by the
                # share of the wet exchanger's duty the hour uses
                duty = _clip((t_ra - _max(t_pre, sa)) / (t_ra - t_pre), 0.0, 1.0) if wet_on \
                    else 0.0
                rise = _max((secondary_wetted[s, t] if wet_on else 0.0) - w_oa, 0.0) * (
                    1.0 if wet_on else 0.0)
                secondary_dry_air = full_secondary * density[s, t] / (1.0 + w_oa)  # kg s-1
                water_kg_s = duty * secondary_dry_air * rise * bleed
                if partial:
                    trim = mass * CP_AIR * (t_pre - sa)
                else:
                    trim = 0.0 if econ or evap else q
                mech, mech_fans, mech_pumps, mech_water = _mechanical_1(
                    p, s, water_cooled, trim, design_q, t_oa, t_wb, density[s, t])
                fans = _fan(mass, supply_density[s, t], design_mass, pressure + filters[s, t],
                            efficiency, fixed_pressure)
                out[0, k, s, t] = fans + secondary * secondary_fan + mech_fans
                out[1, k, s, t] = pumps + mech_pumps
                out[2, k, s, t] = mech
                out[3, k, s, t] = water_kg_s * 3600.0 / RHO_WATER * 1000.0 + mech_water
                mode[k, s, t] = ECONOMIZER if econ else EVAPORATIVE if evap else \
                    PARTIAL if partial else MECHANICAL


def _indirect(c, out: dict, q_air, supply_air, design_q_air, terms):
    """:func:`air_side` through an air-to-air heat exchanger (indirect evaporative cooler, IEC):
    the outdoor air cools the return air by iec_dry_effectiveness of their difference, or, with
    evaporative assist and a wet secondary side, by iec_wet_effectiveness of the return air's
    depression to the wet bulb (EnergyPlus EvaporativeCooler:Indirect:ResearchSpecial,
    reference 6.4); free cooling where that reaches the supply, the exchanger as pre-cooler with
    mechanical trim (``_mechanical_1``) where the compressor work it saves exceeds its fans
    and pump, mechanical cooling alone otherwise; the filters age only (no outside air in the
    hall). Compiled (``_indirect_into``)."""
    hours = np.shape(out["temp_air"])
    q, shape = _loads(q_air, hours)
    result, mode = np.empty((4, *q.shape)), np.empty(q.shape, dtype=np.int8)
    t_oa, t_wb = out["temp_air"], out["wet_bulb"]
    # the secondary air wetted at constant wet bulb (pads of direct_evaporative_effectiveness, as
    # EnergyPlus's EvaporativeCooler:Indirect:CelDekPad wets it before a dry exchanger), which
    # then takes the primary air's heat sensibly
    wetted = weather_term(terms, "iec_wetted_humidity_ratio", lambda: humidity_ratio_from_wet_bulb(
        t_oa - c.direct_evaporative_effectiveness * (t_oa - t_wb), t_wb, out["pressure"]))
    _indirect_into(c.plant, q, *_contiguous(
        [supply_air, t_oa, t_wb, out["humidity_ratio"], out["density"], out["supply_density"],
         _ageing_filters(c, terms, hours, design_q_air), wetted], hours),
        np.broadcast_to(design_q_air, (hours[0], 1))[:, 0], result, mode)
    return _plant_result(result, mode, shape, out)


def crossflow_effectiveness(ntu, c_r):
    """Effectiveness of a cross-flow exchanger, both streams unmixed (EnergyPlus
    FluidCooler:SingleSpeed, reference 5.3): 1 - exp{[exp(-NTU C_r eta) - 1] / (C_r eta)},
    eta = NTU^-0.22, of arrays; ``_crossflow_effectiveness`` is the same function compiled, for
    compiled code."""
    eta = ntu ** -0.22
    return 1.0 - np.exp(np.expm1(-ntu * c_r * eta) / (c_r * eta))


_crossflow_effectiveness = compiled(crossflow_effectiveness)


@compiled
def _dry_cooler_approach(flow_ratio, ua, span, air_delta_t_k):  # pragma: no cover (compiled)
    """The dry coolers' approach [K] (water leaving minus air entering) of numbers when their air
    flow is ``flow_ratio`` times the flow at an ``air_delta_t_k`` rise: cross-flow effectiveness
    (:func:`crossflow_effectiveness`) with the UA per watt of heat ``ua`` (``_dry_cooler_ua``)
    that gives dry_cooler_approach_k at ratio 1 (water capacity rate 1 / ``span``, the liquid's
    rise, air 1 / ``air_delta_t_k``), held as the air flow rises. ASSUMPTION [A]: UA constant,
    the air-side coefficient's growth with velocity neglected, which understates what more air
    gains."""
    c_water, air = 1.0 / span, flow_ratio * (1.0 / air_delta_t_k)
    c_min = _min(c_water, air)
    effectiveness = _crossflow_effectiveness(ua / c_min, c_min / _max(c_water, air))
    return 1.0 / (effectiveness * c_min) - span


def _dry_cooler_ua(c):
    """The UA per watt of heat ``(site, 1)`` at which the dry coolers reach
    dry_cooler_approach_k at the air flow of dry_cooler_air_delta_t_k
    (``_dry_cooler_approach``), by bisection on the cross-flow effectiveness."""
    span = c.liquid_delta_t_k
    c_water, c_air = 1.0 / span, 1.0 / c.dry_cooler_air_delta_t_k
    c_min = np.minimum(c_water, c_air)
    c_r = c_min / np.maximum(c_water, c_air)
    target = 1.0 / (c_min * (span + c.dry_cooler_approach_k))  # the effectiveness at ratio 1
    low, high = np.full(np.shape(target), -3.0), np.full(np.shape(target), 3.0)  # log10 NTU
    for _ in range(50):  # bisection: the effectiveness rises with NTU
        mid = (low + high) / 2
        short = crossflow_effectiveness(10.0 ** mid, c_r) < target
        low, high = np.where(short, mid, low), np.where(short, high, mid)
    return 10.0 ** ((low + high) / 2) * c_min


STAGING_STEPS = 21  # air-flow ratios between 1 and the maximum, interpolated between
_STAGING_SHARES = np.linspace(0.0, 1.0, STAGING_STEPS)  # of the range from 1 to the maximum


@compiled
def _fans_first(flows, approaches, target):  # pragma: no cover (compiled)
    """Fan staging ``fans_first`` of adiabatic dry coolers in an hour where they fall short at
    the air flow of dry_cooler_air_delta_t_k: the air flow rises first, up to
    dry_cooler_max_air_flow_ratio (pads wetted "only after all the fans are running"). Returns
    the air-flow ratio at which the fans alone bring the water to the facility-water setpoint
    (approach ``target`` = setpoint - dry bulb; linear between the ratios ``flows`` of
    approaches ``approaches``, falling), or the maximum where they cannot and the pads (or the
    chiller) do the rest; 1 where ratio 1 already reaches it."""
    j = STAGING_STEPS - 1
    for n in range(STAGING_STEPS):
        if approaches[n] <= target:
            j = n
            break
    if j == 0:
        return 1.0
    share = _clip((approaches[j - 1] - target) / (approaches[j - 1] - approaches[j]), 0.0, 1.0)
    return flows[j - 1] + (share if share == share else 0.0) * (flows[j] - flows[j - 1])


@compiled
def _least_water(flows, approaches, t_oa, t_wb, pressure, w_oa,
                 t_water):  # pragma: no cover (compiled)
    """Fan staging ``least_water`` in an hour where the pads must bring the water to ``t_water``
    [degC]: of the air-flow ratios ``flows`` between 1 and dry_cooler_max_air_flow_ratio (dry
    coolers' approaches ``approaches``), the one that reaches ``t_water`` with the least water.
    The pads cool the air only to ``t_water`` minus the approach at that flow, and the water is
    the flow times the humidity-ratio rise on the wet bulb (ASHRAE HOF eq. 33,
    :func:`twin.psychrometrics.w_from_wet_bulb`); where the fans alone reach it, the lowest such
    flow (linear between the ratios tried), no water. Ratio 1 is among those tried, so the water
    is never more than without staging. Returns the flow ratio and the pads' outlet [degC]."""
    best, least, best_pad, flow_alone = 0, 0.0, t_oa, -1.0  # least: first of equals, NaN first
    for n in range(STAGING_STEPS):
        need = t_oa - t_water + approaches[n]  # K of pre-cooling at this flow
        if need <= 0.0 and flow_alone < 0.0:  # the lowest flow at which the fans alone reach it
            if n == 0:
                flow_alone = flows[0]
            else:
                before = t_oa - t_water + approaches[n - 1]
                flow_alone = flows[n - 1] + before / (before - need) * (flows[n] - flows[n - 1])
        pad = t_oa - _max(need, 0.0)
        water = flows[n] * _max(w_from_wet_bulb(pad, t_wb, pressure) - w_oa, 0.0)
        if n == 0 or (least == least and (water < least or water != water)):
            best, least, best_pad = n, water, pad
    if t_oa - t_water + approaches[STAGING_STEPS - 1] <= 0.0:  # the fans alone reach it
        return flow_alone, t_oa
    return flows[best], best_pad


@compiled
def _liquid_into(p, dry_cooler_ua, q_liquid, facility_water, temp_air, wet_bulb,
                 humidity_ratio, pressure, density, lockout, design_q_liquid, out,
                 mode):  # pragma: no cover (compiled)
    """The liquid side (:func:`liquid_side`) at every (load, site, hour) of C-contiguous arrays:
    fan, pump and mechanical power, water use into ``out`` ``(4, K, S, T)``, the mode into
    ``mode`` ``(K, S, T)``. The site's parameters and its dry coolers' approach at the
    STAGING_STEPS air-flow ratios are found before the loop over hours, each hour's flow, free
    share and pads before the loop over loads."""
    loads, sites, hours = q_liquid.shape
    flows, approaches = np.empty(STAGING_STEPS), np.empty(STAGING_STEPS)
    for s in range(sites):
        liquid_dt, design_approach = p.liquid_delta_t_k[s], p.dry_cooler_approach_k[s]
        ua, air_dt = dry_cooler_ua[s], p.dry_cooler_air_delta_t_k[s]
        assist = p.evaporative_assist[s] > 0
        staging = assist and p.dry_cooler_max_air_flow_ratio[s] > 1.0
        first = staging and p.fans_first[s] > 0
        least = staging and not first
        pad_effectiveness = p.direct_evaporative_effectiveness[s]
        design_air = design_q_liquid[s] / (CP_AIR * air_dt)
        pressure_pa, efficiency = p.dry_cooler_pressure_pa[s], p.dry_cooler_fan_efficiency[s]
        fixed_pressure = p.fixed_pressure[s] > 0
        bleed = p.cycles_of_concentration[s] / (p.cycles_of_concentration[s] - 1)
        rated_cop = p.dx_cop[s]
        head, pump_efficiency = p.pump_head_pa[s], p.pump_efficiency[s]
        for n in range(STAGING_STEPS):
            flows[n] = 1.0 + (p.dry_cooler_max_air_flow_ratio[s] - 1.0) * _STAGING_SHARES[n]
            # exactly the unstaged plant at ratio 1
            approaches[n] = design_approach if n == 0 else _dry_cooler_approach(
                flows[n], ua, liquid_dt, air_dt)
        for t in range(hours):  # what does not depend on the load, then each load
            water, t_oa, t_wb = facility_water[s, t], temp_air[s, t], wet_bulb[s, t]
            returning = water + liquid_dt
            span = returning - water
            flow, approach = 1.0, design_approach
            dry = _clip((returning - (t_oa + approach)) / span, 0.0, 1.0)
            if first and dry < 1.0:  # fans first: the air flow rises before the pads spray
                flow = _fans_first(flows, approaches, water - t_oa)
                approach = _dry_cooler_approach(flow, ua, liquid_dt, air_dt)
                dry = _clip((returning - (t_oa + approach)) / span, 0.0, 1.0)
            # modulated pads: the air cooled to the inlet temperature at which the dry coolers
            # carry the whole load, at most to what full effectiveness gives
            pad = assist and dry < 1.0 and not lockout[s, t] > 0
            t_pad, free = t_oa, dry
            if pad:
                t_full = t_oa - pad_effectiveness * (t_oa - t_wb)
                t_pad = _min(_max(t_full, water - approach), t_oa)
                free = _clip((returning - (t_pad + approach)) / span, 0.0, 1.0)
                if least and free > 0:  # the same free share at the flow that sprays least
                    flow, t_pad = _least_water(flows, approaches, t_oa, t_wb, pressure[s, t],
                                               humidity_ratio[s, t], returning - free * span)
                pad = t_pad < t_oa
            # water sprayed: the humidity-ratio rise along the wet bulb from t_oa to t_pad
            sprayed = _max(w_from_wet_bulb(t_pad, t_wb, pressure[s, t]) - humidity_ratio[s, t],
                           0.0) if pad else 0.0
            cop = _dx_cop(rated_cop, t_oa)
            hour_mode = (EVAPORATIVE if pad else ECONOMIZER) if free >= 1 else \
                PARTIAL if free > 0 else MECHANICAL
            for k in range(loads):
                q = q_liquid[k, s, t]
                air = flow * (free * q) / (CP_AIR * air_dt)  # fan power ~ its cube
                out[0, k, s, t] = _fan(air, density[s, t], design_air, pressure_pa, efficiency,
                                       fixed_pressure)
                out[1, k, s, t] = 2 * _pump(q, liquid_dt, head, pump_efficiency)
                out[2, k, s, t] = (1.0 - free) * q / cop
                out[3, k, s, t] = air * sprayed * bleed * 3600.0 / RHO_WATER * 1000.0
                mode[k, s, t] = hour_mode


def liquid_side(c, out: dict, q_liquid, facility_water, *, design_q_liquid, lockout):
    """Direct-to-chip liquid (reference 7.1, 5.3, 5.4): the facility water returns at supply +
    liquid_delta_t_k and is cooled by dry coolers towards dry bulb + approach (with adiabatic
    pre-cooling towards the wet bulb when assisted and not locked out by dust, modulated to what
    the hour needs and at most direct_evaporative_effectiveness of the depression); an air-cooled
    chiller (``_dx_cop``, reference 4.5) trims the fraction they cannot (the waterside-economiser
    partial formula). Dry-cooler fans move air at dry_cooler_air_delta_t_k rise, scaled with
    density (``_fan``); before adiabatic pads spray, the fans raise the air flow up to
    dry_cooler_max_air_flow_ratio (dry_cooler_staging: ``_fans_first`` or ``_least_water``); the
    pads spray only where they cool the air;
    two pumped loops (CDU secondary and facility water). Compiled (``_liquid_into``)."""
    hours = np.shape(out["temp_air"])
    q, shape = _loads(q_liquid, hours)
    result, mode = np.empty((4, *q.shape)), np.empty(q.shape, dtype=np.int8)
    _liquid_into(c.plant, c.dry_cooler_ua[:, 0], q, *_contiguous(
        [facility_water, out["temp_air"], out["wet_bulb"], out["humidity_ratio"],
         out["pressure"], out["density"], lockout], hours),
        np.broadcast_to(design_q_liquid, (hours[0], 1))[:, 0], result, mode)
    return _parts(result, mode, shape)


@compiled
def _chilled_water_into(p, q_air, supply_air, wet_bulb, density, supply_density, filters,
                        design_q_air, out, mode):  # pragma: no cover (compiled)
    """The chilled-water plant (:func:`chilled_water`) at every (load, site, hour) of
    C-contiguous arrays: fan, pump and mechanical power, water use into ``out``
    ``(4, K, S, T)``, the mode into ``mode`` ``(K, S, T)``. The site's parameters are read
    before the loop over hours, which then runs on SIMD lanes."""
    loads, sites, hours = q_air.shape
    for s in range(sites):
        air_dt, design_q = p.air_delta_t_k[s], design_q_air[s]
        design_mass = design_q / (CP_AIR * air_dt)
        coil, water_dt = p.coil_effectiveness[s], p.water_delta_t_k[s]
        tower, hx = p.tower_approach_k[s], p.hx_approach_k[s]
        latent_share = 1.0 / p.sensible_heat_ratio[s] - 1.0
        pressure, efficiency = p.air_pressure_pa[s], p.fan_efficiency[s]
        fixed_pressure = p.fixed_pressure[s] > 0
        for k in range(loads):
            for t in range(hours):
                sa, t_wb = supply_air[s, t], wet_bulb[s, t]
                t_ra = sa + air_dt
                supply_water = t_ra - (t_ra - sa) / coil
                return_water = supply_water + water_dt
                economiser_water = t_wb + tower + hx
                free = _clip((return_water - economiser_water) / (return_water - supply_water),
                             0.0, 1.0)
                mode[k, s, t] = ECONOMIZER if free >= 1 else PARTIAL if free > 0 else MECHANICAL
                q = q_air[k, s, t]
                latent = q * latent_share
                humidifier = latent / latent_heat(20.0) * 3600.0 / RHO_WATER * 1000.0
                q_coil = q + latent
                mech, fans, pumps, water = _chillers(p, s, (1.0 - free) * q_coil, free * q_coil,
                                                     design_q, t_wb, density[s, t])
                air = _fan(q / (CP_AIR * air_dt), supply_density[s, t], design_mass,
                           pressure + filters[s, t], efficiency, fixed_pressure)
                out[0, k, s, t] = air + fans
                out[1, k, s, t] = pumps
                out[2, k, s, t] = mech
                out[3, k, s, t] = water + humidifier


def _contiguous(arrays, shape):
    """Each of ``arrays`` broadcast to ``shape``, as a C-contiguous float array (for compiled
    loops that run on SIMD lanes)."""
    return [np.ascontiguousarray(np.broadcast_to(a, shape), dtype=float) for a in arrays]


def _loads(q, hours):
    """The heat ``q`` ``(S, T)`` or ``(K, S, T)`` as a C-contiguous ``(K, S, T)`` array, and the
    shape of the results."""
    shape = np.broadcast_shapes(np.shape(q), hours)
    return _contiguous([q], shape)[0].reshape((-1, *hours)), shape


def _parts(result, mode, shape) -> dict[str, np.ndarray]:
    """A compiled plant's four parts ``result`` and ``mode`` in the loads' ``shape``."""
    return {**dict(zip(("fan_power", "pump_power", "mechanical_power", "water_use"),
                       result.reshape((4, *shape)), strict=True)), "mode": mode.reshape(shape)}


def _plant_result(result, mode, shape, out) -> dict[str, np.ndarray]:
    """A compiled air plant's :func:`_parts` and the hall's humidity ratio: the outdoor air's,
    held within the supply envelope."""
    return {**_parts(result, mode, shape),
            "hall_humidity_ratio": np.clip(out["humidity_ratio"], out["supply_humidity_min"],
                                           out["supply_humidity_max"])}


def chilled_water(c, out: dict, q_air, supply_air, *, design_q_air, terms=None):
    """Chilled-water plant (reference 5.1, 5.2, 5.4, 4.4): CRAH coils with effectiveness
    coil_effectiveness need water at T_ra - (T_ra - T_sa) / HTE; cooling towers give wet bulb +
    approach, a plate heat exchanger its approach more (water-side economiser: all, part or none
    of the load free); water-cooled chillers with their towers carry the rest
    (:func:`_chillers`). The coils' load includes the latent share of the sensible
    heat ratio (1/SHR - 1 of it), made up by humidifiers; the CRAH fans move the air through
    filters that age (:func:`filter_pressure`). Compiled (``_chilled_water_into``). ``terms``:
    as :func:`air_side`'s."""
    hours = np.shape(out["temp_air"])
    q, shape = _loads(q_air, hours)
    result, mode = np.empty((4, *q.shape)), np.empty(q.shape, dtype=np.int8)
    _chilled_water_into(c.plant, q, *_contiguous(
        [supply_air, out["wet_bulb"], out["density"], out["supply_density"],
         _ageing_filters(c, terms, hours, design_q_air)], hours),
        np.broadcast_to(design_q_air, (hours[0], 1))[:, 0], result, mode)
    return _plant_result(result, mode, shape, out)
