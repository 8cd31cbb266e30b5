"""The facility model (twin.facility, twin.cooling) through simulate(): energy balance and PUE
invariants for every topology, monotonicity in dry bulb, water-free dry plants, altitude, dust,
the optimised control, the climate ordering of the catalog's designs on real weather, errors and
the Dataset's CF attributes.

Weather is either the catalog's synthetic year or hand-built from a synthetic year's structure with
temp_air / temp_dew / pressure (and pm10) overwritten, so the climate is known exactly."""

from __future__ import annotations

import dataclasses
import importlib
from types import SimpleNamespace

import numpy as np
import pytest

import weather
from sites import CoolingConfig, SiteError, get_site, load_site
from tests.conftest import SHARED_WEATHER, hami_data, needs_shared, with_settings, write_site
from twin import cooling
from twin.cooling import ECONOMIZER, EVAPORATIVE, MECHANICAL, MODES, CoolingArrays
from twin.facility import RECOMMENDED_DEGC, Facility, facility_summary
from twin.it_load import ITArrays
from twin.model_names import AIR_PATHS, ASHRAE_CLASSES, COOLING_CONTROLS, COOLING_TOPOLOGIES
from twin.psychrometrics import saturation_vapour_pressure
from twin.simulate import simulate

TOPOLOGIES = {  # variant name -> cooling settings
    "direct": {"topology": "airside_economizer", "air_path": "direct"},
    "indirect": {"topology": "airside_economizer", "air_path": "indirect"},
    "chilled": {"topology": "chilled_water"},
    "liquid": {"topology": "liquid_dry_cooler"},
}
# a day of a training cluster with a quiet night (China Standard Time hours 0-23)
DAILY_PROFILE = [0.3] * 7 + [0.95] * 13 + [0.55] * 4
SEA_LEVEL_PA, ALTITUDE_PA = 101_325.0, 71_900.0  # 2,800 m: reference/cooling.md section 8


# --- helpers -------------------------------------------------------------------------------------

def variant(site, name: str, **cooling_update):
    """A copy of ``site`` under its own id with cooling settings replaced."""
    new = with_settings(site, "cooling", **cooling_update)
    return new.model_copy(update={"id": f"{site.id}_{name}", "name": f"{site.name} {name}"})


def variants(site, **common):
    """One copy of ``site`` per topology (dict id -> Site), with ``common`` cooling settings."""
    out = [variant(site, name, **{**spec, **common}) for name, spec in TOPOLOGIES.items()]
    return {s.id: s for s in out}


def hand_weather(template, temp_air, temp_dew, pressure):
    """A weather Dataset with ``template``'s structure over ``len(temp_air)`` hours and the given
    dry bulb, dew point [degC] and pressure [Pa] (scalars broadcast); relative humidity made
    consistent with them."""
    temp_air = np.asarray(temp_air, dtype=float)
    n = temp_air.size
    ds = template.isel(time=slice(0, n)).copy(deep=True)
    temp_dew = np.broadcast_to(np.asarray(temp_dew, dtype=float), (n,))
    ds["temp_air"] = ("time", temp_air, ds["temp_air"].attrs)
    ds["temp_dew"] = ("time", np.array(temp_dew), ds["temp_dew"].attrs)
    pressure = np.broadcast_to(np.asarray(pressure, dtype=float), (n,))
    ds["pressure"] = ("time", np.array(pressure), ds["pressure"].attrs)
    rh = 100.0 * saturation_vapour_pressure(temp_dew) / saturation_vapour_pressure(temp_air)
    ds["relative_humidity"] = ("time", rh, ds["relative_humidity"].attrs)
    return ds


def row(ds, site_id, var):
    return ds[var].sel(site=site_id).to_numpy()


@pytest.fixture(scope="module")
def template(golmud_site):
    return golmud_site.weather(year=2025, seed=1)


# --- 1. invariants of every topology over a synthetic year ---------------------------------------

@pytest.fixture(scope="module")
def year_run():
    """Every topology, wet and dry, on a hot dry (Turpan) and a hot humid (Wuhu) synthetic year,
    with a varying daily utilisation; one simulate call."""
    sites, wx = {}, {}
    for sid in ("turpan", "wuhu"):
        base = with_settings(get_site(sid), "it", utilisation=DAILY_PROFILE)
        year = base.weather(year=2025, seed=1)
        for assist in (True, False):
            for s in variants(base, evaporative_assist=assist).values():
                s = s.model_copy(update={"id": f"{s.id}_{'wet' if assist else 'dry'}"})
                sites[s.id], wx[s.id] = s, year
    return simulate(wx, sites)


def test_invariants_every_topology_every_hour(year_run):
    """PUE >= 1; facility = IT + electrical losses + cooling, and cooling = cooling fans + pumps +
    mechanical cooling, every hour: these are exactly the parts Facility.evaluate sums
    (``cooling_fan_power`` holds the air-handler, IEC secondary, dry-cooler and tower fans, the IEC
    secondary pump included there with them; ``facility = it + losses + cooling``)."""
    ds = year_run
    assert ds.sizes["time"] == 8760 and ds.sizes["site"] == 16
    for sid in ds["site"].values:
        it, fac, pue = (row(ds, sid, v) for v in ("it_power", "facility_power", "pue"))
        losses, cool = row(ds, sid, "electrical_losses"), row(ds, sid, "cooling_power")
        fans, pumps = row(ds, sid, "cooling_fan_power"), row(ds, sid, "cooling_pump_power")
        mech = row(ds, sid, "mechanical_cooling_power")
        assert np.isfinite(fac).all() and (it > 0).all(), sid
        assert (pue >= 1.0).all(), f"{sid}: PUE below 1 at {np.flatnonzero(pue < 1)[:5]}"
        np.testing.assert_allclose(pue, fac / it, rtol=1e-12, err_msg=sid)
        np.testing.assert_allclose(fac, it + losses + cool, rtol=1e-9, err_msg=sid)
        np.testing.assert_allclose(cool, fans + pumps + mech, rtol=1e-9, err_msg=sid)
        for name, part in (("losses", losses), ("fans", fans), ("pumps", pumps), ("mech", mech),
                           ("water", row(ds, sid, "water_use"))):
            assert (part >= 0).all(), f"{sid}: negative {name}"
        assert np.isin(row(ds, sid, "cooling_mode"), range(len(MODES))).all()
        # baseline control: the baseline columns are the result itself
        np.testing.assert_array_equal(row(ds, sid, "facility_power_baseline"), fac)
    # the year exercises more than free cooling: trim or mechanical cooling somewhere in each
    # climate, free cooling (economiser) somewhere too
    modes = ds["cooling_mode"].to_numpy()
    assert (modes == ECONOMIZER).any() and (modes >= 2).any()


def test_site_blocks_give_the_one_pass_result(monkeypatch, template):
    """simulate() runs generation, the facility, balance and availability on blocks of sites
    (twin.simulate.by_site_block): one site per block, all sites in one block, and blocks of
    two or three sites, on one thread or several, give the same numbers, with mixed
    topologies, each site's own weather (one with a missing hour), a user's hourly utilisation
    and committed IT power that differ between sites, and the battery counted in the
    availability."""
    module = importlib.import_module("twin.simulate")  # twin.simulate is also the function
    base = get_site("turpan")
    sites = {**variants(base), **variants(base, control="optimised",
                                           evaporative_assist=False)}
    sites = {f"{k}_{i}": s.model_copy(update={"id": f"{k}_{i}"})
             for i, (k, s) in enumerate(sites.items())}
    hours = 24 * 14
    rng = np.random.default_rng(3)
    wx = {}  # each site its own weather (hours of another season), one with a missing hour
    for i, k in enumerate(sites):
        wx[k] = template.isel(time=slice(0, hours)).copy(deep=True)
        for v in ("temp_air", "temp_dew", "ghi", "wind_speed"):
            wx[k][v].values[:] = template[v].values[i * 500:i * 500 + hours]
    wx[list(sites)[1]]["temp_air"].values[30] = np.nan
    utilisation = rng.uniform(0.2, 1.0, (len(sites), hours))
    committed = rng.uniform(0.0, 20e6, (len(sites), hours))
    runs = []
    for block, threads in ((10**9, 1), (1, 1), (1, 3), (3 * hours, 1), (2 * hours, 2)):
        monkeypatch.setattr(module, "BLOCK_ELEMENTS", block)
        runs.append(simulate(wx, list(sites.values()), utilisation=utilisation,
                             wind_scaling="none", battery_policy="balance",
                             it_committed_power=committed, allow_missing=True,
                             threads=threads))
    together = runs[0]
    for blocks in runs[1:]:
        for v in together.data_vars:
            np.testing.assert_array_equal(blocks[v].values, together[v].values, err_msg=v)
    known = np.ones(utilisation.shape, dtype=bool)
    known[1, 30] = False  # the missing hour: NaN in every facility output
    assert together["utilisation"].values[known] == pytest.approx(utilisation[known])
    for v in ("utilisation", "facility_power", "it_available_power"):
        assert np.isfinite(together[v].values).tolist() == known.tolist(), v


