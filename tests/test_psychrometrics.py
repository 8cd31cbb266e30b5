"""twin.psychrometrics against PsychroLib (ASHRAE Handbook - Fundamentals 2017 ch. 1) and against
physics.

PsychroLib is scalar-only and takes relative humidity as a fraction; it is the reference
implementation of the same equations, so most comparisons are tight. Tolerances are stated at each
assertion.
"""

import warnings

import numpy as np
import pytest

psychrolib = pytest.importorskip("psychrolib",
                                 reason="psychrolib (reference implementation) not installed")

from twin import psychrometrics as ps  # noqa: E402

psychrolib.SetUnitSystem(psychrolib.SI)

TEMPS = np.arange(-30.0, 50.1, 5.0)  # degC
RHS = np.array([5.0, 10.0, 20.0, 35.0, 50.0, 75.0, 90.0, 100.0])  # %
PRESSURES = np.array([60_000.0, 71_900.0, 85_000.0, 101_325.0])  # Pa; 71.9 kPa: Golmud, 2,800 m
GOLMUD_PA, SEA_LEVEL_PA = 71_900.0, 101_325.0


def reference(func, *arrays):
    """``func`` (a PsychroLib scalar function) looped over broadcast arrays."""
    arrays = np.broadcast_arrays(*arrays)
    values = [func(*map(float, args)) for args in zip(*(a.ravel() for a in arrays), strict=True)]
    return np.array(values).reshape(arrays[0].shape)


@pytest.fixture(scope="module")
def grid():
    t, rh, p = np.meshgrid(TEMPS, RHS, PRESSURES, indexing="ij")
    w = reference(lambda t, rh, p: psychrolib.GetHumRatioFromRelHum(t, rh / 100.0, p), t, rh, p)
    return {"t": t, "rh": rh, "p": p, "w": w,
            "t_wet": reference(psychrolib.GetTWetBulbFromHumRatio, t, w, p),
            "t_dew": reference(psychrolib.GetTDewPointFromHumRatio, t, w, p)}


def test_saturation_vapour_pressure_matches_psychrolib():
    t = np.concatenate([TEMPS, [-100.0, -60.0, -0.01, 0.0, 0.005, 0.01, 0.02, 80.0, 150.0, 200.0]])
    np.testing.assert_allclose(ps.saturation_vapour_pressure(t),
                               reference(psychrolib.GetSatVapPres, t),
                               rtol=1e-12)  # same formula, rounding only


def test_saturation_vapour_pressure_is_continuous_at_the_triple_point():
    below, above = ps.saturation_vapour_pressure([0.01, 0.01 + 1e-9])
    assert above == pytest.approx(below, rel=1e-8)
    # the triple point of water
    assert ps.saturation_vapour_pressure(0.01) == pytest.approx(611.65, abs=0.1)


def test_humidity_ratio_from_rh_matches_psychrolib(grid):
    got = ps.humidity_ratio_from_rh(grid["t"], grid["rh"], grid["p"])
    np.testing.assert_allclose(got, grid["w"], rtol=1e-9)


def test_humidity_ratio_from_dew_point_matches_psychrolib(grid):
    expected = reference(psychrolib.GetHumRatioFromTDewPoint, grid["t_dew"], grid["p"])
    got = ps.humidity_ratio_from_dew_point(grid["t_dew"], grid["p"])
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_relative_humidity_matches_psychrolib(grid):
    expected = 100.0 * reference(psychrolib.GetRelHumFromHumRatio, grid["t"], grid["w"], grid["p"])
    got = ps.relative_humidity(grid["t"], grid["w"], grid["p"])
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    np.testing.assert_allclose(got, grid["rh"], rtol=1e-9)  # round trip


def test_dew_point_matches_psychrolib_and_inverts_eq_20(grid):
    # PsychroLib stops its Newton once a step is below 1e-3 K
    np.testing.assert_allclose(ps.dew_point(grid["w"], grid["p"]), grid["t_dew"], atol=1e-3)
    t_dew = np.linspace(-60.0, 50.0, 1101)  # our own inverse to < 1e-4 K, across the triple point
    np.testing.assert_allclose(
        ps.dew_point(ps.humidity_ratio_from_dew_point(t_dew, 80_000.0), 80_000.0), t_dew,
        atol=1e-4)
    at_saturation = grid["rh"] == 100.0
    np.testing.assert_allclose(ps.dew_point(grid["w"], grid["p"])[at_saturation],
                               grid["t"][at_saturation], atol=1e-4)


