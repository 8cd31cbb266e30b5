"""End-to-end: the `twin` command as a user runs it."""

import importlib
import re
from importlib import resources

import numpy as np
import pytest
import typer
import typer.main
import xarray as xr
from typer.testing import CliRunner

import twin
from sites import get_site, load_catalog
from twin.cli import app, commands
from twin.cli_tables import WESTERN_PROVINCES

runner = CliRunner()


def _listed(names: str) -> set[str]:
    """The site names of a sentence's list: "Hami, Golmud and Turpan" -> {...}."""
    return set(re.split(r", | and ", names))


def test_run_simulates_every_catalog_site_and_writes_netcdf(tmp_path):
    out, plots = tmp_path / "run.nc", tmp_path / "plots"
    result = runner.invoke(app, ["run", "--year", "2026", "--seed", "3", "--out", str(out),
                                 "--plots", str(plots)])
    assert result.exit_code == 0, result.output
    catalog = load_catalog()
    for site in catalog.values():
        assert site.name in result.output
    ds = xr.open_dataset(out)
    assert sorted(ds.site.values.tolist()) == sorted(catalog)
    assert ds.sizes["time"] == 8760 and "seed 3" in ds.attrs["weather_source"]
    assert ds.pv_power.attrs["units"] == "W" and np.isfinite(ds.renewable_power).all()
    golmud = ds.sel(site="golmud")
    # the table shows the file's annual PV energy in MWh
    assert f"{float(golmud.pv_power.mean()) * 8760 / 1e6:,.0f}" in result.output
    # units in the headers, not eaten as Rich markup; no column that says the same for all
    for header in ("PV [MWh/yr]", "zero output [h]", "IT [MW]", "PUE base [1]", "PUE opt [1]",
                   "WUE [L/kWh]", "CO2 [t]", "> allowable [h]", "curtailed [MWh]"):
        assert header in result.output, header
    assert "control baseline" not in result.output and "cooling saving" not in result.output
    # the facility row: the site's IT capacity, the baseline PUE from the written file, the
    # optimised control's PUE from the library on the same weather
    optimised = twin.simulate(None, [catalog["golmud"].model_copy(update={
        "cooling": catalog["golmud"].cooling.model_copy(update={"control": "optimised"})})],
        year=2026, seed=3, until="facility").sel(site="golmud")
    pue_base = float(golmud.facility_power.sum() / golmud.it_power.sum())
    pue_opt = float(optimised.facility_power.sum() / optimised.it_power.sum())
    facility_row = [r for r in result.output.splitlines() if r.split()[:2] == ["Golmud",
                                                                                "liquid_dry_cooler"]]
    assert len(facility_row) == 1, result.output
    cells = facility_row[0].split()
    assert cells[2:3] == [f"{catalog['golmud'].it.capacity_w / 1e6:.2f}"]
    assert cells[4:6] == [f"{pue_base:.3f}", f"{pue_opt:.3f}"] and pue_opt < pue_base
    # the lines under the tables say what the file says
    text = " ".join(result.output.split())
    pue = (ds.facility_power.sum("time") / ds.it_power.sum("time")).to_series()
    western = {s.name for s in catalog.values() if s.province in WESTERN_PROVINCES}
    meets = re.search(r"of the western sites, (.+?) meet the western hubs' PUE target", text)
    assert meets, text
    assert _listed(meets.group(1)) == {catalog[i].name for i, p in pue.items()
                                       if p < 1.2 and catalog[i].name in western}
    renewable = (1 - (ds.grid_import + ds.unserved_power).sum("time")
                 / ds.facility_power.sum("time")).to_series()
    mostly = re.search(r"what this means: ([^:;]+?) runs? mostly on renewables", text)
    assert mostly and _listed(mostly.group(1)) == {catalog[i].name for i, f in renewable.items()
                                                   if f > 0.5}
    # one page of the fleet: a PNG (signature, then the IHDR chunk's width and height)
    png = (plots / "fleet.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1200, 800)


def test_run_tables_align_numbers_right_and_print_brackets():
    """Every column but the site and its cooling plant is a number, right-aligned; brackets in
    headers and site names are printed, not read as Rich markup."""
    from rich.console import Console

    from twin import cli_tables

    chosen = [get_site("hami").model_copy(update={"name": "Hami [b]"}), get_site("beijing")]
    ds = twin.simulate(None, chosen, year=2025, seed=1)
    out = cli_tables.results(ds, "t", sites=chosen)
    tables = [t for t in out if hasattr(t, "columns")]
    assert len(tables) == 3
    for table in tables:
        for column in table.columns:
            text = str(column.header)
            assert column.justify == ("left" if text in ("site", "cooling") else "right"), text
    console = Console(record=True, width=200)
    for renderable in out:
        console.print(renderable)
    text = console.export_text()
    assert text.count("Hami [b]") >= 3 and "Hami" not in text.replace("Hami [b]", "")
    assert "zero output [h]" in text and "CO2 [t]" in text
    assert "Beijing has no wind turbines" in " ".join(text.split())


def test_simulate_with_weather_files_and_a_count_mismatch(golmud_path, tmp_path):
    out = tmp_path / "g.nc"
    result = runner.invoke(app, ["simulate", "golmud", "--weather", str(golmud_path),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    ds = xr.open_dataset(out)
    assert golmud_path.name in ds.attrs["weather_source"] and ds.sizes["site"] == 1
    bad = runner.invoke(app, ["simulate", "golmud", "hami", "--weather", str(golmud_path)])
    assert bad.exit_code == 2 and "one per site" in bad.output
    assert "Traceback" not in bad.output


def test_simulate_unknown_site_is_one_clear_line():
    result = runner.invoke(app, ["simulate", "atlantis"])
    assert result.exit_code == 2 and "unknown site 'atlantis'" in result.output


def test_sites_table_lists_the_catalog():
    result = runner.invoke(app, ["sites"])
    assert result.exit_code == 0, result.output
    for site_id in ("hami", "golmud", "zhongwei", "wuhu", "guian"):
        assert site_id in result.output
    assert "Yinchuan" in result.output  # Zhongwei's borrowed station is shown
    rows = {line.split()[1]: line for line in result.output.splitlines() if len(line.split()) > 2}
    # 0.5 MWp of PV, not "0"; no wind turbines, not "0 x V126/3300"; units in the headers
    assert "0.5" in rows["beijing"].split() and "none" in rows["shanghai"].split()
    assert " 0 x " not in result.output
    for header in ("alt [m]", "IT [MW]", "PV [MWp]"):
        assert header in result.output


def test_sites_shows_a_station_name_as_written(tmp_path):
    """The table's cells are text: brackets and colons in a site file are not Rich markup or
    emoji codes."""
    from tests.conftest import hami_data, write_site

    data = hami_data()
    data["weather_station"] = data["normals"]["source"] = "CHN_Hami.[b]N:thumbs_up:.1_CSWD.epw"
    write_site(tmp_path, "hami_x", data)
    result = runner.invoke(app, ["sites", "--sites-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "[b]N:thumbs_up:" in result.output


def test_a_command_is_built_only_when_it_is_used(monkeypatch):
    """`twin sites` builds the click command of `sites` alone: Typer's own group builds every
    command (their signatures, option types, pydantic adapters) at each start-up."""
    built, build = [], typer.main.get_command_from_info

    def spy(command_info, **kwargs):
        built.append(command_info.callback.__name__)
        return build(command_info=command_info, **kwargs)

    monkeypatch.setattr(typer.main, "get_command_from_info", spy)
    result = runner.invoke(app, ["sites", "--sites-dir", "/nonexistent"])
    assert result.exit_code == 2 and "not a directory of site files" in result.output
    assert built == ["sites"]


def test_the_lazy_group_answers_as_typers_own_group():
    """Help (of the group and of every command, `serve` included), no arguments, a mistyped
    command and a bad option give what Typer's group, building every command at once from the
    same registrations, gives."""
    import api.cli  # registers `serve`, as the console script does

    eager = typer.Typer(no_args_is_help=True, add_completion=False, help=app.info.help)
    eager.registered_callback = app.registered_callback
    eager.registered_commands = commands.registered_commands
    names = list(typer.main.get_command(eager).commands)
    assert "sites" in names and "serve" in names and api.cli.app is app
    # a command registered on the group itself (@app.command) would be lost: none is
    assert not app.registered_commands
    for args in (["--help"], [], ["site"], ["sites", "--bogus"], *([n, "--help"] for n in names)):
        lazy, reference = runner.invoke(app, args), runner.invoke(eager, args)
        assert (lazy.exit_code, lazy.output) == (reference.exit_code, reference.output), args


def test_weather_reads_a_file_and_reports_qc(golmud_path, tmp_path):
    out = tmp_path / "g.nc"
    result = runner.invoke(app, ["weather", "golmud", "--weather", str(golmud_path),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "dark daylight" in result.output and "quality control" in result.output
    ds = xr.open_dataset(out)
    assert ds.attrs["source_file"] == golmud_path.name and ds.attrs["qc_repaired_values"] > 0


def test_bad_inputs_exit_2_with_one_line_not_a_traceback(golmud_path, tmp_path):
    unknown = runner.invoke(app, ["weather", "atlantis"])
    assert unknown.exit_code == 2 and "unknown site 'atlantis'" in unknown.output
    assert "Traceback" not in unknown.output
    strict = runner.invoke(app, ["weather", "golmud", "--weather", str(golmud_path), "--strict"])
    assert strict.exit_code == 2 and "strict=True" in strict.output
    cut = tmp_path / "cut.epw"
    cut.write_text("\n".join(golmud_path.read_text(encoding="latin-1").splitlines()[:100]))
    truncated = runner.invoke(app, ["weather", "golmud", "--weather", str(cut)])
    assert truncated.exit_code == 2 and "truncated" in truncated.output
    unknown_format = tmp_path / "w.xlsx"
    unknown_format.write_text("x")
    fmt = runner.invoke(app, ["weather", "golmud", "--weather", str(unknown_format)])
    assert fmt.exit_code == 2 and "unknown weather format" in fmt.output


def test_user_site_dir_adds_a_site(tmp_path, monkeypatch):
    src = resources.files("sites") / "catalog" / "hami.toml"
    text = src.read_text().replace('name = "Hami"', 'name = "Hami North"')
    (tmp_path / "hami_north.toml").write_text(text)
    result = runner.invoke(app, ["sites", "--sites-dir", str(tmp_path)])
    assert result.exit_code == 0 and "hami_north" in result.output
    monkeypatch.setenv("TWIN_SITES_DIR", str(tmp_path))
    env = runner.invoke(app, ["weather", "hami_north", "--year", "2027"])
    assert env.exit_code == 0 and "Hami North" in env.output


def test_slurm_prints_sbatch_options_for_the_best_window():
    """sbatch gets the best option's start and the deadline as UTC times, and TZ=UTC makes it
    read them so whatever the submitting shell's zone; --tz only adds local times to the
    comment; --time is the run time."""
    import re
    from datetime import UTC, datetime, timedelta

    deadline = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    result = runner.invoke(app, ["slurm", "--deadline", deadline.strftime("%Y-%m-%dT%H:%M:%S"),
                                 "--hours", "6", "--it-power-mw", "0.5", "--site", "golmud",
                                 "--tz", "Asia/Shanghai"])
    assert result.exit_code == 0, result.output
    best = re.search(r"golmud (\S+Z) \((\S+ \S+) CST\) \.\. (\S+Z)", result.output)
    line = re.search(r'^TZ=UTC sbatch --begin=(\S+) --deadline=(\S+) --time=06:00:00'
                     r'(?: --time-min=(\S+))? "\$@"$', result.output, re.MULTILINE)
    assert best and line, result.output
    start, end = datetime.fromisoformat(best.group(1)), datetime.fromisoformat(best.group(3))
    assert datetime.fromisoformat(line.group(1)).replace(tzinfo=UTC) == start
    assert datetime.fromisoformat(line.group(2)).replace(tzinfo=UTC) == deadline
    assert end <= deadline and end - start == timedelta(hours=6)
    assert best.group(2) == f"{start + timedelta(hours=8):%Y-%m-%d %H:%M}"
    # --time-min only where the window leaves Slurm less than 10 minutes to start it late
    assert (line.group(3) is not None) == (deadline - end < timedelta(minutes=10))


def test_slurm_job_that_cannot_fit_is_one_clear_line():
    from datetime import UTC, datetime, timedelta

    deadline = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:00:00")
    too_big = runner.invoke(app, ["slurm", "--deadline", deadline, "--hours", "6",
                                  "--it-power-mw", "900", "--site", "golmud"])
    assert too_big.exit_code == 2 and "capacity" in too_big.output
    too_far = runner.invoke(app, ["slurm", "--deadline", "2099-01-02T00:00:00", "--hours", "6",
                                  "--it-power-mw", "1"])
    assert too_far.exit_code == 2 and "horizon" in too_far.output
    assert "Traceback" not in too_big.output + too_far.output


# --- issue 19: bad input gets a clear error or a correct answer, never a wrong number ----------

def test_a_site_file_in_the_wrong_units_is_refused_before_any_run(tmp_path):
    """Pressure normals in hPa once gave a PUE of 15 million and exit 0."""
    from tests.conftest import hami_data, write_site

    data = hami_data()
    data["normals"]["pressure_mean"] = [p / 100 for p in data["normals"]["pressure_mean"]]
    path = write_site(tmp_path, "hami", data)
    result = runner.invoke(app, ["simulate", "hami", "--sites-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert f"{path}: normals.pressure_mean.0: Input should be greater than or equal to 30000 " \
           "[Pa]" in result.output
    assert "Traceback" not in result.output and "PUE" not in result.output


def test_a_nan_result_is_refused_in_one_line_never_a_table_cell(monkeypatch):
    """A NaN where a number is due names the site and the figure; the meaningful NaN (the wind
    capacity factor of a site without turbines, Beijing) is still shown as a dash."""
    def nan_availability(*args, **kwargs):
        ds = simulate(*args, **kwargs)
        ds["it_available_power"] = ds["it_available_power"].where(ds.site != "hami")
        return ds

    from twin.simulate import simulate

    fine = runner.invoke(app, ["simulate", "beijing"])
    assert fine.exit_code == 0 and "–" in fine.output and "nan" not in fine.output.lower()
    monkeypatch.setattr(importlib.import_module("twin.simulate"), "simulate", nan_availability)
    result = runner.invoke(app, ["simulate", "beijing", "hami"])
    assert result.exit_code == 2, result.output
    assert "site hami: it_available_mean_w is nan (not a number)" in result.output
    assert "nan" not in result.output.replace("is nan (not", "").lower()
    assert "Traceback" not in result.output and "Power balance" not in result.output


@pytest.mark.parametrize("args, words", [
    (["--year", "99999"], "Invalid value for '--year'"),
    (["--year", "1200"], "Invalid value for '--year'"),
    (["--seed", "-1"], "Invalid value for '--seed'"),
])
@pytest.mark.parametrize("command", [["run"], ["simulate", "hami"], ["weather", "hami"]])
def test_out_of_range_year_and_seed_are_usage_errors(command, args, words):
    result = runner.invoke(app, command + args)
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("command", [["run"], ["simulate", "hami"]])
def test_an_unwritable_out_path_is_refused_before_the_run(tmp_path, monkeypatch, command):
    def no_run(*args, **kwargs):
        raise AssertionError("simulated although --out cannot be written")

    monkeypatch.setattr(importlib.import_module("twin.simulate"), "simulate", no_run)
    missing = runner.invoke(app, command + ["--out", str(tmp_path / "missing" / "x.nc")])
    assert missing.exit_code == 2, missing.output
    assert "does not exist" in missing.output and "Traceback" not in missing.output
    folder = runner.invoke(app, command + ["--out", str(tmp_path)])
    assert folder.exit_code == 2 and "is a directory" in folder.output


def test_simulate_out_csv_writes_a_csv_table_not_netcdf(tmp_path):
    """`--out x.csv` is a CSV: one row per site-hour, units in the column names, the values of
    the NetCDF the same command writes with `--out x.nc`."""
    import pandas as pd

    table, nc = tmp_path / "hami.csv", tmp_path / "hami.nc"
    for out in (table, nc):
        result = runner.invoke(app, ["simulate", "hami", "--seed", "4", "--out", str(out)])
        assert result.exit_code == 0, result.output
    assert table.read_bytes()[:4] != b"\x89HDF"  # not NetCDF-4 (HDF5) under a .csv name
    frame = pd.read_csv(table, index_col=["site", "time"], parse_dates=["time"])
    ds = xr.open_dataset(nc)
    assert len(frame) == ds.sizes["site"] * ds.sizes["time"] == 8760
    np.testing.assert_array_equal(frame["facility_power_w"].to_numpy(),
                                  ds.facility_power.sel(site="hami").to_numpy())
    np.testing.assert_array_equal(frame["temp_air_degc"].to_numpy(),
                                  ds.temp_air.sel(site="hami").to_numpy())
    times = frame.index.get_level_values("time")
    assert str(times.tz) == "UTC" and (times.tz_localize(None) == ds.time.to_index()).all()


@pytest.mark.parametrize("command", [["run"], ["simulate", "hami"], ["weather", "hami"],
                                     ["fleet", "--sites", "hami", "--preset", "small"]])
def test_an_unknown_out_suffix_is_refused_before_any_work(tmp_path, monkeypatch, command):
    def no_run(*args, **kwargs):
        raise AssertionError("ran although --out names no known format")

    monkeypatch.setattr(importlib.import_module("twin.simulate"), "simulate", no_run)
    monkeypatch.setattr(importlib.import_module("twin.fleet"), "run_fleet", no_run)
    monkeypatch.setattr(importlib.import_module("sites.catalog").Site, "weather", no_run)
    for name, shown in (("x.txt", "'.txt'"), ("x", "'(none)'")):
        result = runner.invoke(app, command + ["--out", str(tmp_path / name)])
        assert result.exit_code == 2, result.output
        assert f"unknown suffix {shown}" in result.output and ".parquet" in result.output
        assert "Traceback" not in result.output and len(result.output.splitlines()) == 1
    not_zarr = tmp_path / "folder.zarr"
    not_zarr.mkdir()
    result = runner.invoke(app, command + ["--out", str(not_zarr)])
    assert result.exit_code == 2 and "not a Zarr store" in result.output, result.output


def test_run_refuses_a_plots_folder_it_cannot_write_before_any_work(tmp_path):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    for bad, reason in ((afile, "is a file; give a folder"),
                        (tmp_path / "no" / "such", "does not exist")):
        result = runner.invoke(app, ["run", "--plots", str(bad)])
        assert result.exit_code == 2 and reason in result.output, result.output
        assert "Traceback" not in result.output
