"""twin.sizing: the sizing programme against cases solved by hand, and against the twin."""

import math

import numpy as np
import pytest

from sites import get_site
from twin import sizing
from twin.sizing import Battery, Costs, Profiles

MW = 1e6
# a lossless battery with the whole window, empty at the start, keeping its charge
IDEAL = Battery(charge_efficiency=1.0, discharge_efficiency=1.0, soc_min=0.0, soc_max=1.0,
                keep_per_hour=1.0, initial_soc=0.0)
# only PV, battery and grid cost anything: wind is dear and never built
COSTS = Costs(pv_capex_per_w=1.0, pv_om_per_w_year=0.0, wind_capex_per_w=100.0,
              battery_capex_per_wh=0.5, battery_capex_per_w=0.2, battery_om_fraction=0.0,
              grid_capacity_per_w_year=0.1, discount_rate=0.0, pv_lifetime_years=10.0,
              wind_lifetime_years=10.0, battery_lifetime_years=10.0)


def _profiles(battery=IDEAL, price=0.45):
    """Four hours of 1 MW demand; 1 MWp of PV gives 1 MW in the first two, nothing after."""
    return Profiles(site=get_site("golmud"), demand_w=np.full(4, MW),
                    pv_per_wp=np.array([1.0, 1.0, 0.0, 0.0]), wind_per_w=np.zeros(4),
                    it_w=np.full(4, 0.8 * MW), water_l=0.0, grid_price_per_kwh=price,
                    carbon_g_per_kwh=500.0, turbine_w=2.5 * MW, battery=battery, weather="")


def test_capital_recovery_factor_is_the_annuity():
    # 6 % over 30 years: 0.072649 (any annuity table); no interest: 1/n
    assert sizing.capital_recovery_factor(0.06, 30) == pytest.approx(0.0726489, rel=1e-6)
    assert sizing.capital_recovery_factor(0.0, 20) == 0.05


def test_fully_renewable_with_a_lossless_battery():
    # by hand: 2 MWp covers hours 1-2 and charges 1 MW each, 2 MWh serve hours 3-4
    s = sizing.size(_profiles(), 1.0, costs=COSTS)
    assert (s.pv_wp, s.battery_wh, s.battery_w) == pytest.approx((2 * MW, 2 * MW, MW), rel=1e-5)
    assert s.grid_energy_wh == pytest.approx(0, abs=1e-3 * MW)
    assert s.turbines == 0 and s.renewable_fraction == pytest.approx(1.0, abs=1e-6)
    # annual cost: capital over 10 years at 0 %: 2 MWp x 1 + 2 MWh x 0.5 + 1 MW x 0.2 CNY/W
    assert s.annual_cost == pytest.approx((2 + 1 + 0.2) * MW / 10, rel=1e-5)


def test_battery_losses_are_made_up_by_more_pv():
    # eta 0.9 each way: the surplus (P - 1) x 2 h x 0.81 must deliver 2 MWh -> P = 1 + 1/0.81
    lossy = Battery(0.9, 0.9, 0.0, 1.0, 1.0, 0.0)
    s = sizing.size(_profiles(lossy), 1.0, costs=COSTS)
    pv = 1 + 1 / 0.81
    assert s.pv_wp == pytest.approx(pv * MW, rel=1e-4)
    assert s.battery_w == pytest.approx((pv - 1) * MW, rel=1e-4)  # charging is the larger flow
    assert s.battery_wh == pytest.approx(2 * (pv - 1) * 0.9 * MW, rel=1e-4)


