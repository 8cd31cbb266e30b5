"""Climate-year studies (twin.study, `twin study`): the Belcher morphing, design variants, the
Zarr store, a Dask LocalCluster with two workers equal to the serial run, resuming after an
interruption, the P10/P50/P90 summary, real-weather years and the command line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from sites import get_site
from tests.conftest import SHARED_WEATHER, hami_data, needs_shared, write_era5, write_site
from twin.allocator import KEEP_FREED_MEMORY, NO_HUGE_PAGES
from twin.cli import app
from twin.psychrometrics import saturation_vapour_pressure
from twin.study import (
    ANNUAL,
    STORE_FORMAT,
    STORED,
    Scenario,
    Study,
    Variant,
    local_cluster,
    markers,
    morph,
    open_study,
    parse_variants,
    run_study,
    study_from_config,
    summary,
    summary_column,
)
from twin.variables import VARIABLES

SMALL = Study(("hami", "golmud"), (1, 2), (Scenario("baseline"), Scenario.parse("+2K")),
              tuple(parse_variants(["cooling.evaporative_assist=true,false"])))


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    path = tmp_path_factory.mktemp("serial") / "s.zarr"
    return path, run_study(SMALL, path).load()


def test_morph_shifts_the_monthly_mean_and_stretches_the_daily_range():
    wx = get_site("turpan").weather(year=2025, seed=3)
    warm = morph(wx, Scenario("w", temperature_shift_k=[1.0] * 6 + [3.0] * 6,
                              daily_range_change_k=2.0))
    t0, t1 = wx["temp_air"].to_series(), warm["temp_air"].to_series()
    shift = (t1.groupby(t1.index.month).mean() - t0.groupby(t0.index.month).mean()).to_numpy()
    np.testing.assert_allclose(shift, [1.0] * 6 + [3.0] * 6, atol=1e-9)

    def mean_range(t):
        daily = t.groupby(t.index.floor("D")).agg(["max", "min"])
        return (daily["max"] - daily["min"]).groupby(daily.index.month).mean().to_numpy()

    np.testing.assert_allclose(mean_range(t1) - mean_range(t0), 2.0, atol=1e-9)
    # relative humidity kept: the dew point follows the new temperature
    rh = 100 * saturation_vapour_pressure(warm["temp_dew"].values) / saturation_vapour_pressure(
        warm["temp_air"].values)
    np.testing.assert_allclose(rh, np.clip(wx["relative_humidity"].values, 1, 100), atol=0.5)
    assert (warm["temp_dew"] <= warm["temp_air"]).all()
    assert morph(wx, Scenario("baseline")) is wx


def test_scenarios_and_variants_parse_and_refuse_nonsense():
    assert Scenario.parse("+1.5K").temperature_shift_k == (1.5,) * 12
    with pytest.raises(ValueError, match="warming such as"):
        Scenario.parse("hot")
    grid = parse_variants(["cooling.topology=chilled_water,liquid_dry_cooler",
                           "pv.capacity_wp=1e7,2e7,3e7"])
    assert len(grid) == 6 and grid[-1].updates == {"cooling.topology": "liquid_dry_cooler",
                                                   "pv.capacity_wp": 3e7}
    hami = get_site("hami")
    assert grid[0].apply(hami).cooling.topology == "chilled_water"
    with pytest.raises(ValueError, match="immersion"):
        Variant("x", {"cooling.topology": "immersion"}).apply(hami)
    with pytest.raises(ValueError, match="not a setting"):
        Variant("x", {"topology": "chilled_water"}).apply(hami)


def test_store_layout_and_what_it_holds(serial):
    _, ds = serial
    assert dict(ds.sizes) == {"site": 2, "year": 2, "scenario": 2, "variant": 2, "time": 8760,
                              "bnds": 2}  # bnds: time_bnds, the hours' bounds (CF 7.1)
    for v in STORED:
        assert ds[v].dims[-1] == "time" and np.isfinite(ds[v]).all(), v
        assert ds[v].attrs["units"] == VARIABLES[v].units, v
    for v in ANNUAL:
        assert np.isfinite(ds[v]).all() and ds[v].attrs["units"] == VARIABLES[v].units, v
    assert ds.attrs["store_format"] == STORE_FORMAT
    # stored in SI: powers in W, energies in W h
    assert ds["grid_import"].attrs["units"] == ds["it_available_mean"].attrs["units"] == "W"
    assert ds["grid_energy"].attrs["units"] == ds["curtailed_energy"].attrs["units"] == "W h"
    # annual figures agree with the stored hours: renewable fraction from grid and facility power
    fraction = 1 - ds["grid_import"].sum("time") / ds["facility_power"].sum("time")
    np.testing.assert_allclose(ds["renewable_fraction"], fraction, rtol=1e-5)
    # annual energy [W h] = hourly mean power [W] summed over the hours x 1 h
    hour_h = 1.0
    for energy, power in (("grid_energy", "grid_import"), ("curtailed_energy", "curtailment")):
        hourly = ds[power].astype(float)
        np.testing.assert_allclose(ds[energy], hourly.sum("time") * hour_h, rtol=1e-5,
                                   atol=1e-3 * float(hourly.max()))
    assert float(ds["curtailed_energy"].max()) > 1e6  # some MWh curtailed: not a store in MWh
    np.testing.assert_allclose(ds["it_available_mean"],
                               ds["it_available_power"].astype(float).mean("time"), rtol=1e-5)
    warmer = ds["temp_air"].sel(scenario="+2K").mean("time") - ds["temp_air"].sel(
        scenario="baseline").mean("time")
    np.testing.assert_allclose(warmer, 2.0, atol=1e-3)
    # no evaporative assist at Hami: no water; with it, water
    dry = ds["wue"].sel(site="hami", variant="cooling.evaporative_assist=false")
    wet = ds["wue"].sel(site="hami", variant="cooling.evaporative_assist=true")
    assert (dry == 0).all() and (wet > 0).all()


def test_summary_quantiles_over_years(serial):
    _, ds = serial
    table = summary(ds)
    assert len(table) == 2 * 2 * 2
    row = table.loc[("golmud", "+2K", "cooling.evaporative_assist=true")]
    years = ds["annual_pue"].sel(site="golmud", scenario="+2K",
                                 variant="cooling.evaporative_assist=true").values
    assert row["annual_pue_p50"] == pytest.approx(np.median(years))
    assert row["annual_pue_p10"] <= row["annual_pue_p50"] <= row["annual_pue_p90"]
    # the table is in the store's SI units, each column named with its unit
    grid_wh = ds["grid_energy"].sel(site="golmud", scenario="+2K",
                                    variant="cooling.evaporative_assist=true").values
    assert row["grid_energy_wh_p50"] == pytest.approx(np.median(grid_wh))
    assert summary_column("it_available_mean", 90) == "it_available_mean_w_p90"


def test_summary_column_names_say_the_stored_unit():
    suffix = {"W": "_w", "W h": "_wh", "L kW-1 h-1": "_l_per_kwh", "t": "_t"}
    for name in ANNUAL:
        column = summary_column(name, 50)
        units = VARIABLES[name].units
        if units in suffix:
            assert column == f"{name}{suffix[units]}_p50", name
        else:  # dimensionless, or hours named as such
            assert units in ("1", "h") and column == f"{name}_p50", name


def test_two_workers_give_the_serial_result(serial, tmp_path):
    """On the study's own cluster (twin.study.local_cluster, as `twin study` starts it), whose
    workers keep freed memory for reuse and numpy's huge pages off (KEEP_FREED_MEMORY and
    NO_HUGE_PAGES in their environment)."""
    import os

    from distributed import Client

    _, expected = serial
    settings = {**KEEP_FREED_MEMORY, **NO_HUGE_PAGES}
    with local_cluster(2) as cluster, Client(cluster) as client:
        got = run_study(SMALL, tmp_path / "parallel.zarr", client=client).load()
        environ = client.run(lambda: {k: os.environ.get(k) for k in settings})
    xr.testing.assert_identical(got, expected)
    assert len(environ) == 2
    assert all(e == {k: str(v) for k, v in settings.items()} for e in environ.values())


def test_interrupted_study_resumes_without_redoing_tasks(serial, tmp_path):
    _, expected = serial
    path = tmp_path / "resume.zarr"

    def stop_after_three(done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(SMALL, path, progress=stop_after_three)
    seen = []
    resumed = run_study(SMALL, path, progress=lambda done, total: seen.append(done)).load()
    assert seen[0] == 3 and seen[-1] == len(SMALL.tasks()) == 8
    assert len(seen) == 1 + 8 - 3  # only the five missing tasks ran
    xr.testing.assert_identical(resumed, expected)


def test_scenarios_are_bounded(tmp_path):
    """issue 19: +999K ran (a planet at 1,000 degC); scenarios are bounded to what the
    morphing method covers."""
    assert Scenario.parse("-10K").temperature_shift_k == (-10.0,) * 12
    for text in ("+999K", "+10.5", "-11K", "+nanK", "+infK"):
        with pytest.raises(ValueError, match=r"scenario .*-10\.\.\+10 K|warming such as"):
            Scenario.parse(text)
    with pytest.raises(ValueError, match="relative_humidity_shift_pct"):
        Scenario("wet", relative_humidity_shift_pct=80.0)
    result = CliRunner().invoke(app, ["study", "hami", "--years", "1", "--scenario", "+999K",
                                      "--out", str(tmp_path / "never.zarr")])
    assert result.exit_code == 2 and "-10..+10 K" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "never.zarr").exists()


def _task_chunk(store: Path, variable: str, task) -> Path:
    i, j, k = task
    return store / variable / (f"0.{i}.{j}.{k}" + (".0" if variable in STORED else ""))


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_a_damaged_chunk_is_recomputed_on_resume_never_dropped(serial, tmp_path, damage):
    """issue 19: a chunk file of one task deleted (or cut short) behind its marker silently
    dropped that year from P10/P50/P90. Resuming verifies every task's chunks and recomputes
    a damaged task; the summary of a store with a hole refuses, naming it."""
    path, expected = serial
    copy = tmp_path / "damaged.zarr"
    shutil.copytree(path, copy)
    shutil.copytree(markers(path), markers(copy))  # the task markers live beside the store
    annual, hourly = _task_chunk(copy, "annual_pue", (1, 0, 1)), _task_chunk(copy, "pue", (0, 1, 0))
    for chunk in (annual, hourly):
        if damage == "delete":
            chunk.unlink()
        else:
            chunk.write_bytes(chunk.read_bytes()[:len(chunk.read_bytes()) // 2])
    # zarr reads a chunk cut short without an error, part of it from uninitialised memory (a
    # 6.9e-310 seen where a PUE was): the store is opened checked, one line naming a task
    with pytest.raises(ValueError, match=r"task \d+_\d+_\d+ .*is damaged \(chunk .*(is missing|"
                                         r"was cut short)\): run the study again") as err:
        open_study(copy)
    assert "\n" not in str(err.value)
    if damage == "delete":  # read unchecked, the hole is still refused by the summary
        with pytest.raises(ValueError, match=r"annual_pue .*site hami, year 2, scenario baseline"):
            summary(xr.open_zarr(copy))
    seen = []
    resumed = run_study(SMALL, copy, progress=lambda done, total: seen.append(done)).load()
    assert seen[0] == len(SMALL.tasks()) - 2  # the two damaged tasks ran again, no other
    assert len(seen) == 3
    xr.testing.assert_identical(resumed, expected)
    pd.testing.assert_frame_equal(summary(resumed), summary(expected))


def test_a_store_of_another_study_is_refused(serial, tmp_path):
    path, _ = serial
    copy = tmp_path / "copy.zarr"
    shutil.copytree(path, copy)
    other = Study(("hami",), (1,))
    with pytest.raises(ValueError, match="another study"):
        run_study(other, copy)
    assert run_study(other, copy, overwrite=True).sizes["site"] == 1


def _make_format_1(path):
    """Turn the fresh store at ``path`` into one as the code before format 2 wrote it: no
    ``store_format`` attribute, annual energies in MW h and the mean available IT power in MW."""
    import zarr

    group = zarr.open_group(path, mode="r+", zarr_format=2)
    del group.attrs["store_format"]
    for name, units in (("curtailed_energy", "MW h"), ("grid_energy", "MW h"),
                        ("it_available_mean", "MW")):
        group[name][...] = group[name][...] / 1e6
        group[name].attrs["units"] = units
    zarr.consolidate_metadata(path, zarr_format=2)


def test_a_store_of_the_old_unit_format_is_refused(tmp_path):
    study = Study(("hami",), (1,))
    path = tmp_path / "old.zarr"
    fresh = run_study(study, path).load()
    _make_format_1(path)
    old = xr.open_zarr(path)
    assert "store_format" not in old.attrs and old["grid_energy"].attrs["units"] == "MW h"
    with pytest.raises(ValueError) as refused:
        run_study(study, path)  # the same study: it would resume, but not over MW
    message = str(refused.value)
    assert "\n" not in message and "format 1" in message and "MW" in message
    assert "--overwrite" in message and "--out" in message
    with pytest.raises(ValueError, match="'MW h', not 'W h'"):
        summary(old)  # nor read as W
    again = run_study(study, path, overwrite=True).load()
    assert again.attrs["store_format"] == STORE_FORMAT
    xr.testing.assert_identical(again, fresh)


def test_a_format_2_store_is_refused_with_what_changed(tmp_path):
    """Format 2 held unicode labels netCDF-C cannot read and its task markers inside the store."""
    import zarr

    study = Study(("hami",), (1,))
    path = tmp_path / "v2.zarr"
    run_study(study, path)
    zarr.open_group(path, mode="r+", zarr_format=2).attrs["store_format"] = 2
    zarr.consolidate_metadata(path, zarr_format=2)
    with pytest.raises(ValueError, match=r"format 2 \(.*task markers inside\), not 3 .*"
                                         r"--overwrite"):
        run_study(study, path)


def _netcdf_c_zarr(path: Path):
    """``path`` opened by netCDF-C's NCZarr (through netCDF4), as a pure Zarr store."""
    netcdf4 = pytest.importorskip("netCDF4")
    version = tuple(int(p) for p in netcdf4.__netcdf4libversion__.split(".")[:2])
    if version < (4, 9):
        pytest.skip(f"netCDF-C {netcdf4.__netcdf4libversion__} has no NCZarr reading Zarr v2 "
                    "with xarray's dimension names (4.9 or newer has)")
    return netcdf4.Dataset(f"file://{path.resolve()}#mode=zarr,file")


