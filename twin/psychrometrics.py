"""Vectorised moist-air psychrometrics in SI at the site's pressure.

ASHRAE Handbook - Fundamentals 2017 (SI), chapter 1, the equations PsychroLib implements: saturation
pressure over ice and over water (Hyland-Wexler, eqs. 5 and 6), humidity ratio (eq. 20), specific
volume (eq. 26), enthalpy (eq. 30), thermodynamic wet bulb over a wet (eq. 33) or iced (eq. 35)
surface. Broadcastable arrays in, float64 arrays out; NaN stays in its element. Units: temperature
[degC], pressure [Pa], humidity ratio W [kg water / kg dry air], relative humidity [%], enthalpy
[J / kg dry air], density [kg moist air / m3]. As PsychroLib, eqs. 5/6 switch at the triple point
(0.01 degC) so p_ws is continuous; in eqs. 33/35 W_s(t*) is over water/ice (PsychroLib: over ice up
to 0.01 degC, < 1e-6 kg/kg apart). Near 0 degC eqs. 33 and 35 can both have a root (an ice bulb up
to ~0.8 K below zero, a liquid wet bulb just above it); we return the liquid one, PsychroLib either.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

# numba's compiler as the project uses it: cached on disk, no GIL, numpy's float semantics
# (division by zero gives inf or NaN, not an exception)
compiled = numba.njit(cache=True, nogil=True, error_model="numpy")

KELVIN = 273.15
TRIPLE_POINT_DEGC = 0.01  # eqs. 5/6 switch
MOLAR_MASS_RATIO = 0.621945  # M_water / M_dry_air, eq. 20
R_DRY_AIR = 287.042  # J kg-1 K-1, eq. 26
VOLUME_VAPOUR_FACTOR = 1.607858  # 1 / MOLAR_MASS_RATIO, eq. 26
# kJ kg-1 K-1, kJ kg-1 K-1, kJ kg-1; eq. 30
CP_DRY_AIR, CP_VAPOUR, H_VAPOUR_0C = 1.006, 1.86, 2501.0
DEW_ABOVE_DRY_TOLERANCE_K = 0.05  # a larger excess is an error, a smaller one weather-file rounding
# Newton's error after a step s is below 0.04 s^2 K here, so these leave < 1e-7 K and < 1e-4 K
DEW_POINT_STEP_K, WET_BULB_STEP_K, MAX_NEWTON_STEPS = 1e-3, 0.05, 30
WET_BULB_LOG_OFFSET_K = 100.0  # keeps both sides of the wet-bulb energy balance > 0 above -100 degC
BLOCK = 2**16  # elements per block in `state`: cache-sized blocks make numpy about twice as fast
# ln p_ws = C0/T + C1 + C2 T + C3 T^2 + C4 T^3 + C5 T^4 + C6 ln T, T [K], p_ws [Pa]; key: over ice
LN_PWS = {True: (-5.6745359e03, 6.3925247, -9.677843e-03, 6.2215701e-07, 2.0747825e-09,
                 -9.484024e-13, 4.1635019),  # eq. 5, -100..0 degC
          False: (-5.8002206e03, 1.3914993, -4.8640239e-02, 4.1764768e-05, -1.4452093e-08, 0.0,
                  6.5459673)}  # eq. 6, 0..200 degC
# eqs. 35 (ice), 33 (water): W = ((A - B t*) W_s(t*) - 1.006 (t - t*)) / (A + 1.86 t - C t*)
WET_BULB_ABC = {True: (2830.0, 0.24, 2.1), False: (2501.0, 2.326, 4.186)}
# the same as plain tuples, which compiled code reads as constants
_LN_PWS_ICE, _LN_PWS_WATER = LN_PWS[True], LN_PWS[False]
_WET_BULB_ICE, _WET_BULB_WATER = WET_BULB_ABC[True], WET_BULB_ABC[False]


def _ln_pws(temp_degc, c):
    """ln p_ws [Pa] of eq. 5 or 6 (coefficients ``c``) of arrays; ``_ln_pws_compiled`` is the
    same function compiled, for compiled code."""
    t = temp_degc + KELVIN
    return c[0] / t + c[1] + t * (c[2] + t * (c[3] + t * (c[4] + t * c[5]))) + c[6] * np.log(t)


_ln_pws_compiled = compiled(_ln_pws)


@compiled
def _ln_pws_of(t, ln_t, c):  # pragma: no cover (compiled)
    """:func:`_ln_pws` at the absolute temperatures ``t`` [K] of a 1-D array, their logarithms
    ``ln_t`` given (numpy's vectorised ``log``), in one pass."""
    out = np.empty(t.size)
    for i in range(t.size):
        out[i] = c[0] / t[i] + c[1] + t[i] * (c[2] + t[i] * (c[3] + t[i] * (c[4] + t[i] * c[5]))) \
            + c[6] * ln_t[i]
    return out


def _ln_pws_slope(temp_degc, c):
    t = temp_degc + KELVIN
    return (c[6] - c[0] / t) / t + c[2] + t * (2 * c[3] + t * (3 * c[4] + t * 4 * c[5]))


_ln_pws_slope_compiled = compiled(_ln_pws_slope)


P_WS_0C = float(np.exp(_ln_pws(0.0, LN_PWS[False])))  # Pa, over water


def _floats(*arrays):
    return np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in arrays))


