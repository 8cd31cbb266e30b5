"""Vectorised moist-air psychrometrics in SI at the site's pressure.

Equations from ASHRAE Handbook - Fundamentals 2017 (SI), chapter 1, the ones PsychroLib implements:
saturation pressure over ice and over water (Hyland-Wexler, eqs. 5 and 6), humidity ratio from vapour
pressure (eq. 20), specific volume (eq. 26), enthalpy (eq. 30) and the thermodynamic wet bulb over a
wet (eq. 33) or iced (eq. 35) surface. Arrays of any broadcastable shape in, float64 arrays out; NaN
stays in its own element. Units: temperature [degC], pressure [Pa], humidity ratio W [kg water / kg
dry air], relative humidity [%], enthalpy [J / kg dry air], density [kg moist air / m3].

Where ASHRAE leaves a choice we follow PsychroLib: eqs. 5/6 switch at the triple point (0.01 degC), so
p_ws is continuous. Near 0 degC eqs. 33 and 35 can both have a root (an ice bulb up to ~0.8 K below
zero and a liquid wet bulb just above it); we return the liquid one, PsychroLib's bisection either.
"""

from __future__ import annotations

import numpy as np

KELVIN = 273.15
TRIPLE_POINT_DEGC = 0.01  # eqs. 5/6 switch (PsychroLib's choice: continuous p_ws)
MOLAR_MASS_RATIO = 0.621945  # M_water / M_dry_air, eq. 20
R_DRY_AIR = 287.042  # J kg-1 K-1, eq. 26
VOLUME_VAPOUR_FACTOR = 1.607858  # 1 / MOLAR_MASS_RATIO, eq. 26
CP_DRY_AIR = 1.006  # kJ kg-1 K-1, eq. 30
CP_VAPOUR = 1.86  # kJ kg-1 K-1, eq. 30
H_VAPOUR_0C = 2501.0  # kJ kg-1, eq. 30
DEW_ABOVE_DRY_TOLERANCE_K = 0.05  # a larger excess is an error, a smaller one weather-file rounding
# Newton converges quadratically: after a step s the error is < 0.04 s^2 K for both equations, so these
# steps leave errors below 1e-7 K (dew point) and 1e-4 K (wet bulb)
DEW_POINT_STEP_K = 1e-3
WET_BULB_STEP_K = 0.05
MAX_NEWTON_STEPS = 30
BLOCK = 2**15  # elements per block in `state`: cache-sized blocks make numpy about twice as fast
# ln p_ws = C0/T + C1 + C2 T + C3 T^2 + C4 T^3 + C5 T^4 + C6 ln T, T [K], p_ws [Pa]; index by "ice"
LN_PWS = {True: (-5.6745359e03, 6.3925247, -9.677843e-03, 6.2215701e-07, 2.0747825e-09, -9.484024e-13,
                 4.1635019),  # eq. 5, -100..0 degC
          False: (-5.8002206e03, 1.3914993, -4.8640239e-02, 4.1764768e-05, -1.4452093e-08, 0.0,
                  6.5459673)}  # eq. 6, 0..200 degC
# eqs. 35 (iced) and 33 (wet): W = ((A - B t*) W_s(t*) - 1.006 (t - t*)) / (A + 1.86 t - C t*)
WET_BULB_ABC = {True: (2830.0, 0.24, 2.1), False: (2501.0, 2.326, 4.186)}


def _ln_pws(temp_degc, c):
    """ln p_ws [ln Pa] from eq. 5 or 6 (coefficients ``c``)."""
    t = temp_degc + KELVIN
    return c[0] / t + c[1] + t * (c[2] + t * (c[3] + t * (c[4] + t * c[5]))) + c[6] * np.log(t)


def _ln_pws_slope(temp_degc, c):
    """d ln p_ws / dT [K-1] from eq. 5 or 6 (coefficients ``c``)."""
    t = temp_degc + KELVIN
    return (c[6] - c[0] / t) / t + c[2] + t * (2 * c[3] + t * (3 * c[4] + t * 4 * c[5]))


def _newton(residual, x, converged_step, *args):
    """Vectorised Newton from ``x`` until every step is below ``converged_step``; NaN stays NaN.

    ``residual(x, *args)`` returns the residual and its derivative in x.
    """
    for _ in range(MAX_NEWTON_STEPS):
        value, derivative = residual(x, *args)
        step = value / derivative
        x = x - step
        if not np.any(np.abs(step) > converged_step):
            return x
    raise RuntimeError(f"{residual.__name__}: Newton iteration did not converge")