def ice_or_liquid(t, w, p):
    """True where eqs. 33 and 35 both have a root (a liquid wet bulb >= 0 and an ice bulb < 0
    degC)."""
    def at(t_wet):  # PsychroLib refuses a wet bulb above the dry bulb
        return reference(lambda t, p: psychrolib.GetHumRatioFromTWetBulb(t, t_wet, p)
                         if t > 0 else np.nan, t, p)
    return (at(0.0) <= w) & (at(-1e-9) > w)


def test_wet_bulb_matches_psychrolib(grid):
    got = ps.wet_bulb(grid["t"], grid["w"], grid["p"])
    both = ice_or_liquid(grid["t"], grid["w"], grid["p"])
    assert 0 < both.sum() < 0.05 * both.size  # a narrow band of a few points near a 0 degC wet bulb
    # PsychroLib bisects to a 1e-3 K bracket
    np.testing.assert_allclose(got[~both], grid["t_wet"][~both], atol=0.01)
    # in the band PsychroLib's bisection may return the ice bulb; we return the liquid wet bulb
    assert np.all(got[both] >= 0.0) and np.all(np.abs(got[both] - grid["t_wet"][both]) < 1.0)


def test_compiled_psychrometric_arithmetic_is_numpys_bit_for_bit():
    """The wet bulb's Newton residual and the saturation pressure run their arithmetic compiled
    between numpy's log and exp (speed only): the same numbers, bit for bit, as the formulas
    written in numpy (eqs. 5, 6, 20, 32-35 as the residual had them), over ice and water, from
    -60 to 80 degC and 50 to 110 kPa."""
    rng = np.random.default_rng(7)
    for over_ice, low, high in ((True, -60.0, ps.TRIPLE_POINT_DEGC), (False, 0.0, 80.0)):
        t_wb = np.concatenate([np.linspace(low, high, 3001), rng.uniform(low, high, 5000)])
        p = rng.uniform(50_000.0, 110_000.0, t_wb.size)
        c_w = rng.uniform(0.0, 0.2, t_wb.size)
        ln_rhs = rng.uniform(4.0, 6.0, t_wb.size)
        a, b, _ = ps.WET_BULB_ABC[over_ice]
        c = ps.LN_PWS[over_ice]
        p_ws = np.exp(ps._ln_pws(t_wb, c))
        w_s = ps.MOLAR_MASS_RATIO * p_ws / (p - p_ws)
        wet = (a - b * t_wb) * w_s
        lhs = ps.CP_DRY_AIR * (t_wb + ps.WET_BULB_LOG_OFFSET_K) + wet + c_w * t_wb
        slope = (ps.CP_DRY_AIR + c_w + wet * ps._ln_pws_slope(t_wb, c) * p / (p - p_ws)
                 - b * w_s)
        value, derivative = ps._wet_bulb_residual(t_wb, p, c_w, ln_rhs, over_ice)
        np.testing.assert_array_equal(value, np.log(lhs) - ln_rhs)
        np.testing.assert_array_equal(derivative, slope / lhs)
    temps = np.linspace(-60.0, 80.0, 8000).reshape(-1, 8)[:, :5]  # 2-D, not contiguous
    expected = np.where(temps <= ps.TRIPLE_POINT_DEGC, np.exp(ps._ln_pws(temps, ps.LN_PWS[True])),
                        np.exp(ps._ln_pws(temps, ps.LN_PWS[False])))
    np.testing.assert_array_equal(ps.saturation_vapour_pressure(temps), expected)
    assert float(ps.saturation_vapour_pressure(20.0)) == float(np.exp(ps._ln_pws(20.0,
                                                                              ps.LN_PWS[False])))


def test_wet_bulb_solves_eq_33_and_35(grid):
    got = ps.wet_bulb(grid["t"], grid["w"], grid["p"])
    residual = ps.humidity_ratio_from_wet_bulb(grid["t"], got, grid["p"]) - grid["w"]
    # dW/dt* > 3.5e-4 kg/kg/K, so 3.5e-8 kg/kg is 1e-4 K; a root at exactly 0 degC found with eq. 35
    # (saturated air at 0 degC) reads as eq. 33 here, 6e-7 kg/kg apart
    at_zero = np.abs(got) < 1e-9
    np.testing.assert_allclose(residual[~at_zero], 0.0, atol=3.5e-8)
    np.testing.assert_allclose(residual[at_zero], 0.0, atol=1e-6)