def _by_phase(ice, func, *arrays):
    """``func(over_ice, *arrays)`` applied apart to the ice and the water elements of ``arrays``."""
    if not np.any(ice) or np.all(ice):
        return func(bool(np.any(ice)), *arrays)
    out = np.empty(np.shape(ice))
    for over_ice, mask in ((True, ice), (False, ~ice)):
        out[mask] = func(over_ice, *(a[mask] for a in arrays))
    return out


def _newton(residual, x, converged_step, *args):
    """Newton on 1-D ``x`` until every step is < ``converged_step``; once few elements still move
    (typically after two passes) only those are iterated. ``residual`` returns value and
    derivative."""
    x = np.array(x, dtype=float)
    index, x_moving = np.arange(x.size), x
    for _ in range(MAX_NEWTON_STEPS):
        value, derivative = residual(x_moving, *args)
        step = value / derivative
        x_moving = x_moving - step
        # NaN compares False: NaN stays NaN and stops at once
        moving = np.abs(step) > converged_step
        if np.count_nonzero(moving) <= moving.size // 4:
            x[index] = x_moving
            if not moving.any():
                return x
            index, x_moving, args = index[moving], x_moving[moving], [a[moving] for a in args]
    raise RuntimeError(f"Newton iteration did not converge for {index.size} element(s)")


def _exp_ln_pws(temp_degc, c):
    """``np.exp(_ln_pws(temp_degc, c))`` of an array: numpy's vectorised ``log`` and ``exp``, the
    arithmetic between them compiled in one pass (:func:`_ln_pws_of`, the same operations in the
    same order, so the same numbers, instead of some fifteen numpy passes)."""
    t = temp_degc + KELVIN
    return np.exp(_ln_pws_of(t.ravel(), np.log(t).ravel(), c).reshape(t.shape))


def _p_ws(temp_degc, ice):
    return _by_phase(ice, lambda over_ice, t: _exp_ln_pws(t, LN_PWS[over_ice]), temp_degc)


def saturation_vapour_pressure(temp_degc):
    """Saturation vapour pressure [Pa]: over ice at or below 0.01 degC (eq. 5), over water above
    (eq. 6)."""
    t = np.asarray(temp_degc, dtype=float)
    return _p_ws(t, t <= TRIPLE_POINT_DEGC)


def _humidity_ratio(vapour_pressure_pa, pressure_pa):
    return MOLAR_MASS_RATIO * vapour_pressure_pa / (pressure_pa - vapour_pressure_pa)  # eq. 20


def humidity_ratio_from_dew_point(temp_dew_degc, pressure_pa):
    """Humidity ratio [kg/kg] from dew point [degC] and pressure [Pa] (eq. 20,
    p_w = p_ws(t_dew))."""
    return _humidity_ratio(saturation_vapour_pressure(temp_dew_degc),
                           np.asarray(pressure_pa, dtype=float))


def humidity_ratio_from_rh(temp_degc, relative_humidity_pct, pressure_pa):
    """Humidity ratio [kg/kg] from dry bulb [degC], relative humidity [%] and pressure [Pa]
    (eq. 20)."""
    p_w = (np.asarray(relative_humidity_pct, dtype=float) / 100.0
           * saturation_vapour_pressure(temp_degc))
    return _humidity_ratio(p_w, np.asarray(pressure_pa, dtype=float))


def _vapour_pressure(humidity_ratio, pressure_pa):
    return pressure_pa * humidity_ratio / (MOLAR_MASS_RATIO + humidity_ratio)  # eq. 20 inverted


def relative_humidity(temp_degc, humidity_ratio, pressure_pa):
    """Relative humidity [%] from dry bulb [degC], humidity ratio [kg/kg] and pressure [Pa]."""
    p_w = _vapour_pressure(*_floats(humidity_ratio, pressure_pa))
    return 100.0 * p_w / saturation_vapour_pressure(temp_degc)


def _dew_point_residual(temp, ln_p_w, c):
    return _ln_pws(temp, c) - ln_p_w, _ln_pws_slope(temp, c)


