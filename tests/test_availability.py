"""Availability for schedulers (twin.facility load curves, simulate's availability step): the
inverted facility model against brute force, monotonicity, the battery policy, headroom after a
committed load, the linear form facility ~= a + b IT, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from sites import get_site
from tests.conftest import EPW_FILES, needs_shared, with_settings
from twin.cooling import CoolingArrays
from twin.facility import (
    LOAD_LEVELS,
    Facility,
    available_it_power,
    invert_and_fit,
    linear_form,
)
from twin.it_load import ITArrays
from twin.simulate import simulate

HOURS = 72  # three summer days


@pytest.fixture(scope="module")
def small():
    """An air-cooled and a liquid-cooled site on three July days of synthetic weather."""
    air = get_site("turpan")
    liquid = with_settings(get_site("hami"), "cooling", topology="liquid_dry_cooler")
    liquid = liquid.model_copy(update={"id": "hami_liquid"})
    sites = [air, liquid]
    wx = {s.id: s.weather(year=2025, seed=2).sel(time=slice("2025-07-10", None))
          .isel(time=slice(0, HOURS)) for s in sites}
    return sites, wx, simulate(wx, sites, battery_policy="none")


def facility_model(sites, wx, ds):
    """The facility model of ``sites`` on their weather ``wx`` over the hours of ``ds`` and the
    setpoints its run chose."""
    arrays = {v: np.stack([wx[s.id][v].values for s in sites]) for v in
              ("temp_air", "temp_dew", "pressure")}
    model = Facility(CoolingArrays.from_configs([s.cooling for s in sites]),
                     ITArrays.from_configs([s.it for s in sites], [s.id for s in sites]),
                     ds["time"].values, arrays, np.array([s.altitude_m for s in sites]))
    _, setpoints = model.run()
    return model, setpoints


def brute_force(sites, wx, ds, steps=2001):
    """Largest IT power with facility power <= renewable power, every site-hour, by evaluating the
    facility at ``steps`` utilisations from 0 to 1 (the run's setpoints), at most the site's IT
    capacity (what can be scheduled there)."""
    model, setpoints = facility_model(sites, wx, ds)
    supply = ds["renewable_power"].values
    best = np.zeros(supply.shape)
    for u in np.linspace(0.0, 1.0, steps):
        out = model.evaluate(*setpoints, utilisation=u)
        it = np.broadcast_to(out["it_power"], supply.shape)
        best = np.where(out["facility_power"] <= supply, np.maximum(best, it), best)
    return np.minimum(best, np.array([s.it.capacity_w for s in sites])[:, None])


def test_available_it_power_matches_brute_force(small):
    """Interpolating four levels of each hour's load curve finds the IT power that brute force
    over 2,001 utilisations finds, within 0.5 % of the IT capacity (the curve bends slightly
    between levels: fans go with the cube of airflow, UPS losses with the square of load)."""
    sites, wx, ds = small
    expected = brute_force(sites, wx, ds)
    got = ds["it_available_power"].values
    capacity = np.array([s.it.capacity_w for s in sites])[:, None]
    error = np.abs(got - expected) / capacity
    assert error.max() < 0.005, f"largest error {error.max():.2%} of capacity"
    carried = (expected > 0) & (expected < np.nanmax(expected, axis=1, keepdims=True))
    assert carried.any() and (expected == 0).any(), "the days should span none to full"


def test_what_is_available_is_carried(small):
    """Facility power at the available IT power (evaluated directly) does not exceed the supply
    by more than the interpolation tolerance."""
    sites, wx, ds = small
    model, setpoints = facility_model(sites, wx, ds)
    it_full = model.evaluate(*setpoints, utilisation=1.0)["it_power"]
    available = ds["it_available_power"].values
    # the utilisation giving the available IT power, read off the curve by bisection
    low, high = np.zeros(available.shape), np.ones(available.shape)
    for _ in range(40):
        mid = (low + high) / 2
        it = np.broadcast_to(model.evaluate(*setpoints, utilisation=mid)["it_power"],
                             available.shape)
        low, high = np.where(it < available, mid, low), np.where(it < available, high, mid)
    on = available > 0
    facility = model.evaluate(*setpoints, utilisation=high)["facility_power"]
    capacity = np.array([s.it.capacity_w for s in sites])[:, None] * np.ones(available.shape)
    supply = ds["renewable_power"].values
    assert (facility[on] <= supply[on] + 0.005 * capacity[on]).all()
    assert (available <= np.broadcast_to(it_full, available.shape) + 1e-6).all()


def test_more_supply_never_means_less_available(small):
    _, _, ds = small
    assert "load_curve_it_power" not in ds, "load curves are internal, not in the Dataset"
    supply = ds["renewable_power"].values
    rng = np.random.default_rng(0)
    levels = np.sort(rng.uniform(0.0, 1.0, 6))
    it = np.broadcast_to(levels, supply.shape + (6,)) * 3e6
    facility = 1e5 + 1.15 * it + 1e-8 * it ** 2
    a = available_it_power(supply, it, facility)
    b = available_it_power(supply * 1.1, it, facility)
    assert (b >= a).all()
    # exact on a straight curve: the inverse of facility = 1e5 + 1.15 IT
    straight = available_it_power(np.array([[1e5 + 1.15 * 1e6]]), np.array([[[0, 2e6, 3e6]]]),
                                  1e5 + 1.15 * np.array([[[0, 2e6, 3e6]]]))
    assert straight[0, 0] == pytest.approx(1e6)


def test_battery_policy_adds_what_the_battery_can_deliver(small):
    sites, wx, none = small
    with_battery = simulate(wx, sites, battery_policy="balance")
    more = with_battery["it_available_power"] - none["it_available_power"]
    assert (more >= -1e-6).all() and (more > 0).any()
    assert with_battery["it_available_power"].attrs["battery_policy"] == "balance"


def test_headroom_is_available_minus_committed_never_negative(small):
    sites, wx, ds = small
    committed = np.full((len(sites), HOURS), 1.0e6)
    run = simulate(wx, sites, it_committed_power=committed)
    expected = np.maximum(ds["it_available_power"].values - 1.0e6, 0.0)
    np.testing.assert_allclose(run["it_headroom"].values, expected)
    assert (run["it_headroom"] == 0).any() and (run["it_headroom"] > 0).any()


@pytest.mark.parametrize("committed, message", [
    (np.full((2, HOURS), -1.0), "must be a power >= 0"),
    (np.full((2, HOURS), np.inf), "must be a power >= 0 \\[W\\], finite"),
    (np.full((2, HOURS - 1), 1.0), "expected \\(site, time\\)"),
])
def test_bad_committed_load_is_refused(small, committed, message):
    sites, wx, _ = small
    with pytest.raises(ValueError, match=message):
        simulate(wx, sites, it_committed_power=committed)


def test_linear_form_within_its_reported_error(small):
    """a + b IT reproduces the facility power at the run's own IT load within the reported
    maximum error (plus 0.5 % for points between levels); the marginal PUE of a facility is at
    least 1: every extra watt of IT is a watt of facility power and some cooling."""
    _, _, ds = small
    linear = ds["facility_power_intercept"] + ds["marginal_pue"] * ds["it_power"]
    error = np.abs(linear - ds["facility_power"])
    assert (error <= ds["facility_linear_max_error"] + 0.005 * ds["facility_power"]).all()
    assert (ds["marginal_pue"] >= 1.0).all() and (ds["marginal_pue"] < 2.0).all()
    assert (ds["facility_linear_max_error"] < 0.03 * ds["facility_power"].max("time")).all()


def test_unknown_step_or_policy_is_refused(small):
    sites, wx, _ = small
    with pytest.raises(ValueError, match="unknown step 'cooling'; known: generation"):
        simulate(wx, sites, until="cooling")
    with pytest.raises(ValueError, match="unknown battery_policy 'grid'; known: none, balance"):
        simulate(wx, sites, battery_policy="grid")
    generation_only = simulate(wx, sites, until="generation")
    assert "facility_power" not in generation_only and "pv_power" in generation_only


# designs whose load curves are checked hour by hour: every topology and air path, both
# dry-cooler fan stagings, the optimised control (setpoints varying by hour) and filters loading
# with dust (pm10)
DESIGNS = {
    "chilled_water": dict(topology="chilled_water"),
    "indirect_air": dict(topology="airside_economizer", air_path="indirect"),
    "direct_air_dust": dict(topology="airside_economizer", air_path="direct"),
    "liquid": dict(topology="liquid_dry_cooler"),
    "liquid_least_water": dict(topology="liquid_dry_cooler", dry_cooler_staging="least_water",
                               dry_cooler_max_air_flow_ratio=1.6),
    "optimised_air": dict(topology="airside_economizer", air_path="direct",
                          control="optimised"),
    "optimised_liquid": dict(topology="liquid_dry_cooler", control="optimised"),
}


@needs_shared
def test_load_curves_equal_evaluations_hour_by_hour():
    """The load curves (setpoint state shared by the levels, IT power computed once per site
    at a constant utilisation) equal full evaluations at a (site, time) utilisation, where IT
    power is computed every hour: relative difference <= 1e-12, on two EPW years (Golmud,
    Hohhot) and every design of DESIGNS."""
    import weather

    files = [f for f in EPW_FILES if "Golmud" in f.name or "Hohhot" in f.name]
    years = [weather.read_epw(f, year=2019) for f in files]
    base = [get_site("golmud"), get_site("hohhot")]
    sites, wx = [], []
    for k, (name, update) in enumerate(DESIGNS.items()):
        sites.append(with_settings(base[k % 2], "cooling", **update)
                     .model_copy(update={"id": name}))
        wx.append(years[k % len(years)])
    arrays = {v: np.stack([w[v].values for w in wx]) for v in
              ("temp_air", "temp_dew", "pressure")}
    hours = arrays["temp_air"].shape[1]
    arrays["pm10"] = np.where(np.arange(hours) % 500 < 40, 900.0, 60.0) * np.ones((len(sites), 1))
    model = Facility(CoolingArrays.from_configs([s.cooling for s in sites]),
                     ITArrays.from_configs([s.it for s in sites], [s.id for s in sites]),
                     wx[0]["time"].values, arrays, np.array([s.altitude_m for s in sites]))
    _, setpoints = model.run()
    curves = model.load_curves(setpoints)
    for j, level in enumerate(LOAD_LEVELS):
        full = model.evaluate(*setpoints, utilisation=np.full(arrays["pm10"].shape, level))
        for key in ("it_power", "facility_power"):
            np.testing.assert_allclose(curves[f"load_curve_{key}"][..., j], full[key],
                                       rtol=1e-12, atol=0, err_msg=f"{key} at {level:g}")


def test_inversion_and_linear_form_against_numpy():
    """invert_and_fit (compiled) against numpy's own interpolation and least-squares line,
    hour by hour, on random rising load curves with supply below, inside and above them and
    NaN supply or curve points: available IT power within 1e-9 W, line within 1e-9."""
    rng = np.random.default_rng(7)
    n, k = 400, 4
    it = np.cumsum(rng.uniform(0.5e6, 1.5e6, (n, k)), axis=1)
    facility = 2e5 + it * rng.uniform(1.05, 1.4, (n, 1)) + 3e-8 * it ** 2
    supply = rng.uniform(0.0, facility[:, -1] * 1.2)
    supply[:5] = facility[:5, 0]  # exactly the idle draw
    supply[5], facility[6, 2] = np.nan, np.nan
    available, intercept, slope, error = invert_and_fit(supply, it, facility)
    for i in range(n):
        if i in (5, 6):
            assert np.isnan(available[i])
            continue
        expected = 0.0 if supply[i] < facility[i, 0] else np.interp(supply[i], facility[i], it[i])
        assert available[i] == pytest.approx(expected, abs=1e-9)
        b, a = np.polyfit(it[i], facility[i], 1)
        assert (intercept[i], slope[i]) == pytest.approx((a, b), rel=1e-9)
        assert error[i] == pytest.approx(np.abs(facility[i] - (a + b * it[i])).max(), abs=1e-6)
    assert np.isnan(error[6]) and not np.isnan(error[5])
    np.testing.assert_array_equal(available_it_power(supply, it, facility), available)
    np.testing.assert_array_equal(linear_form(it, facility)[1], slope)


def test_inversion_reads_views_as_their_copies():
    """invert_and_fit reads the load curves with their strides (the simulation passes the IT
    curve broadcast over the hours and the levels' axis moved last, uncopied): on such views,
    of (site, hour, level) and of one site's (hour, level), it gives exactly what it gives on
    C-contiguous copies of them."""
    rng = np.random.default_rng(11)
    sites, hours, k = 3, 50, 4
    it = np.cumsum(rng.uniform(0.5e6, 1.5e6, (k, sites, 1)), axis=0)  # levels first, per site
    facility = (2e5 + it * rng.uniform(1.05, 1.4, (1, sites, hours))
                + 3e-8 * it ** 2 * rng.uniform(0.9, 1.1, (k, sites, hours)))
    supply = rng.uniform(0.0, facility[-1] * 1.2)
    views = np.moveaxis(np.broadcast_to(it, facility.shape), 0, -1), np.moveaxis(facility, 0, -1)
    assert not any(v.flags.c_contiguous for v in views)
    for rows in (slice(None), 1):
        strided = invert_and_fit(supply[rows], *(v[rows] for v in views))
        copied = invert_and_fit(supply[rows], *(np.ascontiguousarray(v[rows]) for v in views))
        for a, b in zip(strided, copied, strict=True):
            assert a.shape == supply[rows].shape
            np.testing.assert_array_equal(a, b)
        # hours with the supply inside the curves, where the levels' strides matter
        assert np.any((strided[0] > 0) & (strided[0] < views[0][rows][..., -1]))