def test_netcdf_c_opens_the_store(serial):
    """issue 21: NCZarr refused the unicode (<U) labels of format 2."""
    path, ds = serial
    with _netcdf_c_zarr(path) as nc:
        assert list(nc.dimensions) == ["site", "year", "scenario", "variant", "time", "bnds"]
        assert nc["site"][:].tolist() == ds["site"].values.tolist() == ["hami", "golmud"]
        assert nc["variant"][:].tolist() == ds["variant"].values.tolist()
        assert nc["year"][:].tolist() == [1, 2] and nc["time"].units.startswith("hours since")
        np.testing.assert_array_equal(nc["pue"][1, 0, 1, 0, :], ds["pue"].values[1, 0, 1, 0])
        assert nc["wue"].units == "L kW-1 h-1" and nc["time"].bounds == "time_bnds"


def test_zarr_opens_the_store_as_nothing_but_arrays(serial):
    """issue 21: zarr met the zero-byte task markers inside the store (no Zarr node, not in
    the consolidated metadata); they now live beside it."""
    import warnings

    import zarr

    path, ds = serial
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zarr warns on anything in the store that is no node
        walked = zarr.open_group(path, mode="r", use_consolidated=False)
        members = dict(walked.members())
    consolidated = zarr.open_consolidated(path, zarr_format=2)
    assert sorted(members) == sorted(dict(consolidated.members())) == sorted(ds.variables)
    assert all(isinstance(m, zarr.Array) for m in members.values())
    assert members["site"].dtype.kind == "S" and members["pue"].shape == ds["pue"].shape
    assert sorted(p.name for p in markers(path).iterdir()) == sorted(
        "_".join(map(str, t)) for t in SMALL.tasks())