def test_humidity_ratio_from_wet_bulb_matches_psychrolib(grid):
    t, t_wet, p = grid["t"], grid["t_wet"], grid["p"]
    expected = reference(psychrolib.GetHumRatioFromTWetBulb, t, t_wet, p)
    # PsychroLib takes W_s(t*) over ice up to 0.01 degC even in eq. 33, we over water (< 1e-6 kg/kg
    # apart)
    tight = (t_wet < 0.0) | (t_wet > 0.01)
    got = ps.humidity_ratio_from_wet_bulb(t, t_wet, p)
    np.testing.assert_allclose(got[tight], expected[tight], rtol=1e-9)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_enthalpy_matches_psychrolib_and_its_inverse(grid):
    t, w = grid["t"], grid["w"]
    h = ps.enthalpy(t, w)
    np.testing.assert_allclose(h, reference(psychrolib.GetMoistAirEnthalpy, t, w), rtol=0,
                               atol=1.0)  # J/kg
    # PsychroLib's inverse of eq. 30 gives the dry bulb back from our enthalpy
    np.testing.assert_allclose(reference(psychrolib.GetTDryBulbFromEnthalpyAndHumRatio, h, w), t,
                               rtol=0, atol=2e-9)


def test_moist_air_density_matches_psychrolib(grid):
    t, w, p = grid["t"], grid["w"], grid["p"]
    expected = reference(psychrolib.GetMoistAirDensity, t, w, p)
    np.testing.assert_allclose(ps.moist_air_density(t, w, p), expected, rtol=1e-6)


def test_state_matches_psychrolib_from_dew_point(grid):
    t, p = grid["t"], grid["p"]
    t_dew = np.minimum(grid["t_dew"], t)
    got = ps.state(t, t_dew, p)
    assert set(got) == {"humidity_ratio", "wet_bulb", "dew_point", "enthalpy", "density",
                        "relative_humidity"}
    assert all(value.shape == t.shape and value.dtype == np.float64 for value in got.values())
    expected = np.stack(np.broadcast_arrays(*(
        reference(lambda *x, i=i: psychrolib.CalcPsychrometricsFromTDewPoint(*x)[i], t, t_dew, p)
        for i in range(6))))
    w, t_wet, rh, _, h, volume = expected
    np.testing.assert_allclose(got["humidity_ratio"], w, rtol=1e-6)
    both = ice_or_liquid(t, w, p)
    np.testing.assert_allclose(got["wet_bulb"][~both], t_wet[~both], atol=0.01)
    np.testing.assert_allclose(got["dew_point"], t_dew)
    np.testing.assert_allclose(got["relative_humidity"], 100.0 * rh, rtol=1e-6)
    np.testing.assert_allclose(got["enthalpy"], h, rtol=0, atol=1.0)
    np.testing.assert_allclose(got["density"], (1.0 + w) / volume, rtol=1e-6)
    np.testing.assert_allclose(got["wet_bulb"], ps.wet_bulb(t, got["humidity_ratio"], p), atol=1e-3)


def test_wet_bulb_never_above_dry_bulb_and_equal_at_saturation():
    t, rh, p = np.meshgrid(np.linspace(-40.0, 55.0, 96), np.geomspace(0.1, 100.0, 40),
                           [50_000.0, 71_900.0, 101_325.0, 108_000.0], indexing="ij")
    w = ps.humidity_ratio_from_rh(t, rh, p)
    t_wet = ps.wet_bulb(t, w, p)
    assert np.all(t_wet <= t)
    assert np.all(t_wet >= ps.dew_point(w, p) - 1e-6)
    saturated = rh == 100.0
    np.testing.assert_allclose(t_wet[saturated], t[saturated], atol=1e-6)


def test_altitude_raises_humidity_ratio_lowers_density_and_wet_bulb():
    # same dry bulb and relative humidity at Golmud (2,800 m) and at sea level
    t, rh, p = 30.0, 30.0, np.array([GOLMUD_PA, SEA_LEVEL_PA])
    w = ps.humidity_ratio_from_rh(t, rh, p)
    density = ps.moist_air_density(t, w, p)
    t_wet = ps.wet_bulb(t, w, p)
    assert w[0] > 1.3 * w[1]  # W = 0.622 p_w / (P - p_w): same p_w, lower P
    assert density[0] < 0.75 * density[1]
    # reference/cooling.md section 8: a lower wet bulb at low pressure
    assert t_wet[0] < t_wet[1] - 0.5


