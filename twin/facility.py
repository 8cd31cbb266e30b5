"""The facility hour by hour: IT load, electrical losses and cooling -> facility power, PUE, water.

For every (site, hour): servers at their utilisation draw IT power that depends on the server inlet
air (fans, leakage) and, for liquid-cooled servers, on the coolant (:mod:`twin.it_load`); the UPS
(no-load, proportional and square-law losses: Rasmussen 2007, APC white paper 113), distribution
and lighting add losses; all of it is heat that the site's cooling plant removes
(:mod:`twin.cooling`). PUE_h = facility / IT; annual PUE and WUE are energy weighted (The Green
Grid; reference/cooling.md section 1): sum of facility energy over sum of IT energy.

Control: ``baseline`` holds the configured setpoints; ``optimised`` chooses, each hour, the supply
air temperature within the ASHRAE recommended envelope and the facility-water temperature (liquid
plants) that minimise facility power, by evaluating the whole facility at candidate setpoints
(the cooling mode follows: the cheapest one the weather allows at that setpoint).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numba
import numpy as np
import pandas as pd

from twin import cooling
from twin.arrays import groups
from twin.cooling import CoolingArrays, outdoor_state
from twin.it_load import ITArrays, it_power, servers_from_gpus
from twin.model_names import (
    AIR_PATHS,
    ASHRAE_CLASSES,
    COOLING_CONTROLS,
    COOLING_TOPOLOGIES,
    check_name,
    unknown_name,
)
from twin.psychrometrics import moist_air_density, saturation_vapour_pressure
from twin.variables import to_mw

# ASHRAE TC 9.9 allowable envelopes of the server inlet (reference 3.1): dry bulb min and max,
# dew point max [degC], relative humidity min and max [%]; dew point min -12 degC for all
ALLOWABLE = {"A1": (15.0, 32.0, 17.0, 8.0, 80.0), "A2": (10.0, 35.0, 21.0, 8.0, 80.0),
             "A3": (5.0, 40.0, 24.0, 8.0, 85.0), "A4": (5.0, 45.0, 24.0, 8.0, 90.0)}
ALLOWABLE_DEW_POINT_MIN_DEGC = -12.0
# above 950 m the allowable maximum falls 1 K per this many metres (reference 3.3)
DERATING_M_PER_K = {"A1": 300.0, "A2": 300.0, "A3": 175.0, "A4": 125.0}
if not tuple(ALLOWABLE) == tuple(DERATING_M_PER_K) == ASHRAE_CLASSES:
    raise ImportError("twin.facility.ALLOWABLE and DERATING_M_PER_K must have the classes of "
                      f"twin.model_names.ASHRAE_CLASSES: {', '.join(ASHRAE_CLASSES)}")
# recommended envelope (reference 3.2): dry bulb 18-27 degC, dew point -9..15 degC, RH <= 60 %
RECOMMENDED_DEGC, RECOMMENDED_DEW_POINT_DEGC, RECOMMENDED_RH_MAX = (18.0, 27.0), (-9.0, 15.0), 60.0
# optimised control: candidates between these (supply air: the recommended envelope less the
# recirculation approach; facility water: this far below the baseline up to its maximum)
CANDIDATES = 5
# utilisations at which each hour's load curve (facility power against IT power) is evaluated;
# interpolating four finds the available IT power within 0.2 % of the IT capacity of brute force
# over 2,001 (tests/test_availability.py: 0.11 %)
LOAD_LEVELS = (0.0, 1 / 3, 2 / 3, 1.0)
FACILITY_WATER_SEARCH_BELOW_K = 8.0
# the cooling plant's electric parts, whose sum is its power
POWER_PARTS = ("fan_power", "pump_power", "mechanical_power")


def ups_loss(it_power_w, rated_w, coefficients, proportional=0.0):
    """UPS loss [W]: rated x (c0 + c1 PLR + c2 PLR^2), PLR = load / rated (no-load,
    proportional and square-law losses, Rasmussen 2007), plus ``proportional`` x load (the
    distribution and lighting fractions)."""
    c0, c1, c2 = (coefficients[:, k:k + 1] for k in range(3))
    return it_power_w * ((c1 + proportional) + (c2 / rated_w) * it_power_w) + rated_w * c0


def allowable_max_degc(ashrae_class, altitude_m):
    """The class's allowable maximum inlet dry bulb [degC] derated for altitude above 950 m."""
    check_name("ASHRAE class", ashrae_class, ASHRAE_CLASSES)
    top = ALLOWABLE[ashrae_class][1]
    return top - max(altitude_m - 950.0, 0.0) / DERATING_M_PER_K[ashrae_class]


