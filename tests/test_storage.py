"""The hourly power balance (twin.storage) and its place in simulate(): closure every hour, the
state of charge within its limits, a hand-worked battery, the grid limit, self-discharge, missing
hours, carbon and cost against an independent calculation, the summary, and bad settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sites import SiteError, get_site, load_site
from tests.conftest import hami_data, with_settings, write_site
from twin.simulate import simulate
from twin.storage import BatteryArrays, balance_summary, power_balance


def battery(energy_wh, power_w, rte=1.0, soc_min=0.0, soc_max=1.0, per_day=0.0, initial=0.0):
    one = {"energy_wh": energy_wh, "power_w": power_w, "round_trip_efficiency": rte,
           "soc_min": soc_min, "soc_max": soc_max, "self_discharge_per_day": per_day,
           "initial_soc": initial}
    return BatteryArrays.from_configs([type("B", (), one)])


@pytest.fixture(scope="module")
def catalog_year():
    """Three catalog sites for a synthetic year: batteries of different sizes, one site without
    a battery and one whose grid connection is too small for its demand."""
    hami, wuhu = get_site("hami"), get_site("wuhu")
    golmud = with_settings(get_site("golmud"), "battery", energy_wh=0.0, power_w=0.0)
    tight = with_settings(wuhu, "grid", import_capacity_w=0.5 * wuhu.it.capacity_w)
    return simulate(None, [hami, golmud, tight], until="balance")


def test_balance_closes_every_hour(catalog_year):
    ds = catalog_year
    supply = ds["renewable_power"] + ds["battery_power"] + ds["grid_import"] + \
        ds["unserved_power"]
    use = ds["facility_power"] + ds["curtailment"]
    np.testing.assert_allclose(supply, use, rtol=1e-12, atol=1e-6)
    for v in ("grid_import", "curtailment", "unserved_power"):
        assert (ds[v] >= 0).all(), v
    assert (ds["grid_import"] <= ds["grid_import_capacity"] + 1e-6).all()
    # the grid never carries what renewables could have carried, and nothing is curtailed while
    # the grid imports (beyond rounding: 1e-10 W residues of the balance's subtractions occur)
    assert not ((ds["grid_import"] > 1e-6) & (ds["curtailment"] > 1e-6)).any()


def test_state_of_charge_stays_within_its_limits(catalog_year):
    ds = catalog_year
    for sid in ("hami", "wuhu"):
        site, soc = get_site(sid), ds["battery_soc"].sel(site=sid).values
        assert (soc.min() >= site.battery.soc_min - 1e-12
                and soc.max() <= site.battery.soc_max + 1e-12)
        assert soc.max() - soc.min() > 0.5, f"{sid}: the battery should cycle over a year"
        power = np.abs(ds["battery_power"].sel(site=sid).values)
        assert power.max() <= site.battery.power_w * (1 + 1e-12)
    np.testing.assert_array_equal(ds["battery_soc"].sel(site="golmud"), 0.0)
    np.testing.assert_array_equal(ds["battery_power"].sel(site="golmud"), 0.0)


def test_grid_limit_leaves_demand_unserved(catalog_year):
    wuhu = catalog_year.sel(site="wuhu")
    short = wuhu["unserved_power"] > 0
    assert short.any(), "half the IT capacity of import cannot carry Wuhu's nights"
    np.testing.assert_allclose(wuhu["grid_import"].values[short.values],
                               0.5 * get_site("wuhu").it.capacity_w)
    assert (catalog_year["unserved_power"].sel(site=["hami", "golmud"]) == 0).all()


def test_a_battery_worked_by_hand():
    """10 Wh, 4 W, 81 % round trip (90 % each way), empty at the start: three hours of 5 W surplus,
    then three of 6 W deficit with a 1 W grid connection."""
    b = battery(10.0, 4.0, rte=0.81)
    renewable = np.array([[5.0, 5.0, 5.0, 0.0, 0.0, 0.0]])
    demand = np.array([[0.0, 0.0, 0.0, 6.0, 6.0, 6.0]])
    out = power_balance(b, renewable, demand, np.array([1.0]))
    charge_3 = (10.0 - 7.2) / 0.9  # room left after two hours of 4 W x 0.9
    stored_5 = 10.0 - 2 * 4.0 / 0.9  # after two hours of 4 W out
    last = stored_5 * 0.9  # all that is left, delivered in hour 6
    np.testing.assert_allclose(out["battery_power"][0], [-4, -4, -charge_3, 4, 4, last])
    np.testing.assert_allclose(out["battery_soc"][0], [0.36, 0.72, 1.0, (10 - 4 / 0.9) / 10,
                                                       stored_5 / 10, 0.0], atol=1e-12)
    np.testing.assert_allclose(out["curtailment"][0], [1, 1, 5 - charge_3, 0, 0, 0])
    np.testing.assert_allclose(out["grid_import"][0], [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(out["unserved_power"][0], [0, 0, 0, 1, 1, 6 - last - 1])
    np.testing.assert_allclose(out["battery_dischargeable_power"][0, 3:], [4, 4, last])


def test_self_discharge_stops_at_the_reserve():
    b = battery(100.0, 10.0, soc_min=0.2, per_day=0.5, initial=0.9)
    hours = 24 * 10
    out = power_balance(b, np.zeros((1, hours)), np.zeros((1, hours)), np.array([0.0]))
    soc = out["battery_soc"][0]
    np.testing.assert_allclose(soc[23], 0.9 * 0.5, rtol=1e-9)  # half gone in a day
    assert (np.diff(soc) <= 0).all() and soc.min() == pytest.approx(0.2)


def test_missing_hour_moves_nothing_and_is_nan():
    b = battery(10.0, 5.0)
    renewable = np.array([[4.0, np.nan, 0.0]])
    out = power_balance(b, renewable, np.array([[0.0, 1.0, 3.0]]), np.array([10.0]))
    for v in out.values():
        assert np.isnan(v[0, 1]) and np.isfinite(v[0, [0, 2]]).all()
    np.testing.assert_allclose(out["battery_power"][0, [0, 2]], [-4.0, 3.0])


def test_emissions_and_cost_by_china_standard_time_hour():
    """Carbon as a daily profile and the default time-of-use tariff, checked by an independent
    hour-of-day lookup through pandas' Asia/Shanghai time zone."""
    profile = [300.0] * 8 + [600.0] * 16
    site = with_settings(get_site("wuhu"), "grid", carbon_intensity_g_per_kwh=profile)
    ds = simulate(None, site, until="balance")
    local_hour = pd.DatetimeIndex(ds["time"].values).tz_localize("UTC").tz_convert(
        "Asia/Shanghai").hour
    grid_kwh = ds["grid_import"].values[0] / 1000.0
    tariff = np.array(site.grid.tariff_per_kwh)
    summary = balance_summary_without_availability(ds)
    assert summary.loc["wuhu", "emissions_t"] == pytest.approx(
        (grid_kwh * np.array(profile)[local_hour]).sum() / 1e6, rel=1e-12)
    assert summary.loc["wuhu", "cost"] == pytest.approx((grid_kwh * tariff[local_hour]).sum(),
                                                        rel=1e-12)
    assert ds["grid_cost"].attrs["units"] == "h-1" and ds["grid_cost"].attrs["currency"] == "CNY"