def test_annual_pue_is_energy_weighted(year_run):
    """Annual PUE = sum of facility energy / sum of IT energy (reference section 1), not the mean of
    hourly PUE, which differs when the IT load varies over the day."""
    ds = year_run
    summary = facility_summary(ds)
    for sid in ds["site"].values:
        it, fac = row(ds, sid, "it_power"), row(ds, sid, "facility_power")
        assert it.std() / it.mean() > 0.1, "the daily profile should make the IT load vary"
        weighted = fac.sum() / it.sum()
        assert summary.loc[sid, "pue"] == pytest.approx(weighted, rel=1e-12)
        assert summary.loc[sid, "it_energy_wh"] == pytest.approx(it.sum(), rel=1e-12)
        assert abs(row(ds, sid, "pue").mean() - weighted) > 1e-4, sid
        assert summary.loc[sid, "wue_l_per_kwh"] == pytest.approx(
            row(ds, sid, "water_use").sum() / (it.sum() / 1000.0), rel=1e-12)
        n_modes = sum(summary.loc[sid, f"hours_{m}"] for m in MODES)
        assert n_modes == ds.sizes["time"]


# --- 2. monotonic in dry bulb at fixed humidity ratio --------------------------------------------

SWEEP_TOP_DEGC, SWEEP_STEP_K = 45.0, 0.5


@pytest.mark.parametrize("pressure", [SEA_LEVEL_PA, ALTITUDE_PA])
@pytest.mark.parametrize("assist", [True, False], ids=["wet", "dry"])
@pytest.mark.parametrize("dew, start", [(-25.0, -20.0), (-5.0, -5.0), (12.0, 12.0)],
                         ids=["dew-25", "dew-5", "dew12"])
def test_facility_power_never_falls_as_dry_bulb_rises(golmud_site, template, pressure, assist,
                                                      dew, start):
    """Dry bulb from ``start`` to 45 degC in 0.5 K steps at a constant dew point (a fixed humidity
    ratio; the sweep starts at the dew point, as air cannot be colder than its dew point: a dew
    point of -25 degC covers -20..45, -5 and 12 degC drier and more humid air over the warm part)
    and fixed pressure, constant utilisation and baseline setpoints: facility power must not fall
    as it gets warmer, for every topology. Filters are neutralised (final = clean pressure drop):
    they age along the time axis, which here is also the temperature axis, and would add a rise of
    their own that could hide a fall; the test is about the weather only."""
    temps = np.arange(start, SWEEP_TOP_DEGC + 1e-9, SWEEP_STEP_K)
    base = with_settings(golmud_site, "it", utilisation=0.7)
    sites = variants(base, evaporative_assist=assist, filter_final_pa=base.cooling.filter_clean_pa)
    wx = hand_weather(template, temps, dew, pressure)
    ds = simulate({i: wx for i in sites}, sites)
    failures = []
    for sid in sites:
        power = row(ds, sid, "facility_power")
        step = np.diff(power)
        bad = np.flatnonzero(step < -1e-6 * power[1:])
        if bad.size:
            k = bad[0]
            mode = row(ds, sid, "cooling_mode")
            failures.append(
                f"{sid}: facility power falls {-step[k]:.0f} W ({-step[k] / power[k]:.2%}) from "
                f"{temps[k]} to {temps[k + 1]} degC (mode {MODES[mode[k]]} -> "
                f"{MODES[mode[k + 1]]}); {bad.size} falls in all")
    assert not failures, "\n".join(failures)


# --- 3. dry plants use no water ------------------------------------------------------------------

@pytest.fixture(scope="module")
def hot_dry():
    """A hot dry desert synthetic year (Turpan)."""
    site = get_site("turpan")
    return site, site.weather(year=2025, seed=1)


def test_dry_topologies_use_no_water(hot_dry):
    site, wx = hot_dry
    sites = {s.id: s for s in (
        variant(site, "liquid_dry", topology="liquid_dry_cooler", evaporative_assist=False),
        variant(site, "liquid_wet", topology="liquid_dry_cooler", evaporative_assist=True),
        variant(site, "iec_dry", topology="airside_economizer", air_path="indirect",
                evaporative_assist=False),
        variant(site, "iec_wet", topology="airside_economizer", air_path="indirect",
                evaporative_assist=True))}
    ds = simulate({i: wx for i in sites}, sites)
    assert (row(ds, "turpan_liquid_dry", "water_use") == 0).all()
    assert (row(ds, "turpan_iec_dry", "water_use") == 0).all()
    # the same plants with evaporative assist in the same hot dry year do use water, in the hours
    # when dry cooling alone is not enough
    for wet in ("turpan_liquid_wet", "turpan_iec_wet"):
        water = row(ds, wet, "water_use")
        assert (water > 0).sum() > 100, wet
        assert (water[row(ds, wet, "cooling_mode") == ECONOMIZER] == 0).all(), wet
    # the dry cooler's spray hours are warm ones
    temp = row(ds, "turpan_liquid_wet", "temp_air")
    assert temp[row(ds, "turpan_liquid_wet", "water_use") > 0].min() > np.median(temp)


# --- 4. altitude ---------------------------------------------------------------------------------

@pytest.mark.parametrize("assist", [True, False], ids=["wet", "dry"])
def test_fan_power_per_watt_of_heat_higher_at_altitude(golmud_site, template, assist):
    """Same site, dry bulb and dew point at 71.9 kPa (2,800 m) and 101.3 kPa: air is 0.71 times as
    dense, the same heat needs 1.41 times the air volume and, through fixed ducts, about twice the
    fan power (reference section 8). Indirect airside economiser, hours in the same mode; the
    air-cooled heat is IT power plus electrical losses (no liquid path)."""
    base = variant(with_settings(golmud_site, "it", utilisation=0.7), "iec",
                   topology="airside_economizer", air_path="indirect", evaporative_assist=assist,
                   filter_final_pa=golmud_site.cooling.filter_clean_pa)
    high, low = (base.model_copy(update={"id": f"{base.id}_{k}"}) for k in ("high", "sea"))
    temps = np.arange(-15.0, 42.0 + 1e-9, 0.5)
    ds = simulate({high.id: hand_weather(template, temps, -20.0, ALTITUDE_PA),
                   low.id: hand_weather(template, temps, -20.0, SEA_LEVEL_PA)}, [high, low])

    def per_watt(sid):
        heat = row(ds, sid, "it_power") + row(ds, sid, "electrical_losses")
        return row(ds, sid, "cooling_fan_power") / heat

    same = row(ds, high.id, "cooling_mode") == row(ds, low.id, "cooling_mode")
    assert same.sum() > 0.8 * temps.size
    ratio = (per_watt(high.id) / per_watt(low.id))[same]
    assert ((ratio >= 1.3) & (ratio <= 2.2)).all(), (ratio.min(), ratio.max())
    # the air handler alone (no IEC secondary fans: mechanical hours, dry plant) follows the fan
    # laws, m^3 / rho^2 at equal mass flow: (101.3 / 71.9)^2 = 1.99
    mech = same & (row(ds, high.id, "cooling_mode") == MECHANICAL)
    if not assist:
        assert mech.any()
    expected = (SEA_LEVEL_PA / ALTITUDE_PA) ** 2
    mech_ratio = (per_watt(high.id) / per_watt(low.id))[mech]
    np.testing.assert_allclose(mech_ratio, expected, rtol=0.03)


