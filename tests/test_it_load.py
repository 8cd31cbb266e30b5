"""IT load model (twin.it_load): the log2 utilisation curve, the DGX H100 nameplate, leakage and
fan responses to inlet temperature, liquid-cooled servers, energy closure, the China Standard Time
daily profile, and loud failures on bad inputs."""

import math

import numpy as np
import pandas as pd
import pytest

from sites import get_site
from sites.catalog import SERVER_MODELS
from tests.conftest import with_settings
from twin import model_names
from twin.it_load import (
    SERVERS,
    ITArrays,
    ServerSpec,
    accelerator_power,
    design_it_power,
    it_power,
    servers_from_gpus,
    utilisation_series,
)


def one_site(model="H100", count=1, u=1.0, inlet=22.5, **kwargs):
    """it_power for one site over the hours given by ``u`` / ``inlet`` (broadcast together)."""
    u, inlet = np.broadcast_arrays(np.atleast_1d(np.asarray(u, float)),
                                   np.atleast_1d(np.asarray(inlet, float)))
    return it_power(np.array([model]), np.array([count]), u[None, :], inlet[None, :], **kwargs)


def test_server_table_is_complete_and_sourced():
    assert set(SERVERS) == set(SERVER_MODELS)  # every model a site file may name
    for name, spec in SERVERS.items():
        assert isinstance(spec, ServerSpec)
        assert spec.accelerator_idle_w <= spec.accelerator_max_w, name
        assert spec.host_idle_w <= spec.host_max_w, name
        assert spec.source
    for name in ("H100", "H200"):
        assert SERVERS[name].accelerators == 8 and SERVERS[name].accelerator_max_w == 700
        assert 60 <= SERVERS[name].accelerator_idle_w <= 100  # reference/cooling.md 2.3 [A]
    assert SERVERS["CPU"].accelerators == 0
    assert "ASSUMPTION" in SERVERS["CPU"].source


@pytest.mark.parametrize("u", [0.0, 0.5, 1.0])
def test_log2_curve(u):
    p_max, p_idle = 700.0, 75.0
    expected = p_idle + (p_max - p_idle) * math.log2(1 + u)
    assert accelerator_power(p_max, p_idle, u) == pytest.approx(expected)
    assert accelerator_power(p_max, p_idle, 0.0) == pytest.approx(p_idle)
    assert accelerator_power(p_max, p_idle, 1.0) == pytest.approx(p_max)
    assert accelerator_power(p_max, p_idle, 0.5) == pytest.approx(75 + 625 * 0.5849625007)


def test_h100_server_full_load_matches_dgx_h100_maximum():
    p = one_site("H100", u=1.0, inlet=22.5)["it_power"][0, 0]
    assert abs(p - 10_200.0) <= 0.10 * 10_200.0
    assert design_it_power(np.array(["H100"]), np.array([1]))[0] == pytest.approx(p)


def test_design_it_power_scales_with_count_and_matches_it_power():
    models = np.array(["H100", "Ascend910B", "CPU"])
    count = np.array([10, 20, 3])
    design = design_it_power(models, count)
    ours = it_power(models, count, np.ones((3, 1)), np.full((3, 1), 22.5))["it_power"][:, 0]
    assert np.allclose(design, ours)
    assert design[2] == pytest.approx(3 * 800.0, rel=0.05)


@pytest.mark.parametrize("model", sorted(SERVERS))
@pytest.mark.parametrize("liquid_fraction", [0.0, 0.8])
def test_monotone_in_inlet_temperature(model, liquid_fraction):
    inlet = np.linspace(-5.0, 45.0, 201)
    for u in (0.0, 0.3, 1.0):
        kwargs = {}
        if liquid_fraction:
            kwargs = {"coolant_temp_degc": np.full((1, inlet.size), 35.0),
                      "leak_reference_liquid_degc": 30.0}
        out = one_site(model, u=u, inlet=inlet, liquid_fraction=liquid_fraction, **kwargs)
        p = out["it_power"][0]
        assert np.all(np.diff(p) >= 0), (model, u)
        assert p[-1] > p[0]


@pytest.mark.parametrize("model", sorted(SERVERS))
def test_monotone_in_utilisation(model):
    u = np.linspace(0.0, 1.0, 101)
    for inlet in (10.0, 22.5, 35.0):
        p = one_site(model, u=u, inlet=inlet)["it_power"][0]
        assert np.all(np.diff(p) > 0), (model, inlet)


def test_leakage_about_two_percent_from_16_to_28_degc():
    out = one_site("H100", u=1.0, inlet=[16.0, 28.0])
    chips = out["it_power"][0] - out["server_fan_power"][0]
    assert chips[1] / chips[0] - 1 == pytest.approx(0.02, abs=0.003)
    # the fans, not leakage, drive the rest of the rise
    assert out["server_fan_power"][0, 1] > out["server_fan_power"][0, 0]