def dew_point(humidity_ratio, pressure_pa):
    """Dew point [degC] from humidity ratio [kg/kg] and pressure [Pa]: eq. 5 or 6 inverted by
    Newton on ln p_ws (concave, so it converges from anywhere) from a Magnus first guess. W <= 0
    gives NaN."""
    w, p = _floats(humidity_ratio, pressure_pa)
    with np.errstate(invalid="ignore", divide="ignore"):
        ln_p_w = np.log(_vapour_pressure(w, p)).ravel()
        gamma = ln_p_w - np.log(611.2)
        start = 243.12 * gamma / (17.62 - gamma)  # Magnus over water (WMO)

    def solve(over_ice, start, ln_p_w):
        residual = functools.partial(_dew_point_residual, c=LN_PWS[over_ice])
        return _newton(residual, start, DEW_POINT_STEP_K, ln_p_w)

    over_ice = ln_p_w <= _ln_pws(TRIPLE_POINT_DEGC, LN_PWS[False])
    return _by_phase(over_ice, solve, start, ln_p_w).reshape(w.shape)


@compiled
def w_from_wet_bulb(temp_degc, wet_bulb_degc, pressure_pa):  # pragma: no cover (compiled)
    """:func:`humidity_ratio_from_wet_bulb` of numbers, for compiled code."""
    ice = wet_bulb_degc < 0.0
    a, b, c = _WET_BULB_ICE if ice else _WET_BULB_WATER
    p_ws = np.exp(_ln_pws_compiled(wet_bulb_degc, _LN_PWS_ICE if ice else _LN_PWS_WATER))
    w_s = MOLAR_MASS_RATIO * p_ws / (pressure_pa - p_ws)  # eq. 20
    return (((a - b * wet_bulb_degc) * w_s - CP_DRY_AIR * (temp_degc - wet_bulb_degc))
            / (a + CP_VAPOUR * temp_degc - c * wet_bulb_degc))


@compiled
def _w_from_wet_bulb_into(t, t_wb, p, out):  # pragma: no cover (compiled)
    for i in range(out.size):
        out[i] = w_from_wet_bulb(t[i], t_wb[i], p[i])


def humidity_ratio_from_wet_bulb(temp_degc, wet_bulb_degc, pressure_pa):
    """Humidity ratio [kg/kg] from dry bulb, wet bulb [degC] and pressure [Pa]: eq. 33, or eq. 35
    below 0 (compiled: :func:`w_from_wet_bulb`).

    W_s(t*) is taken over water for eq. 33 and over ice for eq. 35 (PsychroLib takes it over ice up
    to 0.01 degC: up to 6e-7 kg/kg lower for 0 <= t* <= 0.01 degC), so this inverts `wet_bulb`
    exactly.
    """
    arrays = _floats(temp_degc, wet_bulb_degc, pressure_pa)
    out = np.empty(arrays[0].shape)
    _w_from_wet_bulb_into(*(np.ascontiguousarray(a).reshape(-1) for a in arrays),
                          out.reshape(-1))
    return out


def _wet_bulb_residual(t_wb, p, c_w, ln_rhs, over_ice):
    """Eq. 33 (35 over ice) times its denominator is the energy balance
    h_s(t*) - C t* (W_s* - W) = h (eq. 32). Newton on the log of its sides (offset to stay > 0), as
    the left one grows about exponentially in t*: three steps where Newton on the sides themselves
    takes four or five. Of 1-D arrays, the arithmetic compiled in one pass
    (:func:`_exp_ln_pws`, :func:`_wet_bulb_sides`: the same operations in the same order, so the
    same numbers, where some fifty numpy passes made the wet bulb of a block of 29 site-years
    take 12.5 instead of 7.4 ms)."""
    a, b, _ = WET_BULB_ABC[over_ice]
    c = LN_PWS[over_ice]
    lhs, slope = _wet_bulb_sides(t_wb, _exp_ln_pws(t_wb, c), p, c_w, a, b, c)
    return np.log(lhs) - ln_rhs, slope / lhs


@compiled
def _wet_bulb_sides(t_wb, p_ws, p, c_w, a, b, c):  # pragma: no cover (compiled)
    """The left side of :func:`_wet_bulb_residual`'s balance and its derivative in t*, at the
    wet bulbs ``t_wb`` and their saturation pressures ``p_ws`` (1-D arrays)."""
    lhs, slope = np.empty(t_wb.size), np.empty(t_wb.size)
    for i in range(t_wb.size):
        w_s = MOLAR_MASS_RATIO * p_ws[i] / (p[i] - p_ws[i])  # eq. 20
        wet = (a - b * t_wb[i]) * w_s
        lhs[i] = CP_DRY_AIR * (t_wb[i] + WET_BULB_LOG_OFFSET_K) + wet + c_w[i] * t_wb[i]
        slope[i] = (CP_DRY_AIR + c_w[i] + wet * _ln_pws_slope_compiled(t_wb[i], c) * p[i]
                    / (p[i] - p_ws[i]) - b * w_s)
    return lhs, slope