# --- 5. dust -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dusty_month(golmud_site, template):
    """A direct airside economiser in a cold month (January, Golmud synthetic weather, much
    outside-air cooling) with and without PM10: a dusty background of 300 ug m-3 and two storms of
    900 ug m-3, above the 500 ug m-3 lockout."""
    site = variant(golmud_site, "direct", topology="airside_economizer", air_path="direct")
    hours = 24 * 31
    wx = template.isel(time=slice(0, hours)).copy(deep=True)
    pm10 = np.full(hours, 300.0)
    pm10[100:160] = 900.0
    pm10[400:430] = 900.0
    wx_dust = wx.copy(deep=True)
    wx_dust["pm10"] = ("time", pm10)
    return site, pm10, simulate(wx_dust, site), simulate(wx, site)


def test_dust_locks_out_outside_air(dusty_month):
    site, pm10, dust, clean = dusty_month
    locked = pm10 > site.cooling.pm10_lockout_ug_m3
    mode, mode_clean = row(dust, site.id, "cooling_mode"), row(clean, site.id, "cooling_mode")
    # without dust those hours would have used outside air: the test means something
    assert np.isin(mode_clean[locked], (ECONOMIZER, EVAPORATIVE)).sum() > 0.5 * locked.sum()
    assert not np.isin(mode[locked], (ECONOMIZER, EVAPORATIVE)).any()
    # below the lockout, dust does not change the mode
    np.testing.assert_array_equal(mode[~locked], mode_clean[~locked])


def test_dust_loads_filters_and_raises_fan_power(dusty_month):
    """The filters fill with the dust of the outside air they pass: in a dusty month the air-handler
    fans draw more than in the same month without PM10, whose filters only age with time. Until a
    dust-triggered change (the filter_pressure tests cover changes), the dusty filters are at least
    as loaded as the ageing ones every hour, and the gap grows."""
    site, _, dust, clean = dusty_month
    fans, fans_clean = row(dust, site.id, "cooling_fan_power"), row(clean, site.id,
                                                                     "cooling_fan_power")
    assert fans.mean() > 1.02 * fans_clean.mean()
    # a change shows as a drop by the filters' share of the pressure (up to 150 of 750 Pa); the
    # clean fans move only with the air density (pressure and humidity of the hour), well under 5 %
    assert not (np.diff(fans_clean) < -0.05 * fans_clean[1:]).any()
    drops = np.flatnonzero(np.diff(fans) < -0.05 * fans[1:])
    before = slice(0, drops[0] + 1 if drops.size else fans.size)
    assert (fans[before] >= fans_clean[before] * (1 - 1e-12)).all()
    gap = (fans - fans_clean)[before]
    assert gap[-24:].mean() > gap[:24].mean() + 0.01 * fans_clean.mean()


def _filter_config(change_days=10.0, clean=100.0, final=250.0, capacity=0.5):
    def col(x):  # a (site, 1) column
        return np.array([[float(x)]])

    return SimpleNamespace(filter_change_days=col(change_days), filter_clean_pa=col(clean),
                           filter_final_pa=col(final), filter_dust_capacity_kg_per_m2=col(capacity))


def _resets(p):
    return np.flatnonzero(np.diff(p) < 0) + 1  # first hour on fresh filters


def test_filter_pressure_ages_and_resets_on_schedule():
    c = _filter_config(change_days=10.0)
    design = 50.0  # kg s-1
    p = cooling.filter_pressure(c, np.full((1, 1000), design), design)[0]
    assert p[0] == pytest.approx(100.0)
    assert (p >= 100.0).all() and (p <= 250.0).all()
    np.testing.assert_array_equal(_resets(p), [240, 480, 720, 960])
    for start, end in zip([0, 240, 480, 720], [240, 480, 720, 960], strict=True):
        assert (np.diff(p[start:end]) > 0).all()  # rises between changes
        assert p[start] == pytest.approx(100.0) and p[end - 1] > 249.0


def test_filters_changed_more_often_than_hourly_are_clean_every_hour():
    """filter_change_days may be any positive number; one under half an hour rounded to 0 hours,
    and the filters were then never changed: final pressure from the second hour on. They are
    changed every hour instead: clean, or with PM10 holding no more than one hour's dust."""
    c = _filter_config(change_days=0.01)
    design = 50.0
    ageing = cooling.filter_pressure(c, np.full((1, 48), design), design)[0]
    np.testing.assert_array_equal(ageing, 100.0)
    dusty = cooling.filter_pressure(c, np.full((1, 48), design), design, np.full((1, 48), 50.0))
    np.testing.assert_array_equal(dusty, dusty[0, 0])
    assert 100.0 < dusty[0, 0] < 100.2


def test_filter_pressure_without_pm10_is_the_compiled_loops_ageing():
    """Without PM10 no dust reaches the filters: filter_pressure then gives each hour's age over
    the interval directly; the compiled loop (_filters_into, run with PM10 0) agrees bit for
    bit, at every load, for intervals of 1, 7.5 and 90 days (180 h, a year not a multiple)."""
    c = SimpleNamespace(**{k: np.repeat(v, 3, axis=0) for k, v in vars(_filter_config()).items()})
    c.filter_change_days = np.array([[1.0], [7.5], [90.0]])
    outside = np.full((2, 3, 8760), 40.0)
    ageing = cooling.filter_pressure(c, outside, 50.0)
    looped = cooling.filter_pressure(c, outside, 50.0, np.zeros((3, 8760)))
    np.testing.assert_array_equal(ageing, looped)
    np.testing.assert_array_equal(_resets(ageing[0, 1]), np.arange(180, 8760, 180))


def test_filter_pressure_fills_with_dust_at_the_captured_mass_rate():
    """At design flow through the filters and 1,000 ug m-3, MERV 13 filters (85 % capture, 2.5 m/s
    face velocity, 0.5 kg m-2 capacity, reference 9.1) are full after capacity / captured mass per
    face area and hour; they reach the final pressure drop then and are changed."""
    c = _filter_config(change_days=90.0)
    design, pm10 = 50.0, 1000.0
    face_m2 = design / cooling.RHO_AIR_DESIGN / 2.5
    captured_kg_per_h = 0.85 * pm10 * 1e-9 * design / cooling.RHO_AIR_DESIGN * 3600.0
    hours_to_full = 0.5 * face_m2 / captured_kg_per_h
    p = cooling.filter_pressure(c, np.full((1, 600), design), design, np.full((1, 600), pm10))[0]
    resets = _resets(p)
    assert len(resets) >= 5
    spacing = np.diff(np.concatenate([[0], resets]))
    assert np.all(np.abs(spacing - hours_to_full) <= 1.0), (spacing, hours_to_full)
    assert (p >= 100.0).all() and (p <= 250.0).all()
    assert p[resets - 1] == pytest.approx(250.0)  # full before each change
    # no outside air through the filters: no dust, only ageing
    still = cooling.filter_pressure(c, np.zeros((1, 600)), design, np.full((1, 600), pm10))[0]
    assert _resets(still).size == 0 and (np.diff(still) > 0).all()
    # final = clean: no pressure rise at all
    flat = cooling.filter_pressure(_filter_config(final=100.0), np.full((1, 600), design), design,
                                   np.full((1, 600), pm10))[0]
    assert (flat == 100.0).all()


# --- 6. optimised control ------------------------------------------------------------------------

def test_plants_reuse_their_weather_terms_only_at_the_same_state(hot_dry, monkeypatch):
    """Facility._by_plant keeps each plant's rows of a state, and the terms its plant derives from
    the weather alone (the indirect side's wetted secondary air, ageing filters), for the next
    evaluation at the same state: the load curves', the optimised control's candidates. Every
    output, baseline and optimised, every topology mixed in one run, is bit for bit what the
    plants give when every evaluation computes them afresh."""
    from twin import facility

    site, wx = hot_dry
    sites = {**variants(site), **{f"{k}_opt": s.model_copy(update={"id": f"{k}_opt"})
                                  for k, s in variants(site, control="optimised").items()}}
    kept = simulate({i: wx for i in sites}, sites)

    def afresh(self, o):
        return [({k: v[rows] for k, v in o.items()}, None) for _, rows, _ in self.plants]

    monkeypatch.setattr(facility.Facility, "_by_plant", afresh)
    fresh = simulate({i: wx for i in sites}, sites)
    for name, v in fresh.data_vars.items():
        np.testing.assert_array_equal(kept[name].values, v.values, err_msg=name)