def _by_phase(ice, func, *arrays):
    """``func(ice_phase, *arrays)`` evaluated apart on the ice and the water elements (same-shape arrays)."""
    if not np.any(ice):
        return func(False, *arrays)
    if np.all(ice):
        return func(True, *arrays)
    out = np.empty(np.shape(ice))
    for phase, mask in ((True, ice), (False, ~ice)):
        out[mask] = func(phase, *(a[mask] for a in arrays))
    return out


def _floats(*arrays):
    return np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in arrays))


def saturation_vapour_pressure(temp_degc):
    """Saturation vapour pressure [Pa]: over ice at or below 0.01 degC (eq. 5), over water above (eq. 6)."""
    t = np.asarray(temp_degc, dtype=float)
    return _by_phase(t <= TRIPLE_POINT_DEGC, lambda ice, t: np.exp(_ln_pws(t, LN_PWS[ice])), t)


def _humidity_ratio(vapour_pressure_pa, pressure_pa):
    return MOLAR_MASS_RATIO * vapour_pressure_pa / (pressure_pa - vapour_pressure_pa)  # eq. 20


def _vapour_pressure(humidity_ratio, pressure_pa):
    return pressure_pa * humidity_ratio / (MOLAR_MASS_RATIO + humidity_ratio)  # eq. 20 inverted


def humidity_ratio_from_dew_point(temp_dew_degc, pressure_pa):
    """Humidity ratio [kg/kg] from dew point [degC] and pressure [Pa] (eq. 20 with p_w = p_ws(t_dew))."""
    return _humidity_ratio(saturation_vapour_pressure(temp_dew_degc), np.asarray(pressure_pa, dtype=float))


def humidity_ratio_from_rh(temp_degc, relative_humidity_pct, pressure_pa):
    """Humidity ratio [kg/kg] from dry bulb [degC], relative humidity [%] and pressure [Pa] (eq. 20)."""
    p_w = np.asarray(relative_humidity_pct, dtype=float) / 100.0 * saturation_vapour_pressure(temp_degc)
    return _humidity_ratio(p_w, np.asarray(pressure_pa, dtype=float))


def relative_humidity(temp_degc, humidity_ratio, pressure_pa):
    """Relative humidity [%] from dry bulb [degC], humidity ratio [kg/kg] and pressure [Pa]."""
    p_w = _vapour_pressure(np.asarray(humidity_ratio, dtype=float), np.asarray(pressure_pa, dtype=float))
    return 100.0 * p_w / saturation_vapour_pressure(temp_degc)


def _dew_point_residual(temp, ln_p_w, ice):
    c = LN_PWS[ice]
    return _ln_pws(temp, c) - ln_p_w, _ln_pws_slope(temp, c)