def test_command_line_refuses_an_old_format_store_in_one_line(tmp_path):
    path = tmp_path / "old.zarr"
    run_study(Study(("golmud",), (1,)), path)
    _make_format_1(path)
    result = CliRunner().invoke(app, ["study", "golmud", "--years", "1", "--workers", "1",
                                      "--out", str(path)])
    assert result.exit_code == 2 and "format 1" in result.output
    assert "--overwrite" in result.output and "Traceback" not in result.output


@needs_shared
def test_real_weather_years_from_a_directory(tmp_path):
    folder = tmp_path / "weather"
    folder.mkdir()
    epw = SHARED_WEATHER / "CHN_Qinghai.Golmud.528180_CSWD.epw"
    for year in (2001, 2002):
        (folder / f"golmud_{year}.epw").symlink_to(epw)
    study = Study(("golmud",), (2001, 2002), weather_dir=str(folder))
    ds = run_study(study, tmp_path / "real.zarr").load()
    assert ds.sizes["time"] == 8760
    np.testing.assert_array_equal(ds["temp_air"].isel(year=0), ds["temp_air"].isel(year=1))
    missing = Study(("golmud",), (2003,), weather_dir=str(folder))
    with pytest.raises(ValueError, match="no weather file golmud_2003"):
        run_study(missing, tmp_path / "missing.zarr")