def test_optimised_control_never_costs_energy(hot_dry):
    site, wx = hot_dry
    sites = variants(site, control="optimised")
    sites.update({s.id: s for s in (
        variant(site, "liquid_dry_opt", topology="liquid_dry_cooler", evaporative_assist=False,
                control="optimised"),
        variant(site, "iec_dry_opt", topology="airside_economizer", air_path="indirect",
                evaporative_assist=False, control="optimised"))})
    ds = simulate({i: wx for i in sites}, sites)
    total, total_baseline = 0.0, 0.0
    for sid, s in sites.items():
        fac, base = row(ds, sid, "facility_power"), row(ds, sid, "facility_power_baseline")
        assert fac.sum() <= base.sum() * (1 + 1e-12), f"{sid}: optimised uses more energy"
        total, total_baseline = total + fac.sum(), total_baseline + base.sum()
        approach = s.cooling.supply_approach_k
        supply = row(ds, sid, "supply_air_temperature")
        assert (supply >= RECOMMENDED_DEGC[0] - 1e-9).all(), sid
        assert (supply <= RECOMMENDED_DEGC[1] - approach + 1e-9).all(), sid
        inlet = supply + approach
        assert ((inlet >= 18.0 - 1e-9) & (inlet <= 27.0 + 1e-9)).all(), sid
        if s.cooling.topology == "liquid_dry_cooler":
            water = row(ds, sid, "facility_water_temperature")
            assert (water <= s.cooling.facility_water_max_degc + 1e-9).all()
    assert total < total_baseline  # it does something in a hot desert year
    summary = facility_summary(ds)
    assert (summary["pue"] <= summary["pue_baseline"] + 1e-12).all()


# --- 7. climate ordering on the real station years -----------------------------------------------

WESTERN_HUBS = ["hami", "ulanqab", "zhongwei", "qingyang", "golmud"]
EASTERN = ["chongqing", "wuhu", "shanghai"]


@needs_shared
def test_western_hubs_below_1_2_and_below_the_humid_east():
    """The catalog's default designs on their stations' real typical years (reference 10.1:
    western hub PUE < 1.2): every western hub below 1.2 and below each hot humid eastern site."""
    sites = {i: get_site(i) for i in WESTERN_HUBS + EASTERN}
    wx = {i: weather.read_epw(SHARED_WEATHER / s.weather_station, year=2019)
          for i, s in sites.items()}
    pue = facility_summary(simulate(wx, sites))["pue"]
    for hub in WESTERN_HUBS:
        assert pue[hub] < 1.2, f"{hub}: annual PUE {pue[hub]:.3f}"
        for east in EASTERN:
            assert pue[east] > pue[hub], f"{east} {pue[east]:.3f} vs {hub} {pue[hub]:.3f}"


# --- 8. errors -----------------------------------------------------------------------------------

def test_unchanged_site_file_loads(tmp_path):
    site = load_site(write_site(tmp_path, "hami_copy", hami_data()))
    assert site.cooling.topology == "airside_economizer"


@pytest.mark.parametrize("table, key, value, field, named", [
    ("cooling", "topology", "immersion_tank", "cooling.topology", "topology"),
    ("it", "gpu_model", "B300", "it.gpu_model", "gpu_model"),
    ("it", "utilisation", 1.5, "it.utilisation", "utilisation"),
    ("cooling", "filter_final_pa", 50.0, "cooling", "filter_final_pa"),
    ("cooling", "dew_point_max_degc", -20.0, "cooling", "humidity envelope is empty"),
    ("cooling", "fan_law", "cubic", "cooling.fan_law", "fan_law"),
    ("cooling", "dry_cooler_air_delta_t_k", 18.0, "cooling", "dry_cooler_air_delta_t_k"),
    ("cooling", "dry_cooler_max_air_flow_ratio", 0.8, "cooling.dry_cooler_max_air_flow_ratio",
     "dry_cooler_max_air_flow_ratio"),
])
def test_bad_site_file_is_refused_naming_the_field(tmp_path, table, key, value, field, named):
    data = hami_data()
    data[table][key] = value
    path = write_site(tmp_path, "bad_site", data)
    with pytest.raises(SiteError) as err:
        load_site(path)
    assert err.value.field is not None and err.value.field.startswith(field), err.value.field
    assert named in str(err.value) and str(path) in str(err.value)


def test_it_power_beyond_capacity_is_refused(golmud_site, template):
    site = with_settings(golmud_site, "it", gpu_count=4 * golmud_site.it.gpu_count)
    with pytest.raises(ValueError, match="capacity_w"):
        simulate(template.isel(time=slice(0, 48)), site)


def test_it_power_beyond_capacity_names_the_site(golmud_site, template):
    gpus = 4 * golmud_site.it.gpu_count
    site = with_settings(golmud_site, "it", gpu_count=gpus)
    others = [get_site("hami"), get_site("wuhu")]  # the offending site is named among others
    with pytest.raises(ValueError, match=rf"^site golmud: {gpus:,} {golmud_site.it.gpu_model} "
                       r"draw up to [\d.]+ MW at full load, more than it\.capacity_w [\d.]+ MW "
                       r"\(\+10 %\) that the UPS"):
        simulate({s.id: template.isel(time=slice(0, 48)) for s in [*others, site]},
                 [*others, site])


def facility_of(site, hours: int, **cooling_update) -> Facility:
    """The Facility of one site over ``hours`` of its synthetic year, built from typed arrays,
    with ``cooling_update`` written into its CoolingArrays: past the site file's validation."""
    wx = site.weather(year=2025, seed=1).isel(time=slice(0, hours))
    plant = dataclasses.replace(CoolingArrays.from_configs([site.cooling]),
                                **{k: np.array([[v]]) for k, v in cooling_update.items()})
    return Facility(plant, ITArrays.from_configs([site.it], [site.id]), wx["time"].values,
                    {v: wx[v].values[None, :] for v in ("temp_air", "temp_dew", "pressure")},
                    np.array([site.altitude_m]))


@pytest.mark.parametrize("update, label, value, known", [
    ({"topology": "immersion_tank"}, "cooling topology", "immersion_tank", COOLING_TOPOLOGIES),
    ({"topology": "immersion_tank", "air_path": "direct"}, "cooling topology", "immersion_tank",
     COOLING_TOPOLOGIES),
    ({"air_path": "ducted"}, "air path", "ducted", AIR_PATHS),
    ({"topology": "liquid_dry_cooler", "air_path": "ducted"}, "air path", "ducted", AIR_PATHS),
    ({"control": "predictive"}, "cooling control", "predictive", COOLING_CONTROLS),
    ({"allowable_class": "A5"}, "ASHRAE class", "A5", ASHRAE_CLASSES),
], ids=["topology", "topology_direct", "air_path", "liquid_air_path", "control", "class"])
def test_unknown_model_name_is_refused_by_the_facility(golmud_site, update, label, value, known):
    """Every dispatch of the facility refuses a name it does not know, listing the known ones,
    also where the catalog's validation is bypassed (an unknown topology once got the air-side
    model)."""
    with pytest.raises(ValueError, match=rf"unknown {label} '{value}'; known: {', '.join(known)}$"):
        facility_of(golmud_site, 24, **update).run()


def test_unknown_topology_through_simulate_is_refused(golmud_site, template):
    site = with_settings(golmud_site, "cooling", topology="immersion_tank")  # not validated
    with pytest.raises(ValueError, match=r"unknown cooling topology 'immersion_tank'; known: "
                                         r"airside_economizer, chilled_water, liquid_dry_cooler"):
        simulate(template.isel(time=slice(0, 48)), site)