def _wet_bulb(t, w, p, t_dew):
    """Wet bulb [degC] of 1-D arrays, Newton from midway between dew point and dry bulb."""
    def solve(over_ice, t, w, p, t_dew):
        a, _, c = WET_BULB_ABC[over_ice]
        ln_rhs = np.log(CP_DRY_AIR * (t + WET_BULB_LOG_OFFSET_K) + w * (a + CP_VAPOUR * t))
        residual = functools.partial(_wet_bulb_residual, over_ice=over_ice)
        return _newton(residual, 0.5 * (t + t_dew), WET_BULB_STEP_K, p, c * w, ln_rhs)

    # eq. 33's residual at t* = 0 is > 0 where its root is below 0 degC: use eq. 35 (ice) there
    a = WET_BULB_ABC[False][0]
    over_ice = a * (_humidity_ratio(P_WS_0C, p) - w) - t * (CP_DRY_AIR + CP_VAPOUR * w) > 0
    return np.minimum(_by_phase(over_ice, solve, t, w, p, t_dew), t)


def wet_bulb(temp_degc, humidity_ratio, pressure_pa):
    """Thermodynamic wet bulb [degC] from dry bulb [degC], humidity ratio [kg/kg] and pressure
    [Pa]."""
    t, w, p = _floats(temp_degc, humidity_ratio, pressure_pa)
    flat = [a.ravel() for a in (t, w, p)]
    return _wet_bulb(*flat, np.minimum(dew_point(flat[1], flat[2]), flat[0])).reshape(t.shape)


def enthalpy(temp_degc, humidity_ratio):
    """Moist-air specific enthalpy [J / kg dry air] (eq. 30)."""
    t, w = _floats(temp_degc, humidity_ratio)
    return 1000.0 * (CP_DRY_AIR * t + w * (H_VAPOUR_0C + CP_VAPOUR * t))


def moist_air_density(temp_degc, humidity_ratio, pressure_pa):
    """Moist-air density [kg / m3] = (1 + W) / v, specific volume v from eq. 26."""
    t, w, p = _floats(temp_degc, humidity_ratio, pressure_pa)
    return (1.0 + w) * p / (R_DRY_AIR * (t + KELVIN) * (1.0 + VOLUME_VAPOUR_FACTOR * w))


STATE = ("humidity_ratio", "wet_bulb", "enthalpy", "density", "relative_humidity")


def _state(t, t_dew, p, names):
    p_w = saturation_vapour_pressure(t_dew)
    w = _humidity_ratio(p_w, p)
    compute = {"humidity_ratio": lambda: w, "wet_bulb": lambda: _wet_bulb(t, w, p, t_dew),
               "enthalpy": lambda: enthalpy(t, w), "density": lambda: moist_air_density(t, w, p),
               "relative_humidity": lambda: 100.0 * p_w / saturation_vapour_pressure(t)}
    return {name: compute[name]() for name in names}


def state(temp_air, temp_dew, pressure, dew_above_dry_tolerance_k=DEW_ABOVE_DRY_TOLERANCE_K,
          names=STATE):
    """Moist-air state from dry bulb [degC], dew point [degC] and pressure [Pa], broadcast together.

    Returns arrays dew_point [degC] and those of ``names`` (default all): humidity_ratio [kg/kg],
    wet_bulb [degC], enthalpy [J / kg dry air], density [kg / m3], relative_humidity [%]. An
    unknown name raises ``ValueError``. A dew point above the dry bulb by less than
    ``dew_above_dry_tolerance_k`` [K] is taken as the dry bulb; a larger excess raises ValueError.
    """
    t, t_dew, p = _floats(temp_air, temp_dew, pressure)
    excess = t_dew - t
    bad = excess >= dew_above_dry_tolerance_k
    if bad.any():
        first = np.unravel_index(np.argmax(bad), bad.shape)
        raise ValueError(
            f"dew point above dry bulb by {dew_above_dry_tolerance_k} K or more in {bad.sum()} "
            "element(s), "
            f"first at index {tuple(int(i) for i in first)}: temp_dew {t_dew[first]:.2f} degC > "
            f"temp_air {t[first]:.2f} degC")
    if unknown := set(names) - set(STATE):
        raise ValueError(f"unknown state quantity {', '.join(sorted(unknown))}; known: "
                         f"{', '.join(STATE)}")
    t_dew = np.where(excess > 0, t, t_dew)
    flat, result = [a.ravel() for a in (t, t_dew, p)], {}
    # at least once, so empty input gives empty arrays
    for start in range(0, max(t.size, 1), BLOCK):
        for name, values in _state(*(a[start:start + BLOCK] for a in flat), names).items():
            result.setdefault(name, np.empty(t.shape)).reshape(-1)[start:start + BLOCK] = values
    return {"dew_point": t_dew, **result}