def _servers(it: ITArrays) -> np.ndarray:
    """The sites' server counts ``(S,)``; a site whose servers draw more than 1.1 times its IT
    capacity at full load raises ``ValueError`` naming it."""
    count, design = servers_from_gpus(it.server_model, it.gpu_count)
    over = np.flatnonzero(design > 1.1 * it.capacity_w)
    if over.size:
        i = over[0]
        raise ValueError(
            f"site {it.site_ids[i]}: {int(it.gpu_count[i]):,} {it.server_model[i]} draw up to "
            f"{to_mw(design[i]):.2f} MW at full load, more than it.capacity_w "
            f"{to_mw(it.capacity_w[i]):.2f} MW (+10 %) that the UPS and cooling are built for: "
            "raise it.capacity_w or lower it.gpu_count")
    return count


class Setpoints(NamedTuple):
    """The setpoints a run chose [degC], each ``(S, 1)`` or ``(S, T)``: supply air, and facility
    water (used by liquid plants only)."""

    supply_air_degc: np.ndarray
    facility_water_degc: np.ndarray


class Facility:
    """The facility model of a set of sites over one weather period; :meth:`evaluate` gives every
    hourly quantity at given setpoints, :meth:`run` applies each site's control.

    cooling, it: the sites' cooling plants and IT load (typed arrays); time: the UTC hour starts
    ``(T,)``; weather: ``(S, T)`` temp_air, temp_dew [degC], pressure [Pa] and optionally pm10
    [ug m-3]; altitude ``(S,)`` [m]; utilisation: an hourly ``(S, T)`` series replacing the
    sites' daily profiles."""

    def __init__(self, cooling: CoolingArrays, it: ITArrays, time, weather: dict, altitude,
                 utilisation=None):
        self.time = time if isinstance(time, pd.DatetimeIndex) else pd.DatetimeIndex(time)
        self.c = cooling
        self.ups = cooling.ups_loss_coefficients
        self.models, self.capacity = it.server_model, it.capacity_w
        self.servers = _servers(it)
        self.topology = cooling.topology[:, 0]
        self.liquid = self.topology == "liquid_dry_cooler"
        self.utilisation = it.hourly_utilisation(self.time) if utilisation is None else \
            utilisation
        self._chosen = None, None  # the setpoints run() chose, and their supply state
        self._split = None, []  # a state and, for each plant, its rows of it (_by_plant)
        self.outdoor = outdoor_state(weather["temp_air"], weather["temp_dew"],
                                     weather["pressure"])
        self.pm10 = weather.get("pm10")
        self.lockout = (self.pm10 > self.c.pm10_lockout_ug_m3) if self.pm10 is not None else \
            np.zeros(np.shape(weather["temp_air"]), dtype=bool)
        self.altitude = np.asarray(altitude, dtype=float)
        keys = [f"{t}/{a}" for t, a in zip(self.topology, cooling.air_path[:, 0], strict=True)]
        every = slice(0, len(keys))  # one plant type: its arrays as they are
        self.plants = [(tuple(key.split("/")), rows, cooling if isinstance(rows, slice) and
                        rows == every else cooling.subset(rows)) for key, rows in groups(keys)]
        for (_, path), _, _ in self.plants:
            check_name("air path", path, AIR_PATHS)
        design = {k: v[0] for k, v in self._it(np.ones((1, len(self.models), 1)),
                                               self.c.supply_air_degc,
                                               self.c.facility_water_degc).items()}
        scale = self.capacity[:, None] / design["it_power"]  # the plant is sized for capacity_w
        losses = self._losses(self.capacity[:, None])
        self.design_q_liquid = design["heat_to_liquid"] * scale
        self.design_q_air = design["heat_to_air"] * scale + losses

    def _it(self, utilisation, supply_air, facility_water) -> dict:
        """:func:`it_power` at the utilisations ``(K, S, 1)`` or ``(K, S, T)`` of K loads in one
        call (the sites repeated for each load): each output ``(K, S, 1)`` or ``(K, S, T)``."""
        c = self.c
        loads, sites = utilisation.shape[:2]

        def repeated(a):  # a per-site array (S, ...) for each load: (K * S, ...)
            a = np.asarray(a)
            return np.broadcast_to(a, (loads, *a.shape)).reshape(loads * sites, *a.shape[1:])

        out = it_power(
            repeated(self.models), repeated(self.servers),
            utilisation.reshape(loads * sites, -1), repeated(supply_air + c.supply_approach_k),
            repeated(facility_water + c.cdu_approach_k),
            liquid_fraction=repeated(np.where(self.liquid, c.liquid_fraction[:, 0], 0.0)),
            leak_reference_liquid_degc=repeated((c.facility_water_degc + c.cdu_approach_k)[:, 0]))
        return {k: v.reshape(loads, sites, -1) for k, v in out.items()}

    def _losses(self, it):
        return ups_loss(it, self.capacity[:, None], self.ups,
                        self.c.distribution_loss_fraction + self.c.lighting_fraction)

    def _supply_state(self, supply_air) -> dict[str, np.ndarray]:
        """The outdoor state with what the supply-air setpoint adds ``(S, T)``: the humidity
        envelope at the supply temperature and the supply air's density (the hall's humidity
        ratio held within the envelope). It does not depend on the IT load."""
        o = self.outdoor
        envelope = cooling.humidity_envelope(self.c, supply_air, o["pressure"])
        hall = np.clip(o["humidity_ratio"], *envelope)
        return {**o, "supply_density": moist_air_density(supply_air, hall, o["pressure"]),
                "supply_humidity_min": envelope[0], "supply_humidity_max": envelope[1]}

    def evaluate(self, supply_air, facility_water, utilisation=None, *,
                 supply_state=None) -> dict[str, np.ndarray]:
        """Power, water and mode ``(S, T)`` at supply-air and facility-water setpoints [degC]
        (``(S, 1)`` or ``(S, T)``; facility water is used by liquid plants only) and at the
        sites' utilisation (or ``utilisation``, broadcast to ``(S, T)``). ``supply_state``:
        :meth:`_supply_state` at ``supply_air``, when the caller evaluates several loads at the
        same setpoints. A utilisation constant over time at constant setpoints gives IT power
        constant over time: it is computed once per site, not per hour.

        Several loads at once: ``utilisation`` ``(K, S, 1)`` or ``(K, S, T)`` gives every
        output a leading axis of K loads, and what does not depend on the load (the weather's
        and setpoints' modes, temperatures, efficiencies) is computed once for all of them."""
        o, it, losses, shape = self._heat(supply_air, facility_water, utilisation, supply_state)
        parts, mode, w_hall = self._cooling(o, it, losses, supply_air, facility_water, shape)
        cooling_power = parts["cooling_power"]
        facility = it["it_power"] + losses + cooling_power

        def whole(a):  # an output computed per site: one value per hour (a read-only view)
            return np.broadcast_to(a, shape)

        return {"it_power": whole(it["it_power"]), "server_fan_power":
                whole(it["server_fan_power"]), "electrical_losses": whole(losses),
                "cooling_power": cooling_power,
                "cooling_fan_power": parts["fan_power"],
                "cooling_pump_power": parts["pump_power"],
                "mechanical_cooling_power": parts["mechanical_power"],
                "facility_power": facility, "pue": facility / it["it_power"],
                "water_use": parts["water_use"], "cooling_mode": mode,
                "hall_humidity_ratio": w_hall}

    def _heat(self, supply_air, facility_water, utilisation, supply_state):
        """:meth:`evaluate`'s supply state, IT outputs and electrical losses, each where it was
        computed (``(S, 1)`` or ``(K, S, 1)`` at a constant load and setpoints), broadcasting to
        the outputs' shape ``(S, T)`` or ``(K, S, T)``, and that shape."""
        o = self._supply_state(supply_air) if supply_state is None else supply_state
        hours = np.shape(o["temp_air"])
        u = self.utilisation if utilisation is None else np.asarray(utilisation, dtype=float)
        loads = u.shape[:-2]
        if len(loads) > 1:
            raise ValueError(f"utilisation of shape {u.shape}: at most one axis of loads "
                             "before (site, time)")
        shape = loads + hours
        per_load = u if loads else u[None]
        it = self._it(np.broadcast_to(per_load, (len(per_load), *np.broadcast_shapes(
            per_load.shape[1:], (hours[0], 1)))), supply_air, facility_water)
        # the losses where the IT power is computed ((K, S, 1) at constant load and setpoints)
        it["losses"] = self._losses(it["it_power"])
        it = {k: v if loads else v[0] for k, v in it.items()}
        return o, it, it.pop("losses"), shape

    def _cooling(self, o, it, losses, supply_air, facility_water, shape, power_only=False):
        """Each site's cooling plant removing the heat of ``it`` and ``losses`` (:meth:`_heat`):
        fan, pump, mechanical and all cooling power and water use, the mode and the hall's
        humidity ratio, each of ``shape``; with ``power_only`` the cooling power alone (the load
        curves' case: no other output is copied out of the plants' results)."""
        q_air, q_liquid = it["heat_to_air"] + losses, it["heat_to_liquid"]
        names = () if power_only else (*POWER_PARTS, "water_use")
        parts = {k: np.empty(shape) for k in (*names, "cooling_power")}
        mode, w_hall = (None, None) if power_only else (np.empty(shape, dtype=np.int8),
                                                        np.empty(shape))
        for ((topology, path), rows, cs), (os_, terms) in zip(self.plants, self._by_plant(o),
                                                             strict=True):
            sa, at = supply_air[rows], (..., rows, slice(None))  # the sites' rows of every load
            if topology == "chilled_water":
                results = [cooling.chilled_water(cs, os_, q_air[at], sa, terms=terms,
                                                 design_q_air=self.design_q_air[rows])]
            elif topology in ("airside_economizer", "liquid_dry_cooler"):
                air = cooling.air_side(
                    cs, os_, q_air[at], sa, direct=(path == "direct" and topology !=
                                                    "liquid_dry_cooler"),
                    design_q_air=self.design_q_air[rows], lockout=self.lockout[rows],
                    pm10=None if self.pm10 is None else self.pm10[rows], terms=terms)
                results = [air]
                if topology == "liquid_dry_cooler":
                    results.append(cooling.liquid_side(
                        cs, os_, q_liquid[at], facility_water[rows],
                        design_q_liquid=self.design_q_liquid[rows], lockout=self.lockout[rows]))
            else:
                raise unknown_name("cooling topology", topology, COOLING_TOPOLOGIES)
            summed = {k: functools.reduce(np.add, [r[k] for r in results])
                      for k in {*names, *POWER_PARTS}}
            parts["cooling_power"][at] = functools.reduce(np.add, [summed[k] for k in POWER_PARTS])
            for k in names:
                parts[k][at] = summed[k]
            if mode is not None:
                mode[at] = functools.reduce(np.maximum, [r["mode"] for r in results])
                w_hall[at] = results[0]["hall_humidity_ratio"]
        return parts, mode, w_hall

    def _by_plant(self, o) -> list[tuple[dict, dict]]:
        """The state ``o`` (:meth:`_supply_state`) at each plant's rows, and a dict in which the
        plant keeps what it derives from the weather alone (twin.cooling.weather_term); both
        kept for the next evaluation at the same state (the load curves', a candidate's)."""
        if self._split[0] is not o:
            self._split = o, [({k: v[rows] for k, v in o.items()}, {})
                              for _, rows, _ in self.plants]
        return self._split[1]

    def _envelopes(self, inlet, humidity_ratio):
        """Server inlet inside the recommended and the allowable envelope ``(S, T)`` bool; dew
        points compared as vapour pressures (0.01 K tolerance)."""
        p = self.outdoor["pressure"]
        vapour = p * humidity_ratio / (0.621945 + humidity_ratio)  # ASHRAE HOF eq. 20
        rh = 100.0 * vapour / saturation_vapour_pressure(inlet)
        tol = 0.01

        def dew_below(dew):
            return vapour <= saturation_vapour_pressure(dew + tol)

        def dew_above(dew):
            return vapour >= saturation_vapour_pressure(dew - tol)

        recommended = ((inlet >= RECOMMENDED_DEGC[0]) & (inlet <= RECOMMENDED_DEGC[1])
                       & dew_above(RECOMMENDED_DEW_POINT_DEGC[0])
                       & dew_below(RECOMMENDED_DEW_POINT_DEGC[1]) & (rh <= RECOMMENDED_RH_MAX))
        classes = self.c.allowable_class[:, 0]
        top = np.array([allowable_max_degc(k, a)
                        for k, a in zip(classes, self.altitude, strict=True)])[:, None]
        limits = np.array([ALLOWABLE[k] for k in classes])
        allowable = ((inlet >= limits[:, :1]) & (inlet <= top)
                     & dew_above(ALLOWABLE_DEW_POINT_MIN_DEGC) & dew_below(limits[:, 2:3])
                     & (rh >= limits[:, 3:4]) & (rh <= limits[:, 4:5]))
        return recommended, allowable

    def _best(self, candidates, evaluate_at):
        """Per element, the candidate setpoint ``(S, 1)`` giving the least facility power."""
        power = np.stack([evaluate_at(x)["facility_power"] for x in candidates])
        return np.take_along_axis(np.stack([np.broadcast_to(x, power.shape[1:])
                                            for x in candidates]),
                                  np.argmin(power, axis=0)[None], axis=0)[0]

    def run(self) -> tuple[dict[str, np.ndarray], Setpoints]:
        """Each site under its control: the hourly results and the setpoints chosen (for
        :meth:`load_curves`). ``*_baseline`` entries give the baseline's IT, cooling and
        facility power for comparison (equal to the result where the control is baseline; IT
        power too differs, the servers' fans following the inlet temperature)."""
        c = self.c
        for control, _ in groups(c.control[:, 0]):
            check_name("cooling control", control, COOLING_CONTROLS)
        supply, water = c.supply_air_degc, c.facility_water_degc
        state = self._supply_state(supply)  # the baseline's and the water candidates' supply
        baseline = self.evaluate(supply, water, supply_state=state)
        result = baseline
        optimised = (c.control == "optimised")[:, 0]
        if optimised.any():
            top = RECOMMENDED_DEGC[1] - c.supply_approach_k
            supplies = [RECOMMENDED_DEGC[0] + (top - RECOMMENDED_DEGC[0]) * k / (CANDIDATES - 1)
                        for k in range(CANDIDATES)] + [supply]
            low = water - FACILITY_WATER_SEARCH_BELOW_K
            waters = [low + (c.facility_water_max_degc - low) * k / (CANDIDATES - 1)
                      for k in range(CANDIDATES)] + [water]
            if self.liquid[optimised].any():
                water = np.where(optimised[:, None],
                                 self._best(waters, lambda w: self.evaluate(
                                     supply, w, supply_state=state)), water)
            supply = np.where(optimised[:, None],
                              self._best(supplies, lambda s: self.evaluate(s, water)), supply)
            state = self._supply_state(supply)
            # the baseline's setpoints where not optimised
            result = self.evaluate(supply, water, supply_state=state)
        shape = result["facility_power"].shape
        recommended, allowable = self._envelopes(supply + c.supply_approach_k,
                                                 result.pop("hall_humidity_ratio"))
        result.update({
            "inlet_outside_recommended": ~recommended, "inlet_outside_allowable": ~allowable,
            "supply_air_temperature": np.broadcast_to(supply, shape),
            "facility_water_temperature": np.broadcast_to(
                np.where(self.liquid[:, None], water, np.nan), shape),
            "utilisation": np.broadcast_to(self.utilisation, shape),
            "it_power_baseline": baseline["it_power"],
            "cooling_power_baseline": baseline["cooling_power"],
            "facility_power_baseline": baseline["facility_power"]})
        chosen = Setpoints(supply, water)
        self._chosen = chosen, state  # for load_curves at the same setpoints
        return result, chosen

    def load_curves(self, setpoints: Setpoints, levels=LOAD_LEVELS) -> dict[str, np.ndarray]:
        """IT and facility power [W] ``(S, T, K)`` with every server at each utilisation of
        ``levels`` (rising), at ``setpoints`` (those :meth:`run` chose): each site-hour's
        facility power as a function of its IT load."""
        chosen, state = self._chosen
        o, it, losses, shape = self._heat(*setpoints, np.asarray(levels, float)[:, None, None],
                                          state if setpoints is chosen else None)
        # facility power alone: none of evaluate's other outputs, nor the IT power per hour
        facility = self._cooling(o, it, losses, *setpoints, shape,
                                 power_only=True)[0]["cooling_power"]
        facility += it["it_power"] + losses  # as IT + losses + cooling: addition commutes
        return {"load_curve_it_power": np.moveaxis(np.broadcast_to(it["it_power"], shape), 0, -1),
                "load_curve_facility_power": np.moveaxis(facility, 0, -1)}


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _invert_and_fit(supply, curve_it, curve_facility, available, intercept, slope,
                    error):  # pragma: no cover (compiled)
    """One pass over ``(A, B, K)`` load curves, compiled by numba, read with their strides (a
    broadcast or transposed view is not copied): the available IT power at ``supply``
    ``(A, B)`` (:func:`available_it_power`) and the least-squares line through each curve
    (:func:`linear_form`), written into the ``(A, B)`` outputs."""
    k_levels = curve_it.shape[2]
    top = k_levels - 1
    for m in range(curve_it.shape[0]):
        for n in range(curve_it.shape[1]):
            it, facility = curve_it[m, n], curve_facility[m, n]
            s = supply[m, n]
            k, x_sum, y_sum, bad = 0, 0.0, 0.0, np.isnan(s)
            for j in range(k_levels):
                f = facility[j]
                bad = bad or np.isnan(f)
                k += f <= s
                x_sum += it[j]
                y_sum += f
            if bad:
                available[m, n] = np.nan
            elif k == 0:
                available[m, n] = 0.0
            elif k > top:
                available[m, n] = it[top]
            else:
                lo = min(max(k - 1, 0), top - 1)
                it0, it1 = it[lo], it[lo + 1]
                f0, f1 = facility[lo], facility[lo + 1]
                available[m, n] = it0 + (s - f0) * (it1 - it0) / (f1 - f0)
            x_mean, y_mean = x_sum / k_levels, y_sum / k_levels
            sxy, sxx = 0.0, 0.0
            for j in range(k_levels):
                dx = it[j] - x_mean
                sxy += dx * (facility[j] - y_mean)
                sxx += dx * dx
            b = sxy / sxx
            a = y_mean - b * x_mean
            worst = 0.0
            for j in range(k_levels):
                e = abs(facility[j] - (a + b * it[j]))
                if e > worst or np.isnan(e):  # NaN propagates, as numpy's max
                    worst = e
            intercept[m, n], slope[m, n], error[m, n] = a, b, worst