def test_cooling_arrays_carry_every_cooling_setting(golmud_site):
    """CoolingArrays has a field for every setting of a site's [cooling] table, as (site, 1)
    columns (the UPS coefficients (site, 3)); subset takes sites."""
    assert list(CoolingArrays.__dataclass_fields__) == list(CoolingConfig.model_fields)
    configs = [golmud_site.cooling, get_site("hami").cooling, get_site("wuhu").cooling]
    arrays = CoolingArrays.from_configs(configs)
    for name in CoolingArrays.__dataclass_fields__:
        a = getattr(arrays, name)
        assert a.shape == ((3, 3) if name == "ups_loss_coefficients" else (3, 1)), name
        np.testing.assert_array_equal(a[1], np.atleast_1d(getattr(configs[1], name)), name)
    assert arrays.evaporative_assist.dtype == bool and arrays.topology.dtype.kind == "U"
    part = arrays.subset(slice(1, 3))
    assert part.topology[:, 0].tolist() == [c.topology for c in configs[1:]]
    assert arrays.subset(np.array([2])).supply_air_degc[0, 0] == configs[2].supply_air_degc


def test_run_gives_the_setpoints_the_load_curves_take(golmud_site):
    """Facility.run returns its results and the setpoints it chose; load curves at those
    setpoints pass through the run's own IT and facility power at its utilisation."""
    model = facility_of(golmud_site, 48, control="optimised")
    result, setpoints = model.run()
    np.testing.assert_array_equal(np.broadcast_to(setpoints.supply_air_degc, (1, 48)),
                                  result["supply_air_temperature"])
    u = float(golmud_site.it.utilisation)
    curves = model.load_curves(setpoints, levels=(0.0, u, 1.0))
    np.testing.assert_array_equal(curves["load_curve_it_power"][..., 1], result["it_power"])
    np.testing.assert_array_equal(curves["load_curve_facility_power"][..., 1],
                                  result["facility_power"])


@pytest.mark.parametrize("bad, message", [
    (lambda n: np.full((1, n), 1.2), r"within 0\.\.1"),
    (lambda n: np.full((1, n), -0.1), r"within 0\.\.1"),
    (lambda n: np.full((1, n + 1), 0.5), r"shape"),
    (lambda n: np.full(n, 0.5), r"shape"),
    (lambda n: np.full((2, n), 0.5), r"shape"),
], ids=["above_1", "negative", "too_many_hours", "one_dimensional", "too_many_sites"])
def test_bad_hourly_utilisation_is_refused(golmud_site, template, bad, message):
    n = 48
    wx = template.isel(time=slice(0, n))
    with pytest.raises(ValueError, match=message):
        simulate(wx, golmud_site, utilisation=bad(n))


def test_hourly_utilisation_is_used(golmud_site, template):
    n = 48
    u = np.linspace(0.1, 1.0, n)[None, :]
    ds = simulate(template.isel(time=slice(0, n)), golmud_site, utilisation=u)
    np.testing.assert_allclose(ds["utilisation"].to_numpy(), u)
    assert (np.diff(ds["it_power"].to_numpy()[0]) > 0).all()


# --- 9. the Dataset ------------------------------------------------------------------------------

def test_dataset_variables_and_attributes(golmud_site, template):
    ds = simulate(template.isel(time=slice(0, 72)), golmud_site)
    for v in ("it_power", "facility_power", "pue", "water_use", "cooling_mode",
              "inlet_outside_recommended", "inlet_outside_allowable", "cooling_power",
              "electrical_losses", "facility_power_baseline"):
        assert ds[v].dims == ("site", "time"), v
        assert ds[v].attrs.get("units"), v
        assert ds[v].attrs.get("long_name"), v
    units = {v: ds[v].attrs["units"] for v in ("it_power", "facility_power", "pue", "water_use")}
    assert units == {"it_power": "W", "facility_power": "W", "pue": "1", "water_use": "L h-1"}
    mode = ds["cooling_mode"]
    assert list(mode.attrs["flag_values"]) == list(range(len(MODES)))
    assert mode.attrs["flag_meanings"].split() == list(MODES)
    assert np.isin(mode.to_numpy(), mode.attrs["flag_values"]).all()
    for v in ("inlet_outside_recommended", "inlet_outside_allowable"):
        assert ds[v].dtype == bool, v
    assert ds["cooling_topology"].values.tolist() == ["liquid_dry_cooler"]


# --- 9. the settings of the Lei and Masanet comparison (issue 20) -------------------------------

psychrolib = pytest.importorskip("psychrolib", reason="psychrolib (reference implementation) not "
                                 "installed")
psychrolib.SetUnitSystem(psychrolib.SI)
CP_AIR, H_FG_20C = 1006.0, 2_453_500.0  # J kg-1 K-1 (ASHRAE HOF); J kg-1 (IAPWS steam tables)


def hours(temp_air, temp_dew, pressure=SEA_LEVEL_PA, **settings) -> dict:
    """Facility.run on hand-built hours ``(T,)`` of one Hami-catalog site at full load with
    cooling ``settings``; the results ``(T,)``."""
    import pandas as pd

    site = get_site("hami")
    config = CoolingConfig.model_validate({**site.cooling.model_dump(), "filter_clean_pa": 0.0,
                                           "filter_final_pa": 0.0, **settings})
    t = np.atleast_1d(np.asarray(temp_air, dtype=float))
    wx = {"temp_air": t[None], "temp_dew": np.broadcast_to(temp_dew, t.shape)[None] * 1.0,
          "pressure": np.broadcast_to(pressure, t.shape)[None] * 1.0}
    it = site.it.model_copy(update={"utilisation": 1.0})
    model = Facility(CoolingArrays.from_configs([config]), ITArrays.from_configs([it], ["x"]),
                     pd.date_range("2019-07-01", periods=t.size, freq="h"), wx, np.zeros(1))
    return {k: v[0] for k, v in model.run()[0].items()}


def heat_to_air(out):
    """The air-cooled hall's heat [W]: IT (all to air in an air-cooled hall) plus losses."""
    return out["it_power"] + out["electrical_losses"]


def dew_point(temp, rh_pct, pressure=SEA_LEVEL_PA):
    return psychrolib.GetTDewPointFromRelHum(temp, rh_pct / 100.0)


def test_fixed_pressure_fans_draw_volume_times_pressure_over_efficiency():
    """fan_law = fixed_pressure: the air handler draws V dP / eta (Lei and Masanet), V the air
    volume at the supply state (density from psychrolib), at sea level and at 2,800 m alike;
    fixed_ducts (pressure drop ~ rho V^2, reference 8) grows at altitude by rho_0 / rho more."""
    settings = {"topology": "chilled_water", "tower_fan_pressure_pa": 0.0,
                "air_pressure_pa": 600.0, "fan_efficiency": 0.75}
    rho, ducts = {}, {}
    for p in (SEA_LEVEL_PA, ALTITUDE_PA):
        fixed = hours(0.0, -5.0, p, fan_law="fixed_pressure", **settings)
        w = psychrolib.GetHumRatioFromTDewPoint(-5.0, p)
        rho[p] = (1 + w) / psychrolib.GetMoistAirVolume(22.5, w, p)
        volume = heat_to_air(fixed) / (CP_AIR * 14.0) / rho[p]
        np.testing.assert_allclose(fixed["cooling_fan_power"], volume * 600.0 / 0.75, rtol=2e-3)
        ducts[p] = hours(0.0, -5.0, p, fan_law="fixed_ducts", **settings)["cooling_fan_power"]
        ducts[p] = ducts[p] / fixed["cooling_fan_power"]
    np.testing.assert_allclose(ducts[ALTITUDE_PA] / ducts[SEA_LEVEL_PA],
                               rho[SEA_LEVEL_PA] / rho[ALTITUDE_PA], rtol=2e-3)