def test_command_line_study_with_one_worker(tmp_path):
    runner = CliRunner()
    out, csv = tmp_path / "cli.zarr", tmp_path / "summary.csv"
    result = runner.invoke(app, ["study", "golmud", "--years", "2", "--scenario", "+1.5K",
                                 "--workers", "1", "--out", str(out), "--summary", str(csv),
                                 "--plots", str(tmp_path / "png"), "--report",
                                 str(tmp_path / "report.html")])
    assert result.exit_code == 0, result.output
    assert "P10 / P50 / P90" in result.output and "golmud" in result.output
    assert csv.read_text().startswith("site,scenario,variant,renewable_fraction_pct_p10")
    # the CSV has the printed table's scales (MWh, %), named in its columns; the store W h
    table = pd.read_csv(csv, index_col=[0, 1, 2])
    curtailed_mwh = table.loc[("golmud", "+1.5K", "as_configured"), "curtailed_energy_mwh_p10"]
    stored = xr.open_zarr(out)["curtailed_energy"].sel(site="golmud", scenario="+1.5K")
    assert curtailed_mwh == pytest.approx(float(stored.quantile(0.1, "year").squeeze()) / 1e6)
    assert "curtailed energy" in result.output and "[MWh]" in result.output
    assert f"{curtailed_mwh:,.0f} /" in result.output
    rf = table.loc[("golmud", "+1.5K", "as_configured"), "renewable_fraction_pct_p50"]
    assert 1 < rf <= 100
    assert len(list((tmp_path / "png").glob("*.png"))) == 3 + 1  # and the comparison
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") == 3 + 1
    again = runner.invoke(app, ["study", "golmud", "--years", "2", "--scenario", "+1.5K",
                                "--workers", "1", "--out", str(out)])
    assert again.exit_code == 0  # nothing left to run: the store is reused as it is
    bad = runner.invoke(app, ["study", "golmud", "--variant", "cooling.topology=immersion",
                              "--out", str(tmp_path / "bad.zarr")])
    assert bad.exit_code == 2 and "immersion" in bad.output and "Traceback" not in bad.output


