"""PV model (twin.solar) through simulate(): geometry against pvlib's per-site functions, the
vectorised chain against pvlib ModelChain, physical bounds, desert losses and the NaN policy."""

import dataclasses

import numpy as np
import pandas as pd
import pvlib
import pytest

from tests.conftest import with_settings
from twin.model_names import (
    MOUNTINGS,
    SOILING_MODELS,
    SPECTRAL_MODELS,
    TEMPERATURE_MODELS,
    TRANSPOSITIONS,
)
from twin.simulate import simulate
from twin.solar import (
    PVArrays,
    _sun_time_terms,
    plane_of_array,
    pv_power,
    sun_position,
    surface_orientation,
)
from weather.errors import WeatherError


def with_pv(site, **update):
    return with_settings(site, "pv", **update)


@pytest.fixture(scope="module")
def golmud_weather(golmud_site):
    return golmud_site.weather(year=2025, seed=1)


LOSSLESS = {"soiling": "none", "dc_loss_fraction": 0.0, "availability": 1.0,
            "derate_start_degc": 80.0, "derate_end_degc": 90.0, "row_sky_shading": False,
            "diffuse_iam": False, "spectral": "none"}


def test_sun_position_for_many_sites_equals_pvlib_per_site():
    time = pd.date_range("2025-01-01", periods=24 * 40, freq="h")
    lat, lon = np.array([36.4, 42.8, -33.9]), np.array([94.9, 93.5, 18.4])
    alt = np.array([2800.0, 740, 10])
    pressure = np.full((3, len(time)), 90000.0)
    hour = np.arange(len(time))[None, :]
    sun = sun_position(time, hour, np.arange(3)[:, None], lat, lon, alt, pressure,
                       np.full((3, len(time)), 12.0))
    mid = time.tz_localize("UTC") + pd.Timedelta(minutes=30)
    for i in range(3):
        ref = pvlib.solarposition.get_solarposition(mid, lat[i], lon[i], alt[i], pressure=90000.0,
                                                    temperature=12.0)
        assert np.allclose(sun["apparent_zenith"][i], ref["apparent_zenith"], atol=1e-6)
        assert np.allclose(sun["azimuth"][i], ref["azimuth"], atol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sun_position_is_pvlib_spa_to_the_bit(dtype):
    """The topocentric terms written out in twin.solar.sun_position give pvlib.spa's functions'
    results bit for bit, in single and double precision."""
    spa = pvlib.spa
    time = pd.date_range("2025-01-01", periods=24 * 60, freq="h")
    lat, lon, alt = np.array([36.4, 42.8, -33.9]), np.array([94.9, 93.5, 18.4]), \
        np.array([2800.0, 740, 10])
    rng = np.random.default_rng(3)
    hour, site = np.arange(len(time))[None, :], np.arange(3)[:, None]
    pressure = rng.uniform(70000, 102000, (3, len(time))).astype(dtype)
    temp = rng.uniform(-30, 45, (3, len(time))).astype(dtype)
    sun = sun_position(time, hour, site, lat, lon, alt, pressure, temp)
    v, alpha, delta, distance, dni_extra = (x.astype(dtype)[hour] for x in
                                            _sun_time_terms(time))
    u = spa.uterm(lat)
    la, x, y, lo = (a.astype(dtype)[site] for a in (lat, spa.xterm(u, lat, alt),
                                                    spa.yterm(u, lat, alt), lon))
    hour_angle = v + lo - alpha
    xi = spa.equatorial_horizontal_parallax(distance)
    delta_alpha = spa.parallax_sun_right_ascension(x, xi, hour_angle, delta)
    delta_prime = spa.topocentric_sun_declination(delta, x, y, xi, delta_alpha, hour_angle)
    h_prime = spa.topocentric_local_hour_angle(hour_angle, delta_alpha)
    e0 = spa.topocentric_elevation_angle_without_atmosphere(la, delta_prime, h_prime)
    e = spa.topocentric_elevation_angle(e0, spa.atmospheric_refraction_correction(
        pressure / 100.0, temp, e0, 0.5667))
    assert sun["zenith"].dtype == dtype
    assert np.array_equal(sun["zenith"], 90.0 - e0)
    assert np.array_equal(sun["apparent_zenith"], 90.0 - e)
    assert np.array_equal(sun["dni_extra"], dni_extra)


@pytest.mark.parametrize("transposition", TRANSPOSITIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plane_of_array_is_pvlib_to_the_bit(golmud_site, transposition, dtype):
    """Angle of incidence, beam, ground and sky diffuse (Perez, Hay-Davies) written out in
    twin.solar.plane_of_array equal pvlib.irradiance's functions bit for bit, including
    overcast (no diffuse), twilight and missing (NaN) elements."""
    n = 20000
    rng = np.random.default_rng(4)

    def draw(low, high):
        return rng.uniform(low, high, (n, 1)).astype(dtype)

    tilt, azimuth, zenith, sun_azimuth = draw(0, 90), draw(0, 360), draw(0, 95), draw(0, 360)
    ghi, dni, dhi, dni_extra = draw(0, 1100), draw(0, 1000), draw(0, 500), draw(1310, 1415)
    dhi[::50], dni[::70], zenith[::90], ghi[::110] = 0, np.nan, np.nan, np.nan
    apparent = zenith - dtype(0.3)
    airmass = pvlib.atmosphere.get_relative_airmass(np.where(apparent < 90, apparent, 0.0))
    p = PVArrays.from_configs([golmud_site.pv.model_copy(update={
        "transposition": transposition})]).optics(np.array([n]))
    sun = {"zenith": zenith, "apparent_zenith": apparent, "azimuth": sun_azimuth,
           "dni_extra": dni_extra}
    poa = plane_of_array(p, sun, tilt, azimuth, ghi, dni, dhi, dtype(0.3), airmass)
    up = (zenith < 90) & (dhi > 0)
    if transposition == "perez":
        sky = pvlib.irradiance.perez(  # with pvlib's air mass where the sun is up
            tilt, azimuth, dhi, dni, dni_extra, zenith, sun_azimuth,
            airmass=pvlib.atmosphere.get_relative_airmass(np.where(up, apparent, 0.0)))
    else:
        sky = pvlib.irradiance.haydavies(tilt, azimuth, dhi, dni, dni_extra, zenith,
                                         sun_azimuth)
    isotropic = pvlib.irradiance.isotropic(tilt, dhi)
    aoi = pvlib.irradiance.aoi(tilt, azimuth, zenith, sun_azimuth)
    expected = {"aoi": aoi, "beam": np.clip(dni * np.cos(np.radians(aoi)), 0.0, None),
                "sky_diffuse": np.where(up, sky, isotropic).astype(dtype),
                "ground_diffuse": pvlib.irradiance.get_ground_diffuse(tilt, ghi, dtype(0.3))}
    for name, value in expected.items():
        assert poa[name].dtype == value.dtype, name
        assert np.array_equal(poa[name], value, equal_nan=True), name


def test_tracker_orientation_equals_pvlib_singleaxis(golmud_site):
    """Three trackers (backtracking at two ground coverage ratios, and one without) on axes
    turned differently, over a year of sun positions including twilight."""
    time = pd.date_range("2025-01-01", periods=8760, freq="h")
    configs = [golmud_site.pv.model_copy(update={
        "mounting": "single_axis", "azimuth_deg": az, "gcr": gcr, "backtrack": bt,
        "max_angle_deg": limit}) for az, gcr, bt, limit in
        ((180.0, 0.35, True, 60.0), (170.0, 0.5, True, 52.0), (200.0, 0.35, False, 45.0))]
    p = PVArrays.from_configs(configs)
    sun = sun_position(time, np.arange(8760)[None, :], np.arange(3)[:, None], np.full(3, 36.4),
                       np.full(3, 94.9), np.full(3, 2800.0), np.full((3, 8760), 73000.0),
                       np.full((3, 8760), 5.0))
    tilt, azimuth = surface_orientation(p, sun)
    for i, c in enumerate(configs):
        ref = pvlib.tracking.singleaxis(sun["apparent_zenith"][i], sun["azimuth"][i], 0.0,
                                        c.azimuth_deg, c.max_angle_deg, c.backtrack, c.gcr)
        up = np.isfinite(ref["surface_tilt"]) & (ref["surface_tilt"] > 0.01)
        assert up.sum() > 4000
        assert np.allclose(tilt[i][up], ref["surface_tilt"][up], atol=1e-6)
        assert np.allclose(azimuth[i][up], ref["surface_azimuth"][up], atol=1e-6)
        assert (tilt[i][sun["apparent_zenith"][i] >= 90] == 0).all()  # stowed flat at night


@pytest.mark.parametrize("mounting", ["fixed", "single_axis"])
def test_vectorised_chain_matches_pvlib_modelchain(golmud_site, golmud_weather, mounting):
    """The same PVWatts-type system through pvlib's own ModelChain (per site, pandas) must give the
    same hourly AC power as the broadcast arrays: only the plumbing differs."""
    site = with_pv(golmud_site, mounting=mounting, tilt_deg=30.0, gcr=0.35, albedo=0.25,
                   transposition="haydavies", **LOSSLESS)
    ours = simulate(golmud_weather, site).pv_power.isel(site=0).to_numpy()
    wx = golmud_weather.to_dataframe()
    wx.index = wx.index.tz_localize("UTC") + pd.Timedelta(minutes=30)  # ModelChain: sun at label
    pv = site.pv
    if mounting == "fixed":
        mount = pvlib.pvsystem.FixedMount(surface_tilt=30.0, surface_azimuth=pv.azimuth_deg)
    else:
        mount = pvlib.pvsystem.SingleAxisTrackerMount(axis_azimuth=pv.azimuth_deg, max_angle=60.0,
                                                      backtrack=True, gcr=0.35)
    system = pvlib.pvsystem.PVSystem(arrays=[pvlib.pvsystem.Array(
        mount, albedo=0.25,
        module_parameters={"pdc0": pv.capacity_wp, "gamma_pdc": pv.gamma_pdc_per_k},
        temperature_model_parameters={"u0": 25.0, "u1": 6.84})],
        inverter_parameters={"pdc0": pv.capacity_wp / pv.dc_ac_ratio / 0.96, "eta_inv_nom": 0.96})
    location = pvlib.location.Location(golmud_site.latitude, golmud_site.longitude,
                                       altitude=golmud_site.altitude_m)
    mc = pvlib.modelchain.ModelChain(system, location, transposition_model="haydavies",
                                     aoi_model="physical", spectral_model="no_loss",
                                     temperature_model="faiman", losses_model="no_loss")
    mc.run_model(wx[["ghi", "dni", "dhi", "temp_air", "wind_speed", "pressure"]])
    ref = mc.results.ac.to_numpy()
    # ModelChain applies the IAM to circumsolar light too; PVWatts (and the twin) to the beam only
    assert abs(ours.sum() / ref.sum() - 1) < 0.01
    assert np.corrcoef(ours, ref)[0, 1] > 0.999


def test_power_is_bounded_and_zero_in_the_dark(golmud_site, golmud_weather):
    ds = simulate(golmud_weather, golmud_site).isel(site=0)
    rating = golmud_site.pv.capacity_wp / golmud_site.pv.dc_ac_ratio * golmud_site.pv.availability
    assert float(ds.pv_power.min()) >= 0.0
    assert float(ds.pv_power.max()) <= rating * (1 + 1e-9)
    dark = ((ds.ghi == 0) & (ds.dni == 0) & (ds.dhi == 0)).to_numpy()
    assert dark.sum() > 3000 and np.all(ds.pv_power.to_numpy()[dark] == 0.0)
    # clipping happens with a DC/AC ratio of 1.3 at a high, cold site
    assert float(ds.pv_power.max()) == pytest.approx(rating, rel=1e-6)


def test_tracker_beats_fixed_and_bifacial_adds_a_plausible_gain(golmud_site, golmud_weather):
    energy = {}
    for label, update in {"fixed": {"mounting": "fixed", "tilt_deg": 30.0},
                          "tracker": {"mounting": "single_axis"},
                          "bifacial": {"mounting": "single_axis", "bifaciality": 0.7}}.items():
        site = with_pv(golmud_site, dc_ac_ratio=1.0, **{**LOSSLESS, **update})
        energy[label] = float(simulate(golmud_weather, site).pv_power.sum())
    assert 1.10 < energy["tracker"] / energy["fixed"] < 1.40  # single-axis gain in a sunny climate
    # bifacial gain of trackers over sand (albedo 0.40): measured 3-12 % in the field (Rodriguez-
    # Gallegos et al. 2020 model 5-9 % at albedo 0.25-0.5 for 1-axis)
    assert 1.03 < energy["bifacial"] / energy["tracker"] < 1.15


def test_hot_hours_are_derated(golmud_site, golmud_weather):
    hot = golmud_weather.copy()
    hot["temp_air"] = hot["temp_air"] * 0 + 55.0  # every hour above 50 degC
    site = with_pv(golmud_site, derate_start_degc=35.0, derate_end_degc=50.0,
                   derate_end_fraction=0.9)
    ds = simulate(hot, site).isel(site=0)
    assert float(ds.pv_power.max()) <= 0.9 * golmud_site.pv.capacity_wp / golmud_site.pv.dc_ac_ratio


def test_kimber_soiling_grows_daily_and_is_cleaned_manually_and_by_rain(golmud_site,
                                                                        golmud_weather):
    site = with_pv(golmud_site, soiling="kimber", soiling_rate_per_day=0.004,
                   cleaning_interval_days=20)
    loss = simulate(golmud_weather, site).soiling_loss.isel(site=0).to_series()
    assert loss.max() <= 0.004 * 20 + 1e-9 and loss.max() > 0.004 * 19
    assert loss.loc["2025-01-21 00:00"] == 0.0  # manual cleaning every 20 days from 1 January
    assert "only manual cleaning" in simulate(golmud_weather, site).attrs["soiling_note"]
    wet = golmud_weather.copy()
    wet["precipitation"] = ("time", np.where(wet.time.dt.strftime("%m-%d %H") == "03-05 12",
                                             20.0, 0.0))
    wet_loss = simulate(wet, with_pv(site, cleaning_interval_days=None)).soiling_loss.isel(site=0)
    dry_loss = simulate(golmud_weather, with_pv(site, cleaning_interval_days=None)).soiling_loss
    assert float(wet_loss.sel(time="2025-03-06 00:00")) == 0.0  # rain cleaned, grace period runs
    assert float(dry_loss.isel(site=0).sel(time="2025-03-06 00:00")) > 0.2


def test_kimber_soiling_shared_by_sites_and_runs_is_each_sites_own(golmud_site, golmud_weather):
    """Sites and runs with the same hours, parameters and rain share one Kimber result
    (twin.solar._KIMBER): each site's loss is still pvlib.soiling.kimber of its own inputs,
    run after run, whatever ran before (no cleaning interval, 10 and 20 days, two rates)."""
    from twin.simulate import simulate

    rates = (0.004, 0.004, 0.002, 0.004)
    intervals = (20, 20, 20, None)
    sites = [with_pv(golmud_site, soiling="kimber", soiling_rate_per_day=r,
                     cleaning_interval_days=d).model_copy(update={"id": f"g{i}"})
             for i, (r, d) in enumerate(zip(rates, intervals))]
    weather = {s.id: golmud_weather for s in sites}
    index = pd.DatetimeIndex(golmud_weather.time.values)
    for _ in range(2):
        loss = simulate(weather, sites, until="generation").soiling_loss.values
        for i, (s, d) in enumerate(zip(sites, intervals)):
            wash = pd.DatetimeIndex([]) if d is None else pd.date_range(
                index[0].normalize(), index[-1], freq=f"{d}D")[1:]
            expected = pvlib.soiling.kimber(
                pd.Series(0.0, index=index), cleaning_threshold=s.pv.cleaning_threshold_mm,
                soiling_loss_rate=s.pv.soiling_rate_per_day, max_soiling=s.pv.max_soiling,
                manual_wash_dates=wash)
            np.testing.assert_array_equal(loss[i], expected.to_numpy(), err_msg=s.id)


def test_hsu_soiling_needs_particulate_data(golmud_site, golmud_weather):
    site = with_pv(golmud_site, soiling="hsu")
    with pytest.raises(ValueError, match="pm2_5 and pm10"):
        simulate(golmud_weather, site)
    dusty = golmud_weather.copy()
    dusty["pm2_5"] = ("time", np.full(dusty.sizes["time"], 60.0))
    dusty["pm10"] = ("time", np.full(dusty.sizes["time"], 200.0))
    loss = simulate(dusty, site).soiling_loss.isel(site=0).to_numpy()
    assert 0 < loss.max() < 0.3 and loss[24 * 5] > loss[24]  # accumulates between cleanings


def test_missing_weather_is_refused_or_stays_in_its_hour(golmud_site, golmud_weather):
    holed = golmud_weather.copy(deep=True)
    holed["ghi"][4000] = np.nan
    with pytest.raises(WeatherError, match="ghi.*missing value.*allow_missing"):
        simulate(holed, golmud_site)
    clean = simulate(golmud_weather, golmud_site).pv_power.isel(site=0).to_numpy()
    ds = simulate(holed, golmud_site, allow_missing=True).pv_power.isel(site=0).to_numpy()
    assert np.isnan(ds[4000]) and np.isfinite(np.delete(ds, 4000)).all()
    assert np.array_equal(np.delete(ds, 4000), np.delete(clean, 4000))


def test_fuentes_does_not_spread_a_missing_hour(golmud_site, golmud_weather):
    holed = golmud_weather.copy(deep=True)
    holed["temp_air"][100] = np.nan
    site = with_pv(golmud_site, temperature_model="fuentes")
    temp = simulate(holed, site, allow_missing=True).temp_cell.isel(site=0).to_numpy()
    assert np.isnan(temp[100]) and np.isfinite(np.delete(temp, 100)).all()
    ref = simulate(golmud_weather, site).temp_cell.isel(site=0).to_numpy()
    assert np.allclose(temp[:100], ref[:100]) and np.allclose(temp[200:], ref[200:], atol=0.05)


def test_row_shading_diffuse_reflection_and_spectrum_cost_plausible_energy(golmud_site,
                                                                           golmud_weather):
    base = with_pv(golmud_site, dc_ac_ratio=1.0, **LOSSLESS)
    energy = {"none": float(simulate(golmud_weather, base).pv_power.sum())}
    for step, value in (("row_sky_shading", True), ("diffuse_iam", True), ("spectral", "airmass")):
        site = with_pv(base, **{step: value})
        energy[step] = float(simulate(golmud_weather, site).pv_power.sum())
    # a sunny, high site: diffuse is ~25 % of the plane-of-array light
    assert 0.995 > energy["row_sky_shading"] / energy["none"] > 0.97  # gcr 0.33 trackers
    assert 0.995 > energy["diffuse_iam"] / energy["none"] > 0.97
    assert 1.02 > energy["spectral"] / energy["none"] > 0.97


def test_spectral_modifier_uses_the_sites_pressure(golmud_site, golmud_weather):
    """Thin air at 2,800 m: lower absolute air mass, a different (bluer) spectrum than sea level."""
    site = with_pv(golmud_site, **{**LOSSLESS, "spectral": "airmass"})
    high = simulate(golmud_weather, site).pv_power.sum()
    sea = golmud_weather.copy()
    sea["pressure"] = sea["pressure"] * 101325.0 / float(golmud_weather.pressure.mean())
    low = simulate(sea, site).pv_power.sum()
    assert float(high) != pytest.approx(float(low), rel=1e-3)


@pytest.mark.parametrize("field, label, known", [
    ("transposition", "transposition", TRANSPOSITIONS),
    ("spectral", "spectral model", SPECTRAL_MODELS),
    ("temperature_model", "temperature model", TEMPERATURE_MODELS),
    ("soiling", "soiling model", SOILING_MODELS),
])
def test_unknown_model_name_is_refused(golmud_site, golmud_weather, field, label, known):
    """Each model dispatch of pv_power refuses a name it does not know, listing the known ones,
    also in arrays that never passed the site file's validation."""
    p = dataclasses.replace(PVArrays.from_configs([golmud_site.pv]), **{field: np.array(["bogus"])})
    wx = golmud_weather.isel(time=slice(0, 48))
    weather = {v: wx[v].values[None, :] for v in ("ghi", "dni", "dhi", "temp_air", "wind_speed",
                                                   "pressure")}
    weather.update(latitude=np.array([golmud_site.latitude]),
                   longitude=np.array([golmud_site.longitude]),
                   altitude=np.array([golmud_site.altitude_m]))
    with pytest.raises(ValueError, match=f"unknown {label} 'bogus'; known: {', '.join(known)}$"):
        pv_power(p, wx["time"].values, weather)


def test_unknown_mounting_is_refused(golmud_site):
    with pytest.raises(ValueError, match=f"unknown mounting 'dual_axis'; known: "
                                         f"{', '.join(MOUNTINGS)}$"):
        PVArrays.from_configs([with_pv(golmud_site, mounting="dual_axis").pv])