def test_relative_humidity_limits_the_floating_economiser():
    """Direct air with a floating supply and the Lei envelope (dew point -10.5..21 degC, RH
    14..77.5 %): outside air at 20 degC is used at 70 % RH, refused at 85 % (the mechanical plant
    carries the hall), and humidified at 10 % RH up to 14 % at 20 degC, the water being the
    outside air's mass times the humidity-ratio rise (psychrolib)."""
    settings = {"topology": "airside_economizer", "air_path": "direct",
                "economizer_supply": "floating", "supply_air_min_degc": 14.0,
                "supply_air_degc": 31.0, "dew_point_min_degc": -10.5, "dew_point_max_degc": 21.0,
                "relative_humidity_min_pct": 14.0, "relative_humidity_max_pct": 77.5,
                "above_economizer_limit": "recirculate"}
    rh = np.array([70.0, 85.0, 10.0])
    out = hours(np.full(3, 20.0), [dew_point(20.0, x) for x in rh], **settings)
    np.testing.assert_array_equal(out["cooling_mode"], [ECONOMIZER, MECHANICAL, ECONOMIZER])
    assert out["water_use"][0] == 0.0
    w_oa = psychrolib.GetHumRatioFromRelHum(20.0, 0.10, SEA_LEVEL_PA)
    w_floor = psychrolib.GetHumRatioFromRelHum(20.0, 0.14, SEA_LEVEL_PA)
    mass = heat_to_air(out)[2] / (CP_AIR * 14.0)
    np.testing.assert_allclose(out["water_use"][2], mass * (w_floor - w_oa) * 3600 / 997 * 1000,
                               rtol=0.01)


def test_above_the_economiser_limit_pads_or_recirculation():
    """A hot dry hour (38 degC, dew point 0): ``adiabatic`` keeps the outside air through the
    pads (evaporative or partial, water used); ``recirculate`` runs the mechanical plant alone
    (air-cooled: no water)."""
    common = {"topology": "airside_economizer", "air_path": "direct", "sensible_heat_ratio": 1.0}
    pads = hours(38.0, 0.0, above_economizer_limit="adiabatic", **common)
    closed = hours(38.0, 0.0, above_economizer_limit="recirculate", **common)
    assert pads["cooling_mode"][0] in (EVAPORATIVE, cooling.PARTIAL) and pads["water_use"][0] > 0
    assert closed["cooling_mode"][0] == MECHANICAL and closed["water_use"][0] == 0.0
    assert closed["mechanical_cooling_power"][0] > pads["mechanical_cooling_power"][0]


def test_water_cooled_backup_towers_pumps_and_latent_make_up():
    """Direct air recirculating on water-cooled chillers (35 degC, dew point 10): the towers
    evaporate the heat rejected (hall heat / SHR + chiller work) at the latent heat of their water
    (wet bulb from psychrolib + approach + half the range; IAPWS h_fg), times CC / (CC - 1) with no
    drift; humidifiers add the latent load over h_fg at 20 degC; the chilled-water pump moves the
    coil load over water_delta_t_k at pump_head_pa and the condenser pump the rejected heat over
    tower_range_k at tower_pump_head_pa."""
    shr, cc = 0.97, 5.0
    out = hours(35.0, 10.0, topology="airside_economizer", air_path="direct",
                above_economizer_limit="recirculate", air_side_mechanical="water_cooled",
                sensible_heat_ratio=shr, cycles_of_concentration=cc, drift_fraction=0.0,
                tower_fan_pressure_pa=0.0, water_delta_t_k=7.5, tower_range_k=5.0,
                tower_approach_k=4.75, pump_head_pa=143_650.0, tower_pump_head_pa=208_650.0,
                pump_efficiency=0.7)
    q = heat_to_air(out)[0]
    coil = q / shr
    rejected = coil + out["mechanical_cooling_power"][0]
    t_water = psychrolib.GetTWetBulbFromTDewPoint(35.0, 10.0, SEA_LEVEL_PA) + 4.75 + 2.5
    h_fg = (2501.0 - 2.361 * t_water) * 1e3  # IAPWS-IF97 within 0.1 % between 10 and 40 degC
    towers = rejected / h_fg * cc / (cc - 1)
    humidifier = (coil - q) / H_FG_20C
    np.testing.assert_allclose(out["water_use"][0], (towers + humidifier) * 3600 / 997 * 1000,
                               rtol=0.005)
    pumps = (coil / (4186 * 7.5) * 143_650 + rejected / (4186 * 5.0) * 208_650) / 997 / 0.7
    np.testing.assert_allclose(out["cooling_pump_power"][0], pumps, rtol=1e-3)
    assert 4.0 < coil / out["mechanical_cooling_power"][0] < 9.0  # water-cooled chiller COP


def test_tower_fans_move_circulating_water_over_liquid_to_gas():
    """Direct air recirculating on water-cooled chillers (35 degC, dew point 10): the tower fans
    move the circulating water (rejected heat over c_p x tower_range_k) over L/G of outdoor air
    (density from psychrolib) at tower_fan_pressure_pa / tower_fan_efficiency (fixed pressure);
    the difference with the fans at 0 Pa is that power and nothing else, and doubling L/G halves
    it."""
    common = {"topology": "airside_economizer", "air_path": "direct",
              "above_economizer_limit": "recirculate", "air_side_mechanical": "water_cooled",
              "sensible_heat_ratio": 1.0, "fan_law": "fixed_pressure", "tower_range_k": 5.0,
              "tower_fan_efficiency": 0.775}
    off = hours(35.0, 10.0, tower_fan_pressure_pa=0.0, tower_liquid_to_gas=2.1, **common)
    on, wide = (hours(35.0, 10.0, tower_fan_pressure_pa=250.0, tower_liquid_to_gas=lg, **common)
                for lg in (2.1, 4.2))
    rejected = heat_to_air(on)[0] + on["mechanical_cooling_power"][0]
    w = psychrolib.GetHumRatioFromTDewPoint(10.0, SEA_LEVEL_PA)
    rho = (1 + w) / psychrolib.GetMoistAirVolume(35.0, w, SEA_LEVEL_PA)
    expected = rejected / (4186 * 5.0) / 2.1 / rho * 250.0 / 0.775
    tower = on["cooling_fan_power"][0] - off["cooling_fan_power"][0]
    np.testing.assert_allclose(tower, expected, rtol=2e-3)
    np.testing.assert_allclose(wide["cooling_fan_power"][0] - off["cooling_fan_power"][0],
                               expected / 2, rtol=2e-3)
    for k in ("mechanical_cooling_power", "cooling_pump_power", "water_use"):
        np.testing.assert_allclose(on[k], off[k], rtol=1e-12, err_msg=k)


def test_dew_point_limits_the_floating_economiser():
    """Direct air, floating supply up to 31 degC, envelope dew point -10.5..21 degC with RH limits
    out of the way (0..99 %): outside air at 30 degC is used at a 20 degC dew point and refused at
    22 degC (the mechanical plant carries the hall); at 20 degC with a -20 degC dew point it is
    humidified up to the -10.5 degC dew point, the water being the outside air's mass times the
    humidity-ratio rise (psychrolib)."""
    settings = {"topology": "airside_economizer", "air_path": "direct",
                "economizer_supply": "floating", "supply_air_min_degc": 14.0,
                "supply_air_degc": 31.0, "dew_point_min_degc": -10.5, "dew_point_max_degc": 21.0,
                "relative_humidity_min_pct": 0.0, "relative_humidity_max_pct": 99.0,
                "above_economizer_limit": "recirculate", "sensible_heat_ratio": 1.0}
    out = hours([30.0, 30.0, 20.0], [20.0, 22.0, -20.0], **settings)
    np.testing.assert_array_equal(out["cooling_mode"], [ECONOMIZER, MECHANICAL, ECONOMIZER])
    assert out["water_use"][0] == 0.0 and out["water_use"][1] == 0.0
    w_oa = psychrolib.GetHumRatioFromTDewPoint(-20.0, SEA_LEVEL_PA)
    w_floor = psychrolib.GetHumRatioFromTDewPoint(-10.5, SEA_LEVEL_PA)
    mass = heat_to_air(out)[2] / (CP_AIR * 14.0)
    np.testing.assert_allclose(out["water_use"][2], mass * (w_floor - w_oa) * 3600 / 997 * 1000,
                               rtol=0.01)


def test_sensible_heat_ratio_adds_latent_load_to_mechanical_cooling():
    """Air-cooled mechanical cooling of a recirculating hall: SHR 0.95 raises the coil load (and
    the compressor power at the same COP) by 1/0.95 and adds humidifier water for the latent
    part; SHR 1 (dry coils) uses none."""
    common = {"topology": "airside_economizer", "air_path": "direct",
              "above_economizer_limit": "recirculate"}
    dry, wet = (hours(38.0, 20.0, sensible_heat_ratio=s, **common) for s in (1.0, 0.95))
    np.testing.assert_allclose(wet["mechanical_cooling_power"] / dry["mechanical_cooling_power"],
                               1 / 0.95, rtol=1e-9)
    assert dry["water_use"][0] == 0.0
    np.testing.assert_allclose(wet["water_use"][0], heat_to_air(wet)[0] * (1 / 0.95 - 1)
                               / H_FG_20C * 3600 / 997 * 1000, rtol=0.005)