def test_command_line_study_reads_every_sites_dir(tmp_path):
    # the site lives in the second folder given: the workers must see both
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    data = hami_data()
    data["name"] = "Hami B"
    write_site(second, "hami_b", data)
    result = CliRunner().invoke(app, ["study", "hami_b", "--years", "1", "--workers", "1",
                                      "--out", str(tmp_path / "b.zarr"), "--sites-dir",
                                      str(first), "--sites-dir", str(second)])
    assert result.exit_code == 0, result.output
    assert "hami_b" in result.output


def test_real_years_from_one_multi_year_netcdf(tmp_path):
    """An ERA5-style file of two years (2027 and 2028, a leap year) at Golmud: each study year
    is its own year of the file, 29 February dropped."""
    from datetime import UTC, datetime

    site = get_site("golmud")
    path = tmp_path / "era5.nc"
    start = datetime(2027, 1, 1, tzinfo=UTC)
    write_era5(path, site, start, 8760 + 8784, sun=True, years=2)
    study = Study(("golmud",), (2027, 2028), weather_dir=str(path))
    ds = run_study(study, tmp_path / "multi.zarr").load()
    import weather

    raw = weather.read(path, latitude=site.latitude, longitude=site.longitude,
                       altitude=site.altitude_m)
    for year in (2027, 2028):
        hours = raw["temp_air"].sel(time=str(year))
        hours = hours[~((hours.time.dt.month == 2) & (hours.time.dt.day == 29))]
        np.testing.assert_allclose(ds["temp_air"].sel(year=year).values[0, 0, 0], hours.values,
                                   rtol=1e-6)


