"""Wind model (twin.wind): power curve against windpowerlib, density at altitude, profiles, the
wind-farm scaling, cut-out and bounds."""

import numpy as np
import pytest
from windpowerlib import power_output

from tests.conftest import with_settings
from twin.model_names import DENSITY_CORRECTIONS, WAKE_MODELS, WIND_PROFILES
from twin.simulate import normals_wind_mean, simulate
from twin.wind import (
    WindArrays,
    air_density_hub,
    hub_wind_speed,
    power_curve,
    turbine_power,
    wind_power,
)


def with_wind(site, **update):
    return with_settings(site, "wind", **update)


@pytest.fixture(scope="module")
def golmud_weather(golmud_site):
    return golmud_site.weather(year=2025, seed=2)


def arrays(site, **update) -> WindArrays:
    return WindArrays.from_configs([with_wind(site, **update).wind])


def test_power_curve_at_standard_density_equals_windpowerlib(golmud_site):
    w = arrays(golmud_site, wake_model="constant", array_efficiency=1.0)
    speeds, values, nominal = power_curve(golmud_site.wind.turbine_type)
    v = np.linspace(0, 24.9, 500)[None, :]
    ours = turbine_power(w, v, np.full_like(v, 1.225))
    ref = power_output.power_curve(v[0], speeds, values, density_correction=False)
    assert np.allclose(ours[0], ref)
    assert ours.max() == pytest.approx(nominal)


def test_cut_in_and_cut_out(golmud_site):
    w = arrays(golmud_site, wake_model="constant")
    speeds, values, _ = power_curve(golmud_site.wind.turbine_type)
    producing = np.flatnonzero(values > 0)
    cut_in, cut_out = speeds[producing[0] - 1], speeds[producing[-1]]  # last zero, last producing
    v = np.array([[cut_in - 0.1, cut_out - 0.1, cut_out + 0.1, 40.0]])
    p = turbine_power(w, v, np.full_like(v, 1.225))[0]
    assert p[0] == 0 and p[1] > 0 and p[2] == 0 and p[3] == 0


def test_air_density_at_sea_level_and_at_golmud(golmud_site):
    w = arrays(golmud_site, hub_height_m=2.0)
    sea = air_density_hub(w, np.array([[101325.0]]), np.array([[15.0]]))
    assert sea[0, 0] == pytest.approx(1.225, rel=2e-3)  # ISA sea level
    hub = arrays(golmud_site)
    rho = air_density_hub(hub, np.array([[72000.0]]), np.array([[5.0]]))  # Golmud, a mild day
    assert 0.85 < rho[0, 0] < 0.92


def test_density_correction_matters_at_altitude(golmud_site, golmud_weather):
    """At 2,800 m the air is ~27 % thinner; ignoring it overstates the annual energy."""
    energy = {c: float(simulate(golmud_weather, with_wind(golmud_site, density_correction=c))
                       .wind_power.sum()) for c in ("iec", "none")}
    assert 1.12 < energy["none"] / energy["iec"] < 1.45


def test_log_and_power_law_profiles(golmud_site):
    v10 = np.array([[5.0]])
    log = hub_wind_speed(arrays(golmud_site, profile="log", roughness_length_m=0.03), v10, 10.0)
    power = hub_wind_speed(arrays(golmud_site, profile="power", hellman_exponent=1 / 7), v10, 10.0)
    assert log[0, 0] == pytest.approx(5.0 * np.log(90 / 0.03) / np.log(10 / 0.03))
    assert power[0, 0] == pytest.approx(5.0 * 9 ** (1 / 7))