def test_leakage_is_floored_far_below_reference():
    chips = [one_site("H100", u=1.0, inlet=t) for t in (-30.0, 12.5)]
    chips = [o["it_power"][0, 0] - o["server_fan_power"][0, 0] for o in chips]
    assert chips[0] == pytest.approx(chips[1])
    assert chips[1] / (8 * 700 + 3100) == pytest.approx(1 - 0.0017 * 10)


def test_liquid_leakage_follows_coolant_not_air():
    kwargs = {"liquid_fraction": 1.0, "leak_reference_liquid_degc": 30.0}
    cold = one_site("H100", inlet=22.5, coolant_temp_degc=np.array([[30.0]]), **kwargs)
    warm = one_site("H100", inlet=22.5, coolant_temp_degc=np.array([[40.0]]), **kwargs)
    hot_air = one_site("H100", inlet=24.5, coolant_temp_degc=np.array([[30.0]]), **kwargs)
    assert warm["heat_to_liquid"][0, 0] / cold["heat_to_liquid"][0, 0] == pytest.approx(1.017)
    assert hot_air["heat_to_liquid"][0, 0] == pytest.approx(cold["heat_to_liquid"][0, 0])


@pytest.mark.parametrize("liquid_fraction", [0.7, 0.8, 0.9])
def test_liquid_servers_have_70_to_90_percent_less_fan_power(liquid_fraction):
    u, inlet = np.array([0.2, 0.7, 1.0]), np.array([20.0, 27.0, 33.0])
    air = one_site("H200", u=u, inlet=inlet)["server_fan_power"][0]
    liquid = one_site("H200", u=u, inlet=inlet, liquid_fraction=liquid_fraction,
                      coolant_temp_degc=np.full((1, 3), 32.0),
                      leak_reference_liquid_degc=32.0)["server_fan_power"][0]
    reduction = 1 - liquid / air
    assert np.all((reduction >= 0.7 - 1e-12) & (reduction <= 0.9 + 1e-12))


def test_energy_closes_and_scales_with_server_count():
    rng = np.random.default_rng(3)
    models = np.array(["H100", "Ascend910C", "CPU", "Ascend910B"])
    count = np.array([1000, 512, 40, 0])
    u = rng.uniform(0, 1, (4, 48))
    inlet = rng.uniform(10, 40, (4, 48))
    coolant = rng.uniform(25, 45, (4, 48))
    coolant[2] = np.nan  # air-cooled site: its coolant temperature is not used
    out = it_power(models, count, u, inlet, coolant, liquid_fraction=np.array([0.8, 0.6, 0.0, 0.9]),
                   leak_reference_liquid_degc=np.array([30.0, 35.0, 30.0, 40.0]))
    for name in ("it_power", "server_fan_power", "heat_to_liquid", "heat_to_air"):
        assert out[name].shape == (4, 48) and np.isfinite(out[name]).all()
    assert np.allclose(out["heat_to_liquid"] + out["heat_to_air"], out["it_power"])
    assert (out["heat_to_air"] >= out["server_fan_power"]).all()
    assert np.all(out["it_power"][3] == 0)
    one = it_power(models[:1], [1], u[:1], inlet[:1], coolant[:1], liquid_fraction=0.8,
                   leak_reference_liquid_degc=30.0)
    assert np.allclose(out["it_power"][0], 1000 * one["it_power"][0])


def test_daily_profile_is_in_china_standard_time():
    time = pd.date_range("2025-01-01", periods=48, freq="h")  # UTC hour starts
    profile = np.zeros(24)
    profile[14] = 1.0  # 14:00 CST
    u = utilisation_series(time, [profile, 0.4])
    assert u.shape == (2, 48)
    assert list(time[u[0] == 1.0].hour) == [6, 6]  # 06:00 UTC on both days
    assert u[0].sum() == 2.0
    assert np.all(u[1] == 0.4)
    aware = utilisation_series(time.tz_localize("UTC").tz_convert("Asia/Shanghai"), [profile])
    assert np.array_equal(aware[0], u[0])


def test_utilisation_series_passes_through_a_site_time_array():
    time = pd.date_range("2025-06-01", periods=5, freq="h")
    user = np.array([[0.0, 0.1, 0.2, 0.3, 0.4]])
    assert np.array_equal(utilisation_series(time, user), user)


@pytest.mark.parametrize("bad", [1.2, np.nan, -0.1])
def test_utilisation_series_rejects_bad_values(bad):
    time = pd.date_range("2025-01-01", periods=24, freq="h")
    profile = np.full(24, 0.5)
    profile[14] = bad  # 14:00 CST = 06:00 UTC, hour index 6
    with pytest.raises(ValueError, match=r"site index 1.*hour 6 \(2025-01-01 06:00:00\)"):
        utilisation_series(time, [0.3, profile])
    with pytest.raises(ValueError, match="site index 0"):
        utilisation_series(time, [bad])