def balance_summary_without_availability(ds):
    ds = ds.assign(it_available_power=ds["facility_power"] * 0.0)
    return balance_summary(ds)


def test_summary_counts_energy(catalog_year):
    ds = catalog_year
    summary = balance_summary_without_availability(ds)
    facility = ds["facility_power"].sum("time")
    renewable_used = facility - ds["grid_import"].sum("time") - ds["unserved_power"].sum("time")
    np.testing.assert_allclose(summary["renewable_fraction"], renewable_used / facility)
    assert ((summary["renewable_fraction"] > 0) & (summary["renewable_fraction"] < 1)).all()
    fully = ((ds["grid_import"] == 0) & (ds["unserved_power"] == 0)).sum("time")
    np.testing.assert_array_equal(summary["hours_fully_renewable"], fully)
    assert summary.loc["golmud", "battery_cycles"] == 0
    hami = get_site("hami").battery  # cycles: discharged energy over the energy rating
    hours = ds.sizes["time"]
    assert 10 < summary.loc["hami", "battery_cycles"] <= hours * hami.power_w / hami.energy_wh / 2


@pytest.mark.parametrize("table, key, value, named", [
    ("battery", "power_w", 0.0, "power_w"),
    ("battery", "soc_min", 0.96, "soc_min"),
    ("battery", "initial_soc", 0.01, "initial_soc"),
    ("battery", "round_trip_efficiency", 1.2, "round_trip_efficiency"),
    ("grid", "tariff_per_kwh", [0.5] * 23, "tariff_per_kwh"),
    ("grid", "carbon_intensity_g_per_kwh", -1.0, "carbon_intensity_g_per_kwh"),
])
def test_bad_battery_or_grid_settings_are_refused(tmp_path, table, key, value, named):
    data = hami_data()
    data[table][key] = value
    path = write_site(tmp_path, "bad_site", data)
    with pytest.raises(SiteError) as err:
        load_site(path)
    assert named in str(err.value) and str(path) in str(err.value)
    assert err.value.field.startswith(table), err.value.field