def test_density_at_altitude_matches_cooling_reference_table():
    # reference/cooling.md section 8: dry air at 20 degC, 1.204 kg/m3 at sea level, 0.855 at 2,800 m
    density = ps.moist_air_density(20.0, 0.0, np.array([SEA_LEVEL_PA, GOLMUD_PA]))
    np.testing.assert_allclose(density, [1.204, 0.855], atol=0.002)
    assert density[1] / density[0] == pytest.approx(0.71, abs=0.005)
    pressures = [SEA_LEVEL_PA, GOLMUD_PA]
    moist = ps.moist_air_density(20.0, ps.humidity_ratio_from_rh(20.0, 50.0, pressures), pressures)
    assert moist[1] / moist[0] == pytest.approx(0.71, abs=0.005)


def test_scalars_and_broadcasting():
    assert ps.wet_bulb(25.0, 0.01, SEA_LEVEL_PA).shape == ()
    pressure = np.array([[60e3], [80e3], [100e3]])
    result = ps.state(np.full((3, 24), 20.0), np.linspace(-10.0, 20.0, 24), pressure)
    assert all(value.shape == (3, 24) for value in result.values())
    assert ps.state(np.empty((0, 5)), 0.0, SEA_LEVEL_PA)["wet_bulb"].shape == (0, 5)


def test_state_of_chosen_quantities():
    """``names`` picks quantities (same values as the full state); an unknown one is refused."""
    t, t_dew = np.linspace(-20.0, 45.0, 50), np.linspace(-30.0, 25.0, 50)
    full = ps.state(t, t_dew, 80e3)
    some = ps.state(t, t_dew, 80e3, names=("wet_bulb", "density"))
    assert set(some) == {"dew_point", "wet_bulb", "density"}
    for k in some:
        np.testing.assert_array_equal(some[k], full[k])
    with pytest.raises(ValueError, match="unknown state quantity wetbulb; known: humidity_ratio"):
        ps.state(t, t_dew, 80e3, names=("wetbulb",))


def test_nan_stays_in_its_element():
    t = np.array([[-20.0, 0.005, 10.0, 35.0], [45.0, -5.0, 20.0, 5.0]])
    t_dew = t - np.array([[2.0, 1.0, 15.0, 30.0], [40.0, 3.0, 0.0, 10.0]])
    p = np.array([[GOLMUD_PA], [SEA_LEVEL_PA]])
    w = ps.humidity_ratio_from_dew_point(t_dew, p)
    cases = [(ps.saturation_vapour_pressure, t), (ps.humidity_ratio_from_dew_point, t_dew, p),
             (ps.humidity_ratio_from_rh, t, 50.0 + t, p), (ps.relative_humidity, t, w, p),
             (ps.dew_point, w, p), (ps.wet_bulb, t, w, p),
             (ps.humidity_ratio_from_wet_bulb, t, t_dew, p),
             (ps.enthalpy, t, w), (ps.moist_air_density, t, w, p),
             (lambda *args: ps.state(*args)["wet_bulb"], t, t_dew, p),
             (lambda *args: ps.state(*args)["density"], t, t_dew, p)]
    for func, *args in cases:
        clean = func(*args)
        assert np.isfinite(clean).all()
        for position in range(len(args)):
            dirty_args = [np.array(np.broadcast_to(a, t.shape)) for a in args]
            dirty_args[position][0, 2] = np.nan
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # and no RuntimeWarning
                dirty = func(*dirty_args)
            assert np.isnan(dirty[0, 2]), (func, position)
            dirty[0, 2] = clean[0, 2]
            np.testing.assert_array_equal(dirty, clean, err_msg=f"{func} {position}")
    # no dry bulb: W still known from the dew point
    result = ps.state(np.where(t == 10.0, np.nan, t), t_dew, p)
    assert np.isnan(result["wet_bulb"][0, 2]) and np.isfinite(result["humidity_ratio"]).all()


def test_dew_point_above_dry_bulb_is_an_error_unless_rounding():
    with pytest.raises(ValueError, match=r"dew point above dry bulb .* in 2 element\(s\), first at "
                                         r"index \(1,\): temp_dew 31\.00 degC > temp_air "
                                         r"30\.00 degC"):
        ps.state([20.0, 30.0, 10.0, 5.0], [10.0, 31.0, 10.5, 5.0], SEA_LEVEL_PA)
    rounded = ps.state(30.0, 30.04, SEA_LEVEL_PA)  # weather-file rounding: clipped to the dry bulb
    assert rounded["dew_point"] == 30.0
    assert rounded["relative_humidity"] == pytest.approx(100.0, abs=1e-9)
    assert rounded["wet_bulb"] == pytest.approx(30.0, abs=1e-6)
    lenient = ps.state(1.5, 1.6, SEA_LEVEL_PA, dew_above_dry_tolerance_k=0.5)
    assert lenient["dew_point"] == 1.5
