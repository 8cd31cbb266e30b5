"""simulate(): the Dataset contract, vectorisation over sites, inputs and their errors."""

import json

import numpy as np
import pytest
import xarray as xr

from sites import get_site, load_catalog
from twin.simulate import generation_summary, simulate
from twin.variables import VARIABLES
from weather.errors import WeatherError


@pytest.fixture(scope="module")
def pair():
    return [get_site("hami"), get_site("golmud")]


@pytest.fixture(scope="module")
def result(pair):
    return simulate(None, pair, year=2025, seed=4)


def test_dataset_contract(result, pair):
    ds = result
    assert ds["pv_power"].dims == ("site", "time")
    assert ds.sizes == {"site": 2, "time": 8760, "bnds": 2}  # bnds: time_bnds, CF 7.1
    assert list(ds.site.values) == ["hami", "golmud"]
    assert ds.latitude.values.tolist() == [s.latitude for s in pair]
    for name, var in ds.variables.items():
        if name in VARIABLES:
            assert var.attrs.get("units") == VARIABLES[name].units, name
            assert var.attrs["long_name"] == VARIABLES[name].long_name, name
    assert np.array_equal(ds.renewable_power, ds.pv_power + ds.wind_power)
    assert ds.attrs["twin_version"] and "pvlib" in ds.attrs["models"]
    config = json.loads(ds.attrs["site_configuration"])
    assert config["golmud"]["pv"]["capacity_wp"] == pair[1].pv.capacity_wp
    assert "seed 4" in json.loads(ds.attrs["weather_source"])["hami"]
    for v in ("ghi", "temp_air", "wind_speed", "pressure"):  # the inputs used are in the output
        assert v in ds


def test_sites_in_one_pass_equal_sites_one_by_one(result, pair):
    for site in pair:
        alone = simulate(None, site, year=2025, seed=4).sel(site=site.id)
        together = result.sel(site=site.id)
        for v in ("pv_power", "wind_power", "temp_cell", "wind_speed_hub"):
            assert np.allclose(alone[v], together[v], rtol=1e-12, atol=1e-9), v


def test_every_catalog_site_at_once_is_finite_and_physical():
    ds = simulate(None, list(load_catalog().values()))
    assert np.isfinite(ds.renewable_power).all()
    summary = generation_summary(ds)
    pv_cf = summary.pv_capacity_factor
    assert ((pv_cf > 0.05) & (pv_cf < 0.30)).all()  # AC energy per DC Wp: 440-2600 h a year
    western = summary.loc[["golmud", "hami", "dunhuang", "zhongwei"], "pv_capacity_factor"]
    eastern = summary.loc[["chongqing", "guian", "shanghai"], "pv_capacity_factor"]
    assert western.min() > eastern.max()  # the sunny west out-yields the cloudy south-east


def test_netcdf_round_trip(result, tmp_path):
    result.to_netcdf(tmp_path / "r.nc")
    back = xr.open_dataset(tmp_path / "r.nc")
    assert np.allclose(back.pv_power, result.pv_power)
    assert back.pv_power.attrs["units"] == "W"


def test_input_errors_are_clear(pair):
    hami, golmud = pair
    w_hami, w_golmud = hami.weather(year=2025), golmud.weather(year=2026)
    with pytest.raises(ValueError, match="cover different hours"):
        simulate({"hami": w_hami, "golmud": w_golmud}, pair)
    with pytest.raises(ValueError, match="without a site dimension for 2 sites"):
        simulate(w_hami, pair)
    with pytest.raises(ValueError, match="no weather for site golmud"):
        simulate({"hami": w_hami}, pair)
    with pytest.raises(WeatherError, match="required variable.*dni"):
        simulate(w_hami.drop_vars("dni"), hami)
    text = w_hami.assign(pressure=w_hami["pressure"].astype(str))  # e.g. read without parsing
    with pytest.raises(WeatherError, match=r"site hami: pressure is not numbers \(<U"):
        simulate(text, hami)
    with pytest.raises(ValueError, match="given twice"):
        simulate(None, [hami, hami])
    with pytest.raises(ValueError, match="unknown wind_scaling"):
        simulate(w_hami, hami, wind_scaling="magic")
    with pytest.raises(ValueError, match="unknown site"):
        simulate(None, ["atlantis"])


def test_stacked_weather_dataset_is_accepted(pair, result):
    weather = {s.id: s.weather(year=2025, seed=4) for s in pair}
    stacked = xr.concat([weather["golmud"], weather["hami"]], dim="site", coords="minimal",
                        compat="override").assign_coords(
        site=["golmud", "hami"],
        **{c: ("site", [float(weather[i][c]) for i in ("golmud", "hami")])
           for c in ("latitude", "longitude", "altitude")})  # each site keeps its coordinates
    ds = simulate(stacked, pair)
    assert np.allclose(ds.pv_power, result.pv_power)  # ordered by sites, not by the weather


def test_a_sheltered_station_is_flagged():
    """Turpan's town station sees ~1 m/s; scaling it x7 to the wind farms' mean distorts the
    hourly shape, and the result says so rather than hiding it."""
    turpan = simulate(None, "turpan")
    assert float(turpan.wind_speed_scale[0]) > 3 and "turpan" in turpan.attrs["wind_warning"]
    assert "wind_warning" not in simulate(None, "golmud").attrs


def test_a_site_without_pv_runs_on_wind_alone():
    """pv.capacity_wp = 0 (a wind-only site) is a site: PV 0 every hour, renewables = wind, the
    PV capacity factor undefined (NaN), everything else as with PV; one run with a PV site
    gives that site the same numbers as alone."""
    hami = get_site("hami")
    wind_only = hami.model_copy(update={"id": "hami_wind", "pv": hami.pv.model_copy(
        update={"capacity_wp": 0.0})})
    ds = simulate(None, [wind_only, hami], year=2025)
    one = ds.sel(site="hami_wind")
    assert (one["pv_power"] == 0).all()
    np.testing.assert_array_equal(one["renewable_power"], one["wind_power"])
    np.testing.assert_array_equal(one["wind_power"], ds.sel(site="hami")["wind_power"])
    assert np.isfinite(one["it_available_power"]).all() and (one["pue"] >= 1).all()
    summary = generation_summary(ds)
    assert np.isnan(summary.loc["hami_wind", "pv_capacity_factor"])
    assert summary.loc["hami", "pv_capacity_factor"] > 0.1