def test_adiabatic_dry_coolers_spray_only_what_the_hour_needs():
    """Liquid + adiabatic dry coolers without fan staging on one wet bulb (16 degC): at 24 degC the
    dry coolers carry
    the whole load (facility water 32 degC - 8 K approach) and the pads stay dry; at 26 and 34
    degC full pads (0.85) would cool the air to 17.5-18.7 degC, but they are modulated to 24 degC,
    so the water sprayed is the humidity-ratio rise from each hour's air to air at 24 degC on that
    wet bulb (psychrolib), in proportion to it. Differences from the 24 degC hour cancel the
    residual air path's water, which depends on the wet bulb only."""
    p, wb = SEA_LEVEL_PA, 16.0
    temps = np.array([24.0, 26.0, 34.0])
    w = np.array([psychrolib.GetHumRatioFromTWetBulb(t, wb, p) for t in temps])
    dews = [psychrolib.GetTDewPointFromHumRatio(t, x, p) for t, x in zip(temps, w, strict=True)]
    out = hours(temps, dews, topology="liquid_dry_cooler", facility_water_degc=32.0,
                dry_cooler_approach_k=8.0, direct_evaporative_effectiveness=0.85,
                dry_cooler_max_air_flow_ratio=1.0)
    assert (out["cooling_mode"] == EVAPORATIVE).all()  # the residual air's IEC is wet too
    assert (out["mechanical_cooling_power"] == 0).all()
    sprayed = out["water_use"][1:] - out["water_use"][0]
    np.testing.assert_allclose(sprayed[0] / sprayed[1], (w[0] - w[1]) / (w[0] - w[2]), rtol=0.01)


def dry_cooler_hours(temps, dew, lockout=False, **settings):
    """cooling.liquid_side alone on hand-built hours: 1 MW to the liquid loop, the plant sized
    for it, facility water 32 degC (returning at 42), approach 8 K at a 12 K air rise, fixed
    ducts, sea level."""
    config = CoolingConfig.model_validate({**get_site("hami").cooling.model_dump(),
                                           "topology": "liquid_dry_cooler", **settings})
    t = np.atleast_1d(np.asarray(temps, dtype=float))[None]
    out = cooling.outdoor_state(t, np.full(t.shape, dew), np.full(t.shape, SEA_LEVEL_PA))
    return cooling.liquid_side(CoolingArrays.from_configs([config]), out, np.full(t.shape, 1e6),
                               np.full((1, 1), 32.0), design_q_liquid=np.full((1, 1), 1e6),
                               lockout=np.full(t.shape, lockout))


def crossflow_air_flow_ratio_for(approach_k, span=10.0, rise=12.0, design_approach=8.0):
    """The air-flow ratio at which a cross-flow dry cooler (EnergyPlus FluidCooler effectiveness,
    reference 5.3, both streams unmixed) with the UA of ``design_approach`` at a ``rise`` air
    temperature rise reaches ``approach_k``: per watt of heat, water 1/span W/K."""
    from scipy.optimize import brentq

    def effectiveness(ntu, c_r):
        eta = ntu ** -0.22
        return 1 - np.exp((np.exp(-ntu * c_r * eta) - 1) / (c_r * eta))

    def approach(ratio, ua):
        c_w, c_a = 1 / span, ratio / rise
        c_min, c_max = min(c_w, c_a), max(c_w, c_a)
        return 1 / (effectiveness(ua / c_min, c_min / c_max) * c_min) - span

    c_min1 = min(1 / span, 1 / rise)
    ntu1 = brentq(lambda n: effectiveness(n, c_min1 / max(1 / span, 1 / rise))
                  - 1 / (c_min1 * (span + design_approach)), 1e-3, 1e3)
    return brentq(lambda f: approach(f, ntu1 * c_min1) - approach_k, 1.0, 10.0), \
        lambda f: approach(f, ntu1 * c_min1)


def test_dry_cooler_fans_rise_before_the_pads_spray():
    """Dry air (dew point -5 degC), 25 degC: at the 12 K flow the dry coolers bring the water to
    33 degC only, so without staging the pads spray. With fans first (up to 1.25 x the flow) the
    fans alone reach 32 degC: no water, no chiller; the flow ratio, from the fan power's cube
    (fixed ducts, fan laws), is the one at which the cross-flow effectiveness (computed here,
    UA from the 8 K design approach) passes the whole 1 MW from 42 degC water to 25 degC air:
    the heat balance eps C_min (T_water,in - T_air,in) = Q, and the air leaves below 42 degC."""
    plain = dry_cooler_hours(25.0, -5.0, dry_cooler_max_air_flow_ratio=1.0)
    staged = dry_cooler_hours(25.0, -5.0, dry_cooler_max_air_flow_ratio=1.25)
    assert plain["water_use"][0, 0] > 0 and plain["mode"][0, 0] == EVAPORATIVE
    assert staged["water_use"][0, 0] == 0 and staged["mode"][0, 0] == ECONOMIZER
    assert staged["mechanical_power"][0, 0] == plain["mechanical_power"][0, 0] == 0
    ratio = (staged["fan_power"][0, 0] / plain["fan_power"][0, 0]) ** (1 / 3)
    expected, approach = crossflow_air_flow_ratio_for(32.0 - 25.0)
    assert 1.0 < ratio < 1.25
    np.testing.assert_allclose(ratio, expected, rtol=2e-3)
    q = 1e6
    c_water, c_air = q / 10.0, ratio * q / 12.0  # W K-1
    effectiveness = 1 / ((approach(ratio) + 10.0) * min(c_water, c_air) / q)
    assert effectiveness * min(c_water, c_air) * (42.0 - 25.0) == pytest.approx(q, rel=2e-3)
    assert 25.0 + q / c_air < 42.0


def test_dry_cooler_staging_water_and_power_against_no_staging():
    """A dry-air sweep (dew point -5 degC, 24-45 degC): fans first (1.25 x the flow) draws never
    less fan power and never more chiller power than the plant without staging. Where the pads
    spray at the top flow, their water is that flow's air times the humidity-ratio rise down to
    32 degC minus the approach at 1.25 x the flow (psychrolib; cross-flow effectiveness computed
    here), times CC / (CC - 1). Water falls where the hour needs up to about 6.6 K of
    pre-cooling without staging; above that, more air pre-cooled by less costs more water than
    less air pre-cooled by more (the known price of fans first, README)."""
    temps = np.arange(24.0, 45.01, 0.5)
    plain = dry_cooler_hours(temps, -5.0, dry_cooler_max_air_flow_ratio=1.0)
    staged = dry_cooler_hours(temps, -5.0, dry_cooler_max_air_flow_ratio=1.25)
    assert (staged["fan_power"] >= plain["fan_power"] * (1 - 1e-12)).all()
    assert (staged["mechanical_power"] <= plain["mechanical_power"] * (1 + 1e-12)).all()
    _, approach = crossflow_air_flow_ratio_for(7.0)
    t_pad = 32.0 - approach(1.25)
    w_oa = psychrolib.GetHumRatioFromTDewPoint(-5.0, SEA_LEVEL_PA)
    wet_bulb = np.array([psychrolib.GetTWetBulbFromHumRatio(t, w_oa, SEA_LEVEL_PA) for t in temps])
    full = temps - 0.85 * (temps - wet_bulb)
    sprays = (staged["water_use"][0] > 0) & (full < t_pad)  # modulated, free share 1
    assert sprays.sum() > 10
    air = 1.25 * 1e6 / (CP_AIR * 12.0)
    expected = [air * (psychrolib.GetHumRatioFromTWetBulb(t_pad, wb, SEA_LEVEL_PA) - w_oa) * 6 / 5
                * 3600 / 997 * 1000 for wb in wet_bulb[sprays]]
    np.testing.assert_allclose(staged["water_use"][0][sprays], expected, rtol=0.01)
    plain_precool = temps - (32.0 - 8.0)  # the unstaged pads cool the air to 24 degC
    less = (plain_precool > 0) & (plain_precool <= 6.5)
    assert (staged["water_use"][0][less] < plain["water_use"][0][less]).all()
    more = (plain_precool >= 7.0) & (full < 24.0)
    assert more.any() and (staged["water_use"][0][more] > plain["water_use"][0][more]).all()