def test_paired_and_named_variants():
    # paired: first with first: "no battery" and "40 MWh / 10 MW", not their grid of four
    paired = parse_variants(["battery.energy_wh=0,4e7", "battery.power_w=0,1e7"], paired=True)
    assert [v.updates for v in paired] == [{"battery.energy_wh": 0, "battery.power_w": 0},
                                           {"battery.energy_wh": 4e7, "battery.power_w": 1e7}]
    assert len(parse_variants(["battery.energy_wh=0,4e7", "battery.power_w=0,1e7"])) == 4
    with pytest.raises(ValueError, match="as many values"):
        parse_variants(["battery.energy_wh=0,4e7", "battery.power_w=0"], paired=True)
    named = parse_variants(["no_battery: battery.energy_wh=0 battery.power_w=0",
                            "big: battery.energy_wh=4e7 battery.power_w=1e7"])
    assert [v.name for v in named] == ["no_battery", "big"]
    site = get_site("hami")
    assert named[0].apply(site).battery.energy_wh == 0
    assert named[1].apply(site).battery.power_w == 1e7
    with pytest.raises(ValueError, match="not both"):
        parse_variants(["a: battery.power_w=0", "cooling.topology=chilled_water"])


def test_a_study_file_describes_sites_years_scenarios_and_named_variants(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text('sites = ["hami", "golmud"]\nfirst_year = 3\nyears = 2\n'
                    'scenarios = ["baseline", "+2K"]\n'
                    '[variants.no_battery]\nbattery = {energy_wh = 0, power_w = 0}\n'
                    '[variants.liquid]\ncooling.topology = "liquid_dry_cooler"\n')
    study = study_from_config(path)
    assert study.site_ids == ("hami", "golmud") and study.years == (3, 4)
    assert [s.name for s in study.scenarios] == ["baseline", "+2K"]
    assert {v.name: v.updates for v in study.variants} == {
        "no_battery": {"battery.energy_wh": 0, "battery.power_w": 0},
        "liquid": {"cooling.topology": "liquid_dry_cooler"}}
    path.write_text('sites = ["hami"]\nyear = 3\n')
    with pytest.raises(ValueError, match="unknown key.*year"):
        study_from_config(path)


def test_command_line_study_from_a_file_with_named_variants(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text('sites = ["golmud"]\nyears = 1\n'
                    '[variants.no_battery]\nbattery = {energy_wh = 0, power_w = 0}\n'
                    '[variants.battery_40mwh]\nbattery = {energy_wh = 4e7, power_w = 1e7}\n')
    runner = CliRunner()
    result = runner.invoke(app, ["study", "--config", str(path), "--workers", "1",
                                 "--out", str(tmp_path / "s.zarr")])
    assert result.exit_code == 0, result.output
    assert "no_battery" in result.output and "battery_40mwh" in result.output
    assert "synthetic years (seeds 1-1)" in result.output
    ds = xr.open_zarr(tmp_path / "s.zarr")
    rf = ds["renewable_fraction"].sel(site="golmud").squeeze()
    # the same plant and weather with a battery: more of the facility's energy is renewable
    assert float(rf.sel(variant="battery_40mwh")) > float(rf.sel(variant="no_battery"))
    both = runner.invoke(app, ["study", "golmud", "--config", str(path),
                               "--out", str(tmp_path / "t.zarr")])
    assert both.exit_code == 2 and "give no SITE" in both.output


# ---- sizing as a study option ([sizing] in a study file, twin.study.size_plants) ----

def _fortnights(monkeypatch):
    """The study's years cut to a fortnight of June, where the plant is sized (a year's
    programme takes a minute; the study store itself keeps whole years)."""
    import twin.study as study_module

    whole_years = study_module._weather
    monkeypatch.setattr(study_module, "_weather", lambda study, site, year: whole_years(
        study, site, year).isel(time=slice(24 * 150, 24 * 164)))


def test_a_study_file_asks_for_sizing(tmp_path):
    from twin.study import StudySizing, sizing_from_config

    path = tmp_path / "study.toml"
    path.write_text('sites = ["golmud"]\n[sizing]\nrenewable_fraction = 0.8\n'
                    'reliability = "p90"\nit_mw = 20\n')
    assert study_from_config(path).site_ids == ("golmud",)
    assert sizing_from_config(path) == StudySizing(0.8, "cost", 0.9, 20e6)
    path.write_text('sites = ["golmud"]\n')
    assert sizing_from_config(path) is None
    for table, words in (("objective = 'water'", "needs renewable_fraction"),
                         ("renewable_fraction = 1.5", "within 0..1"),
                         ("renewable_fraction = 0.9\nobjective = 'water'", "known: cost, carbon"),
                         ("renewable_fraction = 0.9\nreliability = 'often'", "share of years"),
                         ("renewable_fraction = 0.9\nit_mw = -1", "it_mw must be"),
                         ("renewable_fraction = 0.9\ntarget = 1", "unknown key(s) target")):
        path.write_text(f'sites = ["golmud"]\n[sizing]\n{table}\n')
        with pytest.raises(ValueError, match=re.escape(words)):
            sizing_from_config(path)


def test_the_plants_of_a_study_per_site_and_scenario(monkeypatch):
    """Each (site, scenario) is sized on its own weather: the warmer scenario's plant is the one
    twin.sizing gives on the morphed weather, and meets the target."""
    from twin import sizing
    from twin.study import StudySizing, size_plants

    _fortnights(monkeypatch)
    study = Study(("golmud",), (1, 2), (Scenario("baseline"), Scenario.parse("+3K")))
    plants = size_plants(study, StudySizing(0.8, it_power_w=20e6))
    assert list(plants.index) == [("golmud", "baseline"), ("golmud", "+3K")]
    assert (plants["renewable_fraction"] >= 0.8 - 1e-6).all()
    assert (plants["years_sized"] == 1).all() and plants["binding_years"].tolist() == ["1", "1"]
    import twin.study as study_module

    warm = morph(study_module._weather(study, get_site("golmud"), 1), Scenario.parse("+3K"))
    alone = sizing.size(sizing.site_profiles(get_site("golmud"), it_power_w=20e6, weather=warm),
                        0.8)
    assert plants.loc[("golmud", "+3K"), "pv_wp"] == pytest.approx(alone.pv_wp, rel=1e-6)
    # warmer: more cooling energy for the same IT, so more energy to make renewable
    assert plants.loc[("golmud", "+3K"), "facility_energy_wh"] > \
        plants.loc[("golmud", "baseline"), "facility_energy_wh"]
    # over both years, every year met (two years: P90 lets none go)
    both = size_plants(study, StudySizing(0.8, reliability=0.9, it_power_w=20e6))
    assert (both["years_sized"] == 2).all() and (both["years_met"] == 2).all()
    assert (both["pv_wp"] + both["wind_w"] >= plants["pv_wp"] + plants["wind_w"] - 1).all()


def test_command_line_study_reports_the_sized_plants(tmp_path, monkeypatch):
    """`twin study --config` with [sizing]: the plants printed, in the report and in
    --sizing-csv (sized in this process on fortnights; the study itself on whole years)."""
    import twin.study as study_module

    _fortnights(monkeypatch)
    real = study_module.size_plants
    monkeypatch.setattr(study_module, "size_plants",
                        lambda study, spec, client=None, progress=None: real(study, spec,
                                                                             progress=progress))
    path = tmp_path / "study.toml"
    path.write_text('sites = ["golmud"]\nyears = 1\n[sizing]\nrenewable_fraction = 0.8\n'
                    'it_mw = 20\n')
    report, csv = tmp_path / "report.html", tmp_path / "plants.csv"
    result = CliRunner().invoke(app, ["study", "--config", str(path), "--workers", "1",
                                      "--out", str(tmp_path / "s.zarr"), "--report",
                                      str(report), "--sizing-csv", str(csv)])
    assert result.exit_code == 0, result.output
    assert "80 % renewable in the study's first year" in result.output
    assert "PV [MWp]" in result.output and "battery [MWh]" in result.output
    plants = pd.read_csv(csv, index_col=["site", "scenario"])
    pv_mwp = plants.loc[("golmud", "baseline"), "pv_wp"] / 1e6
    assert f"{pv_mwp:,.1f}" in result.output
    page = report.read_text()
    assert 'id="sizing"' in page and f"<td>{pv_mwp:,.1f}</td>" in page
    no_sizing = tmp_path / "plain.toml"
    no_sizing.write_text('sites = ["golmud"]\nyears = 1\n')
    refused = CliRunner().invoke(app, ["study", "--config", str(no_sizing), "--out",
                                       str(tmp_path / "t.zarr"), "--sizing-csv", str(csv)])
    assert refused.exit_code == 2 and "no [sizing] table" in refused.output