def dew_point(humidity_ratio, pressure_pa):
    """Dew point [degC] from humidity ratio [kg/kg] and pressure [Pa]: eq. 5 or 6 inverted.

    Newton on ln p_ws (concave in t) from a Magnus (WMO) first guess. W <= 0 gives NaN.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ln_p_w = np.log(_vapour_pressure(*_floats(humidity_ratio, pressure_pa)))
    gamma = ln_p_w - np.log(611.2)
    return _by_phase(ln_p_w <= _ln_pws(TRIPLE_POINT_DEGC, LN_PWS[False]),
                     lambda ice, start, ln_p_w: _newton(_dew_point_residual, start, DEW_POINT_STEP_K, ln_p_w, ice),
                     243.12 * gamma / (17.62 - gamma), ln_p_w)


def humidity_ratio_from_wet_bulb(temp_degc, wet_bulb_degc, pressure_pa):
    """Humidity ratio [kg/kg] from dry bulb and wet bulb [degC], pressure [Pa] (eq. 33; eq. 35 below 0)."""
    t, t_wb, p = _floats(temp_degc, wet_bulb_degc, pressure_pa)
    a, b, c = (np.where(t_wb < 0.0, ice, water) for ice, water in zip(WET_BULB_ABC[True], WET_BULB_ABC[False]))
    return ((a - b * t_wb) * humidity_ratio_from_dew_point(t_wb, p) - CP_DRY_AIR * (t - t_wb)) / (
        a + CP_VAPOUR * t - c * t_wb)


def _wet_bulb_residual(t_wb, t, w, p, ice):
    """Eq. 33 (35 if ``ice``) times its denominator, and its derivative in t*: increasing, convex."""
    a, b, c = WET_BULB_ABC[ice]
    p_ws = np.exp(_ln_pws(t_wb, LN_PWS[ice]))
    w_s = _humidity_ratio(p_ws, p)
    wet = (a - b * t_wb) * w_s
    value = wet - CP_DRY_AIR * (t - t_wb) - w * (a + CP_VAPOUR * t - c * t_wb)
    return value, wet * _ln_pws_slope(t_wb, LN_PWS[ice]) * p / (p - p_ws) - b * w_s + CP_DRY_AIR + c * w


def _wet_bulb(t, w, p, t_dew):
    """Wet bulb [degC] (same-shape arrays) by Newton from midway between the dew point and the dry bulb."""
    # eq. 33's residual at t* = 0 is > 0 where its root is below 0 degC: use eq. 35 (ice) there
    a = WET_BULB_ABC[False][0]
    ice = a * (_humidity_ratio(np.exp(_ln_pws(0.0, LN_PWS[False])), p) - w) - t * (CP_DRY_AIR + CP_VAPOUR * w) > 0

    def solve(ice, t, w, p, t_dew):
        return _newton(_wet_bulb_residual, 0.5 * (t + t_dew), WET_BULB_STEP_K, t, w, p, ice)

    return np.minimum(_by_phase(ice, solve, t, w, p, t_dew), t)


def wet_bulb(temp_degc, humidity_ratio, pressure_pa):
    """Thermodynamic wet bulb [degC] from dry bulb [degC], humidity ratio [kg/kg], pressure [Pa] (eqs. 33, 35)."""
    t, w, p = _floats(temp_degc, humidity_ratio, pressure_pa)
    return _wet_bulb(t, w, p, np.minimum(dew_point(w, p), t))


def enthalpy(temp_degc, humidity_ratio):
    """Moist-air specific enthalpy [J / kg dry air] (eq. 30)."""
    t, w = np.asarray(temp_degc, dtype=float), np.asarray(humidity_ratio, dtype=float)
    return 1000.0 * (CP_DRY_AIR * t + w * (H_VAPOUR_0C + CP_VAPOUR * t))


def dry_bulb_from_enthalpy(enthalpy_j_per_kg, humidity_ratio):
    """Dry bulb [degC] from enthalpy [J / kg dry air] and humidity ratio [kg/kg] (eq. 30 inverted)."""
    h, w = np.asarray(enthalpy_j_per_kg, dtype=float) / 1000.0, np.asarray(humidity_ratio, dtype=float)
    return (h - H_VAPOUR_0C * w) / (CP_DRY_AIR + CP_VAPOUR * w)


def moist_air_density(temp_degc, humidity_ratio, pressure_pa):
    """Moist-air density [kg / m3] = (1 + W) / v, specific volume v from eq. 26."""
    t, w = np.asarray(temp_degc, dtype=float), np.asarray(humidity_ratio, dtype=float)
    volume = R_DRY_AIR * (t + KELVIN) * (1.0 + VOLUME_VAPOUR_FACTOR * w) / np.asarray(pressure_pa, dtype=float)
    return (1.0 + w) / volume


def _state(t, t_dew, p):
    p_w = saturation_vapour_pressure(t_dew)
    w = _humidity_ratio(p_w, p)
    return {"humidity_ratio": w, "wet_bulb": _wet_bulb(t, w, p, t_dew), "dew_point": t_dew,
            "enthalpy": enthalpy(t, w), "density": moist_air_density(t, w, p),
            "relative_humidity": 100.0 * p_w / saturation_vapour_pressure(t)}


def state(temp_air, temp_dew, pressure, dew_above_dry_tolerance_k=DEW_ABOVE_DRY_TOLERANCE_K):
    """Moist-air state from dry bulb [degC], dew point [degC] and pressure [Pa], broadcast together.

    Returns a dict of arrays: humidity_ratio [kg/kg], wet_bulb [degC], dew_point [degC],
    enthalpy [J / kg dry air], density [kg / m3], relative_humidity [%]. A dew point above the dry bulb
    by less than ``dew_above_dry_tolerance_k`` is taken as the dry bulb; a larger excess raises ValueError.
    """
    t, t_dew, p = _floats(temp_air, temp_dew, pressure)
    excess = t_dew - t
    bad = excess >= dew_above_dry_tolerance_k
    if bad.any():
        first = np.unravel_index(np.argmax(bad), bad.shape)
        raise ValueError(
            f"dew point above dry bulb by {dew_above_dry_tolerance_k} K or more in {int(bad.sum())} "
            f"element(s); first at index {tuple(int(i) for i in first)}: temp_dew {t_dew[first]:.2f} degC, "
            f"temp_air {t[first]:.2f} degC")
    flat = [a.ravel() for a in (t, np.where(excess > 0, t, t_dew), p)]
    result = {}
    for start in range(0, t.size, BLOCK):
        for name, values in _state(*(a[start:start + BLOCK] for a in flat)).items():
            result.setdefault(name, np.empty(t.size))[start:start + BLOCK] = values
    return {name: values.reshape(t.shape) for name, values in result.items()}