def test_utilisation_series_rejects_wrong_profile_length():
    time = pd.date_range("2025-01-01", periods=24, freq="h")
    with pytest.raises(ValueError, match="site index 0.*24"):
        utilisation_series(time, [np.full(12, 0.5)])


def test_unknown_model_lists_known_ones():
    with pytest.raises(ValueError, match=r"unknown server model 'A100'.*H100.*Ascend910B.*CPU"):
        one_site("A100")
    with pytest.raises(ValueError, match="unknown server model"):
        design_it_power(np.array(["B200"]), np.array([1]))


@pytest.mark.parametrize("bad", [1.2, np.nan])
def test_it_power_rejects_bad_utilisation(bad):
    u = np.full((2, 5), 0.5)
    u[1, 3] = bad
    with pytest.raises(ValueError, match=r"utilisation at site index 1, hour 3"):
        it_power(np.array(["H100", "CPU"]), np.array([1, 1]), u, np.full((2, 5), 20.0))


def test_negative_server_count_raises():
    with pytest.raises(ValueError, match=r"server_count at site index 1 is -5"):
        it_power(np.array(["H100", "CPU"]), np.array([1, -5]), np.ones((2, 3)),
                 np.full((2, 3), 20.0))
    with pytest.raises(ValueError, match="server_count"):
        design_it_power(np.array(["H100"]), np.array([-1]))


def test_liquid_cooling_needs_coolant_temperature_and_reference():
    with pytest.raises(ValueError, match="coolant_temp_degc"):
        one_site("H100", liquid_fraction=0.8, leak_reference_liquid_degc=30.0)
    with pytest.raises(ValueError, match="leak_reference_liquid_degc"):
        one_site("H100", liquid_fraction=0.8, coolant_temp_degc=np.array([[30.0]]))
    with pytest.raises(ValueError, match=r"coolant_temp_degc at site index 0, hour 0"):
        one_site("H100", liquid_fraction=0.8, coolant_temp_degc=np.array([[np.nan]]),
                 leak_reference_liquid_degc=30.0)
    with pytest.raises(ValueError, match="liquid_fraction at site index 0"):
        one_site("H100", liquid_fraction=1.5)


def test_inlet_temperature_in_kelvin_or_nan_raises():
    with pytest.raises(ValueError, match=r"inlet_temp_degc at site index 0, hour 1.*Kelvin"):
        one_site("H100", u=[1.0, 1.0], inlet=[22.0, 295.15])
    with pytest.raises(ValueError, match="inlet_temp_degc"):
        one_site("H100", inlet=np.nan)


def test_server_models_are_the_server_table_in_order():
    """The names site files are validated against are the keys of the server table."""
    assert model_names.SERVER_MODELS == tuple(SERVERS)
    assert SERVER_MODELS is model_names.SERVER_MODELS


def test_gpu_count_gives_whole_servers_and_their_design_power():
    models = np.array(["H100", "H100", "CPU", "Ascend910C"])
    count, design = servers_from_gpus(models, np.array([1000, 1001, 10, 7]))
    np.testing.assert_array_equal(count, [125, 126, 10, 1])  # 8 per server; CPU: servers
    np.testing.assert_array_equal(design, design_it_power(models, count))
    assert design[0] == 125 * SERVERS["H100"].max_w
    assert servers_from_gpus(["H100"], [1001])[1][0] == 126 * SERVERS["H100"].max_w  # a job
    with pytest.raises(ValueError, match=r"unknown server model 'B200'; known: H100, H200"):
        servers_from_gpus(np.array(["B200"]), np.array([8]))


def test_it_arrays_from_site_configurations():
    """ITArrays stacks the sites' IT settings; its hourly utilisation is the daily profiles'
    (utilisation_series), and subset takes sites."""
    hami = with_settings(get_site("hami"), "it", utilisation=[0.3] * 8 + [0.9] * 16)
    configs, ids = [hami.it, get_site("wuhu").it], ["hami", "wuhu"]
    it = ITArrays.from_configs(configs, ids)
    assert it.site_ids.tolist() == ids
    assert it.server_model.tolist() == [c.gpu_model for c in configs]
    np.testing.assert_array_equal(it.gpu_count, [c.gpu_count for c in configs])
    np.testing.assert_array_equal(it.capacity_w, [c.capacity_w for c in configs])
    time = pd.date_range("2025-03-01", periods=72, freq="h")
    np.testing.assert_array_equal(it.hourly_utilisation(time),
                                  utilisation_series(time, [c.utilisation for c in configs]))
    assert it.subset(slice(1, 2)).site_ids.tolist() == ["wuhu"]
    with pytest.raises(ValueError, match="2 site ids for 1 IT configurations"):
        ITArrays.from_configs(configs[:1], ids)