def test_sites_in_different_currencies_are_refused():
    usd = with_settings(get_site("hami"), "grid", currency="USD")
    usd = usd.model_copy(update={"id": "hami_usd"})
    with pytest.raises(ValueError, match="different currencies"):
        simulate(None, [get_site("golmud"), usd], until="balance")


def test_inputs_broadcast_and_a_wrong_shape_is_refused():
    """A constant demand ``(S, 1)`` is every hour's; arrays that are not (site, time) for the
    batteries' sites are refused in one line (the compiled loop would read past them)."""
    b = battery(10.0, 5.0)
    renewable = np.array([[4.0, 0.0, 1.0]])
    hourly = power_balance(b, renewable, np.full((1, 3), 2.0), np.array([10.0]))
    constant = power_balance(b, renewable, np.array([[2.0]]), np.array([10.0]))
    for k in hourly:
        np.testing.assert_array_equal(constant[k], hourly[k], err_msg=k)
    with pytest.raises(ValueError, match="expected \\(site, time\\) with 1 sites"):
        power_balance(b, np.zeros((2, 3)), np.zeros((2, 3)), np.array([10.0, 10.0]))
    with pytest.raises(ValueError, match="expected \\(site, time\\)"):
        power_balance(b, np.zeros(3), np.zeros(3), np.array([10.0]))


def test_per_site_parameters_broadcast_and_a_wrong_length_is_refused():
    """The grid's import capacity and the batteries' parameters are one value per site: a
    single value is every site's, another length is refused in one line (the compiled loop
    has no bounds checks: a scalar capacity gave the second and third sites whatever memory
    followed it)."""
    b = BatteryArrays(**{k: np.repeat(v, 3) for k, v in vars(battery(0.0, 0.0)).items()})
    renewable, demand = np.zeros((3, 4)), np.full((3, 4), 5.0)
    scalar = power_balance(b, renewable, demand, 2.0)
    per_site = power_balance(b, renewable, demand, np.full(3, 2.0))
    for k in per_site:
        np.testing.assert_array_equal(scalar[k], per_site[k], err_msg=k)
    np.testing.assert_array_equal(per_site["grid_import"], 2.0)
    with pytest.raises(ValueError, match="import_capacity_w must be a scalar or have one value "
                                         "per site \\(3\\), got shape \\(2,\\)"):
        power_balance(b, renewable, demand, np.full(2, 2.0))
    two_powers = BatteryArrays(**{**vars(b), "power_w": np.zeros(2)})
    with pytest.raises(ValueError, match="power_w must be a scalar or have one value per site "
                                         "\\(3\\), got shape \\(2,\\)"):
        power_balance(two_powers, renewable, demand, np.full(3, 2.0))