def test_hub_wind_is_scaled_to_the_wind_farm_mean(golmud_site, golmud_weather):
    ds = simulate(golmud_weather, golmud_site, wind_scaling="weather").isel(site=0)
    farm_mean = golmud_site.wind.hub_mean_wind_speed_m_s
    assert float(ds.wind_speed_hub.mean()) == pytest.approx(farm_mean)
    assert float(ds.wind_speed_scale) > 1  # a town station at 10 m sees less than the farms
    # with the long-term normals, a synthetic year lands near the target, not exactly on it
    ds = simulate(golmud_weather, golmud_site).isel(site=0)
    assert float(ds.wind_speed_hub.mean()) == pytest.approx(
        golmud_site.wind.hub_mean_wind_speed_m_s, rel=0.05)
    mean, height = normals_wind_mean(golmud_site)
    expected = golmud_site.wind.hub_mean_wind_speed_m_s / hub_wind_speed(
        arrays(golmud_site), np.array([[mean]]), height)[0, 0]
    assert float(ds.wind_speed_scale) == pytest.approx(expected)
    none = simulate(golmud_weather, golmud_site, wind_scaling="none").isel(site=0)
    assert float(none.wind_speed_scale) == 1.0


def test_scaling_to_the_farm_mean_cancels_the_shear_law(golmud_site, golmud_weather):
    """Both profile laws multiply the station wind by a constant, so once the hub wind is scaled
    to the farm mean the law and its roughness or exponent drop out (README: what the NREL SAM
    comparison tests); with wind_scaling="none" they matter."""
    laws = [{"profile": "log", "roughness_length_m": 0.0002},
            {"profile": "log", "roughness_length_m": 0.5},
            {"profile": "power", "hellman_exponent": 0.3}]
    for scaling in ("normals", "weather"):
        runs = [simulate(golmud_weather, with_wind(golmud_site, **law), wind_scaling=scaling)
                for law in laws]
        for run in runs[1:]:
            assert np.allclose(run.wind_speed_hub, runs[0].wind_speed_hub, rtol=1e-12)
            assert np.allclose(run.wind_power, runs[0].wind_power, rtol=1e-9)
    smooth, rough = (simulate(golmud_weather, with_wind(golmud_site, **law), wind_scaling="none")
                     for law in laws[:2])
    ratio = np.log(90 / 0.5) / np.log(10 / 0.5) / (np.log(90 / 0.0002) / np.log(10 / 0.0002))
    assert np.allclose(rough.wind_speed_hub, smooth.wind_speed_hub * ratio)


def test_farm_power_is_bounded_and_wakes_cost_energy(golmud_site, golmud_weather):
    ds = simulate(golmud_weather, golmud_site).isel(site=0)
    _, _, nominal = power_curve(golmud_site.wind.turbine_type)
    cap = nominal * golmud_site.wind.turbine_count
    assert float(ds.wind_capacity) == cap
    assert 0 <= float(ds.wind_power.min()) and float(ds.wind_power.max()) <= cap * 0.97 + 1e-6
    no_wake = simulate(golmud_weather, with_wind(golmud_site, wake_model="constant"))
    assert 1.0 < float(no_wake.wind_power.sum()) / float(ds.wind_power.sum()) < 1.15


def test_wind_speed_height_from_weather_is_honoured(golmud_site, golmud_weather):
    at2 = golmud_weather.copy()
    at2["wind_speed"].attrs["height"] = 2.0  # e.g. NSRDB: the same numbers measured lower
    a = simulate(golmud_weather, golmud_site, wind_scaling="none").wind_speed_hub
    b = simulate(at2, golmud_site, wind_scaling="none").wind_speed_hub
    ratio = np.log(10 / 0.03) / np.log(2 / 0.03)
    assert np.allclose(b, a * ratio)


@pytest.mark.parametrize("field, label, known", [
    ("profile", "wind profile", WIND_PROFILES),
    ("wake_model", "wake model", WAKE_MODELS),
    ("density_correction", "density correction", DENSITY_CORRECTIONS),
])
def test_unknown_model_name_is_refused(golmud_site, golmud_weather, field, label, known):
    """Each model dispatch of wind_power refuses a name it does not know, listing the known ones,
    also in arrays that never passed the site file's validation."""
    w = arrays(golmud_site, **{field: "bogus"})
    wx = golmud_weather.isel(time=slice(0, 24))
    with pytest.raises(ValueError, match=f"unknown {label} 'bogus'; known: {', '.join(known)}$"):
        wind_power(w, wx["wind_speed"].values[None, :], 10.0, wx["pressure"].values[None, :],
                   wx["temp_air"].values[None, :], np.ones(1))