def invert_and_fit(supply_w, curve_it, curve_facility):
    """:func:`available_it_power` and :func:`linear_form` of the same load curves
    ``(..., K)`` in one compiled pass: available IT power, intercept, marginal PUE and largest
    deviation, each shaped like the curves without their last axis."""
    curve_it = np.asarray(curve_it, dtype=float)
    curve_facility = np.asarray(curve_facility, dtype=float)
    shape = np.broadcast_shapes(curve_it.shape, curve_facility.shape)
    blocks = (-1, *shape[-2:]) if len(shape) > 1 else (1, 1, shape[-1])
    curves = [np.broadcast_to(a, shape).reshape(blocks) for a in (curve_it, curve_facility)]
    supply = np.broadcast_to(np.asarray(supply_w, dtype=float), shape[:-1])
    outs = [np.empty(curves[0].shape[:2]) for _ in range(4)]
    with np.errstate(invalid="ignore", divide="ignore"):
        _invert_and_fit(supply.reshape(outs[0].shape), *curves, *outs)
    return tuple(o.reshape(shape[:-1]) for o in outs)


def available_it_power(supply_w, curve_it, curve_facility):
    """The largest IT power ``(S, T)`` [W] whose facility power (IT, losses and that hour's
    cooling) the supply ``(S, T)`` [W] can carry: the load curves ``(S, T, K)``
    (:meth:`Facility.load_curves`, facility power rising with IT power) inverted by linear
    interpolation between levels; 0 where the supply cannot carry the idle cluster, full load
    where it carries more. NaN supply or curves give NaN."""
    return invert_and_fit(supply_w, curve_it, curve_facility)[0]