def test_half_renewable_takes_the_grid_when_storage_is_dear():
    # 50 %: 1 MWp for hours 1-2 and 1 MW of grid for hours 3-4 beats a battery: a year costs
    # 1 MWp x 0.1 + 1 MW x 0.1 CNY/W and 2 MWh at 450 CNY/MWh
    s = sizing.size(_profiles(), 0.5, costs=COSTS)
    assert (s.pv_wp, s.battery_wh, s.grid_w) == pytest.approx((MW, 0, MW), abs=1e-3 * MW)
    assert s.grid_energy_wh == pytest.approx(2 * MW, rel=1e-5)
    assert s.annual_cost == pytest.approx(0.1 * MW + 0.1 * MW + 2 * 450, rel=1e-5)


def test_the_cost_curve_rises_with_the_target():
    curve = sizing.cost_curve(_profiles(), (0.5, 0.75, 1.0), costs=COSTS)
    assert list(curve.index) == [0.5, 0.75, 1.0]
    assert curve["annual_cost"].is_monotonic_increasing
    assert (curve["renewable_fraction"] >= curve.index - 1e-6).all()


def test_carbon_objective_builds_no_more_than_it_must():
    s = sizing.size(_profiles(), 1.0, objective="carbon", costs=COSTS)
    # fully renewable with a lossless battery: at least 2 MWp; PV is the only source
    assert s.pv_wp >= 2 * MW * (1 - 1e-5) and s.grid_energy_wh == pytest.approx(0, abs=1e3)


@pytest.mark.parametrize("target", [-0.1, 1.2, math.nan])
def test_a_target_outside_0_1_is_refused(target):
    with pytest.raises(ValueError, match="within 0..1"):
        sizing.size(_profiles(), target)


def test_an_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="known: cost, carbon"):
        sizing.size(_profiles(), 0.9, objective="water")


def test_negative_costs_are_refused():
    with pytest.raises(ValueError, match="pv_capex_per_w"):
        Costs(pv_capex_per_w=-1)


def test_the_sized_plant_run_by_the_twin_meets_the_programme():
    # two weeks of Golmud's synthetic year, 20 MW of IT: the twin's own load-following battery
    # with the sized plant gives the programme's renewable fraction within 1 %
    site = get_site("golmud")
    wx = site.weather(year=2025, seed=3).isel(time=slice(24 * 150, 24 * 164))
    profiles = sizing.site_profiles(site, it_power_w=20 * MW, weather=wx)
    s = sizing.size(profiles, 0.8)
    check = sizing.validate(profiles, s, weather=wx)
    assert s.turbines >= 1 and s.pv_wp > 0
    assert check["renewable_fraction_twin"] == pytest.approx(check["renewable_fraction_lp"],
                                                             abs=0.01)
    assert check["renewable_fraction_lp"] == pytest.approx(0.8, abs=1e-4)
    # what the renewables gave and the facility did not use: the same within 1 % of the output
    assert abs(check["unused_energy_wh_lp"] - check["unused_energy_wh_twin"]) <= \
        0.01 * s.generation_wh


def test_the_command_refuses_an_unknown_objective_in_one_line():
    from typer.testing import CliRunner

    from twin.cli import app

    result = CliRunner().invoke(app, ["size", "golmud", "--objective", "water"])
    assert result.exit_code == 2
    assert "unknown objective 'water'; known: cost, carbon" in result.output
    assert "Traceback" not in result.output


def test_the_command_refuses_a_target_above_one():
    from typer.testing import CliRunner

    from twin.cli import app

    result = CliRunner().invoke(app, ["size", "golmud", "--renewable-fraction", "1.5"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_the_sized_plant_in_other_years():
    # the twin with the plant in its own year gives what validate gave; other years differ
    site = get_site("hami")
    profiles = sizing.site_profiles(site, seed=0)
    plant = sizing.Sizing(**{**vars(sizing.size(_profiles(), 1.0, costs=COSTS)),
                             "site": "hami"})
    spread = sizing.across_years(profiles, plant, [0, 1])
    assert spread.loc[0] == pytest.approx(sizing.validate(profiles, plant)[
        "renewable_fraction_twin"])
    assert 0 <= spread.min() and spread.max() <= 1 and spread.loc[0] != spread.loc[1]