def test_fans_first_under_a_dust_lock_out():
    """Dust locks the pads out (35 degC, dew point -5): without staging the chiller trims what
    the dry coolers cannot reach at the design flow; with fans first the fans still rise, so the
    chiller carries less and the fans draw more, and no water is sprayed either way."""
    plain = dry_cooler_hours(35.0, -5.0, lockout=True, dry_cooler_max_air_flow_ratio=1.0)
    staged = dry_cooler_hours(35.0, -5.0, lockout=True, dry_cooler_max_air_flow_ratio=1.25)
    assert plain["water_use"][0, 0] == staged["water_use"][0, 0] == 0
    assert 0 < staged["mechanical_power"][0, 0] < plain["mechanical_power"][0, 0]
    assert staged["fan_power"][0, 0] > plain["fan_power"][0, 0]


def test_least_water_staging_never_sprays_more_than_no_staging():
    """``dry_cooler_staging = "least_water"`` on the same dry-air sweep: each hour at the flow
    (1-1.25 x) that sprays least, so never more water than without staging and less wherever
    the fans alone or more air pre-cooled by less need less; the chiller carries the same share
    (no more mechanical power) and the fans never draw less."""
    temps = np.arange(24.0, 45.01, 0.5)
    plain = dry_cooler_hours(temps, -5.0, dry_cooler_max_air_flow_ratio=1.0)
    least = dry_cooler_hours(temps, -5.0, dry_cooler_max_air_flow_ratio=1.25,
                             dry_cooler_staging="least_water")
    first = dry_cooler_hours(temps, -5.0, dry_cooler_max_air_flow_ratio=1.25)
    assert (least["water_use"] <= plain["water_use"] * (1 + 1e-9)).all()
    assert (least["water_use"] <= first["water_use"] * (1 + 1e-9)).all()
    assert (least["water_use"] < plain["water_use"]).sum() > 10
    np.testing.assert_allclose(least["mechanical_power"], plain["mechanical_power"], rtol=1e-12)
    assert (least["fan_power"] >= plain["fan_power"] * (1 - 1e-12)).all()
    hot = plain["water_use"][0] > 0
    assert (least["fan_power"][0][hot] < first["fan_power"][0][hot]).any()  # fans step back


def test_iec_water_is_the_secondary_airs_humidity_rise():
    """A wet IEC carrying its full duty (35 degC, wet bulb 22 degC: partial, trim after it): the
    water is the secondary air (1.4 x the primary volume, at the outdoor density) times its
    humidity-ratio rise through pads of 0.85 at constant wet bulb (psychrolib), times the
    blowdown factor CC / (CC - 1); not the exchanger's heat over h_fg."""
    p, wb, t, cc = SEA_LEVEL_PA, 22.0, 35.0, 6.0
    w_oa = psychrolib.GetHumRatioFromTWetBulb(t, wb, p)
    dew = psychrolib.GetTDewPointFromHumRatio(t, w_oa, p)
    out = hours(t, dew, topology="airside_economizer", air_path="indirect",
                cycles_of_concentration=cc, direct_evaporative_effectiveness=0.85,
                iec_secondary_flow_ratio=1.4, sensible_heat_ratio=1.0)
    assert out["cooling_mode"][0] == cooling.PARTIAL
    hall = min(psychrolib.GetHumRatioFromTDewPoint(15.0, p),
               psychrolib.GetHumRatioFromRelHum(22.5, 0.60, p))
    rho_supply = (1 + hall) / psychrolib.GetMoistAirVolume(22.5, hall, p)
    rho_outdoor = (1 + w_oa) / psychrolib.GetMoistAirVolume(t, w_oa, p)
    secondary = 1.4 * heat_to_air(out)[0] / (CP_AIR * 14.0) / rho_supply * rho_outdoor / (1 + w_oa)
    t_sec = t - 0.85 * (t - wb)
    rise = psychrolib.GetHumRatioFromTWetBulb(t_sec, wb, p) - w_oa
    np.testing.assert_allclose(out["water_use"][0],
                               secondary * rise * cc / (cc - 1) * 3600 / 997 * 1000, rtol=0.01)


def test_the_baseline_pue_of_an_optimised_site_is_the_baseline_runs():
    """facility_summary's pue_baseline of a site under optimised control equals the PUE of the
    same site and weather under baseline control: the baseline's own IT power (server fans at
    the baseline's setpoints), not the optimised run's (issue 26 found 1.120 against 1.109)."""
    site = get_site("golmud")
    optimised = site.model_copy(update={"cooling": site.cooling.model_copy(
        update={"control": "optimised"})})
    runs = {name: facility_summary(simulate(None, s, year=2026, seed=3, until="facility"))
            for name, s in (("baseline", site), ("optimised", optimised))}
    assert runs["optimised"]["pue_baseline"].iloc[0] == pytest.approx(
        runs["baseline"]["pue"].iloc[0], rel=1e-9)
    assert runs["optimised"]["pue"].iloc[0] < runs["baseline"]["pue"].iloc[0]


@pytest.mark.parametrize("update", [{}, {"air_side_mechanical": "water_cooled",
                                         "sensible_heat_ratio": 0.97,
                                         "fan_law": "fixed_pressure"}])
def test_every_load_of_an_evaluation_is_its_own_evaluation(golmud_site, template, update):
    """Facility.evaluate with a leading axis of loads (the compiled plants' loops over load, site
    and hour, twin.cooling) gives each load exactly what evaluating it alone gives, at setpoints
    constant or hourly; a NaN hour of weather stays NaN in that hour only."""
    sites = list(variants(golmud_site, **update).values())
    hours = 72
    wx = template.isel(time=slice(0, hours))
    weather_ = {v: np.repeat(wx[v].values[None], len(sites), axis=0)
                for v in ("temp_air", "temp_dew", "pressure")}
    weather_["temp_air"][:, 5] = np.nan
    model = Facility(CoolingArrays.from_configs([s.cooling for s in sites]),
                     ITArrays.from_configs([s.it for s in sites], [s.id for s in sites]),
                     wx["time"].values, weather_, np.full(len(sites), golmud_site.altitude_m))
    levels = np.array([0.0, 0.4, 1.0])[:, None, None]
    rng = np.random.default_rng(5)
    for supply in (model.c.supply_air_degc,
                   model.c.supply_air_degc + rng.uniform(-3.0, 3.0, (len(sites), hours))):
        together = model.evaluate(supply, model.c.facility_water_degc, utilisation=levels)
        for k, u in enumerate(levels):
            alone = model.evaluate(supply, model.c.facility_water_degc,
                                   utilisation=np.full((len(sites), 1), u[0, 0]))
            for name, value in alone.items():
                np.testing.assert_array_equal(together[name][k], value, err_msg=name)
        power = together["facility_power"]
        assert np.isnan(power[:, :, 5]).all() and not np.isnan(np.delete(power, 5, axis=2)).any()


def test_a_failing_block_stops_the_threads_and_says_why():
    """by_site_block on threads: blocks come back in order, and an error in one block is raised
    as it is, the blocks not yet started cancelled."""
    from twin.simulate import by_site_block

    started, failing = [], set()

    def step(rows):
        started.append(rows.start)
        if rows.start in failing:
            raise ValueError(f"block {rows.start} cannot run")
        return {"x": np.full((rows.stop - rows.start, 2), float(rows.start))}

    out = by_site_block(step, 8, 2, 2, threads=3)  # one site per block
    assert out["x"][:, 0].tolist() == list(range(8))
    started.clear()
    failing.add(3)
    with pytest.raises(ValueError, match="block 3 cannot run"):
        by_site_block(step, 100, 2, 2, threads=2)
    assert len(started) < 100  # the rest were cancelled