def linear_form(curve_it, curve_facility):
    """Least-squares ``facility_power ~= a + b it_power`` of each site-hour over its load curve
    ``(S, T, K)``: intercept ``a`` [W] (fixed overhead), marginal PUE ``b`` [1] and the largest
    deviation over the curve's levels [W], each ``(S, T)``."""
    return invert_and_fit(np.nan, curve_it, curve_facility)[1:]


def facility_summary(ds) -> pd.DataFrame:
    """Per site and year: energy-weighted annual PUE (sum of facility over sum of IT energy),
    WUE [L kWh-1 of IT], IT and cooling energy [Wh], the optimised control's cooling saving
    against the baseline [%], peak hourly PUE, and hours per cooling mode and outside the ASHRAE
    envelopes."""
    it, facility = ds["it_power"].sum("time"), ds["facility_power"].sum("time")
    cooling_energy = ds["cooling_power"].sum("time")
    baseline = ds["cooling_power_baseline"].sum("time")
    frame = pd.DataFrame({
        "name": ds["name"].values,
        "topology": ds["cooling_topology"].values,
        "control": ds["cooling_control"].values,
        "it_energy_wh": it.values,
        "cooling_energy_wh": cooling_energy.values,
        "pue": (facility / it).values,
        "pue_baseline": (ds["facility_power_baseline"].sum("time")
                         / ds["it_power_baseline"].sum("time")).values,
        "cooling_saving_pct": (100 * (1 - cooling_energy / baseline)).values,
        "wue_l_per_kwh": (ds["water_use"].sum("time") / (it / 1000.0)).values,
        "peak_pue": ds["pue"].max("time").values,
        "hours_outside_recommended": ds["inlet_outside_recommended"].sum("time").values,
        "hours_outside_allowable": ds["inlet_outside_allowable"].sum("time").values,
    }, index=pd.Index(ds["site"].values, name="site"))
    for code, mode in enumerate(cooling.MODES):
        frame[f"hours_{mode}"] = (ds["cooling_mode"] == code).sum("time").values
    return frame
