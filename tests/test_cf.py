"""The twin's NetCDF outputs checked by the field's own tools (issue 21): `twin run --out`,
`twin simulate --out` and a study store exported to NetCDF pass cfchecks (the CF checker,
cfchecker, against CF 1.8 with UDUNITS-2) with no error and no warning, and the IOOS
compliance-checker's CF-1.10 suite with no high-priority failure."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr
from typer.testing import CliRunner

from tests.conftest import SHARED_WEATHER, needs_shared
from twin.cli import app
from twin.study import Scenario, Study, parse_variants, run_study

BIN = Path(sys.executable).parent


def _udunits_missing() -> str | None:
    try:
        import cfunits  # noqa: F401  (loads libudunits2 with ctypes on import)
    except ImportError as err:
        return f"cfunits not installed ({err}): pip install '.[test]'"
    except (OSError, AttributeError, TypeError) as err:  # no libudunits2 to load
        return f"UDUNITS-2 missing (Debian libudunits2-0; .ci/run installs it): {err}"
    return None


needs_checkers = pytest.mark.skipif(
    _udunits_missing() is not None or not (BIN / "cfchecks").exists()
    or not (BIN / "compliance-checker").exists(),
    reason=_udunits_missing() or "cfchecker / compliance-checker not installed (the test extra)")


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> list[str]:
    """cfchecks' tables, offline: the CF standard name table compliance-checker ships (v93) and
    empty area-type and region tables (the outputs use no area_type nor region name, and the
    checker would otherwise download the tables)."""
    from compliance_checker import __file__ as package

    folder = tmp_path_factory.mktemp("cf_tables")
    empty = ("<?xml version='1.0'?><{0}><version_number>0</version_number><date>none</date>"
             "</{0}>")
    (folder / "area.xml").write_text(empty.format("area_type_table"))
    (folder / "region.xml").write_text(empty.format("standardized_region_list"))
    names = Path(package).parent / "data" / "cf-standard-name-table.xml"
    return ["-s", str(names), "-a", str(folder / "area.xml"), "-r", str(folder / "region.xml")]


def cfchecks(path: Path, tables: list[str]) -> tuple[int, int, str]:
    """Errors and warnings cfchecks (CF 1.8) reports for ``path``, and its report."""
    run = subprocess.run([str(BIN / "cfchecks"), "-v", "1.8", *tables, str(path)],
                         capture_output=True, text=True, timeout=600)
    report = run.stdout + run.stderr
    errors = re.search(r"ERRORS detected: (\d+)", report)
    warnings = re.search(r"WARNINGS given: (\d+)", report)
    assert errors and warnings, report[-3000:]  # no crash before the summary
    findings = "\n".join(line for line in report.splitlines()
                         if line.startswith(("ERROR", "WARN", "Checking variable")))
    return int(errors[1]), int(warnings[1]), findings


def compliance(path: Path, tmp_path: Path) -> dict:
    """The compliance-checker's CF-1.10 results for ``path`` (its JSON report)."""
    out = tmp_path / f"{path.stem}.cc.json"
    subprocess.run([str(BIN / "compliance-checker"), "-t", "cf:1.10", "-f", "json_new", "-o",
                    str(out), str(path)], capture_output=True, text=True, timeout=600)
    return json.loads(out.read_text())[str(path)]["cf:1.10"]


def failing(results: dict, priority: str) -> list:
    return [(r["name"], r["msgs"]) for r in results[f"{priority}_priorities"]
            if r["value"][0] < r["value"][1]]


def assert_clean(path: Path, tables: list[str], tmp_path: Path) -> list:
    errors, warnings, findings = cfchecks(path, tables)
    assert (errors, warnings) == (0, 0), findings
    results = compliance(path, tmp_path)
    assert results["high_count"] == 0 and not failing(results, "high"), failing(results, "high")
    return failing(results, "medium")


# the medium-priority notes left, by decision (README, "Output conventions"): the files say
# CF-1.8, the newest version cfchecker checks; a label (site, scenario, variant) is written as a
# netCDF character array named like its dimension, which xarray reads back as the index
ACCEPTED = re.compile(r'Conventions global attribute does not contain "CF-1.10"'
                      r"|(site|scenario|variant) shares the same name as one of its dimensions")


def only_accepted(medium: list) -> bool:
    return all(ACCEPTED.search(m) for _, msgs in medium for m in msgs)


@needs_checkers
def test_twin_run_out_is_cf_clean(tables, tmp_path):
    out = tmp_path / "run.nc"
    result = CliRunner().invoke(app, ["run", "--year", "2025", "--seed", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    medium = assert_clean(out, tables, tmp_path)
    assert only_accepted(medium), medium
    ds = xr.open_dataset(out)  # and xarray reads back what it wrote
    assert ds["site"].attrs["cf_role"] == "timeseries_id" and ds.attrs["featureType"] == \
        "timeSeries"


@needs_checkers
@needs_shared
def test_twin_simulate_out_with_a_weather_file_is_cf_clean(tables, tmp_path):
    out = tmp_path / "golmud.nc"
    epw = SHARED_WEATHER / "CHN_Qinghai.Golmud.528180_CSWD.epw"
    result = CliRunner().invoke(app, ["simulate", "golmud", "--weather", str(epw), "--out",
                                      str(out)])
    assert result.exit_code == 0, result.output
    assert only_accepted(assert_clean(out, tables, tmp_path))


@needs_checkers
def test_a_study_store_exported_to_netcdf_is_cf_clean(tables, tmp_path):
    study = Study(("hami", "golmud"), (1, 2), (Scenario("baseline"), Scenario.parse("+2K")),
                  tuple(parse_variants(["cooling.evaporative_assist=true,false"])))
    out = tmp_path / "study.nc"
    run_study(study, tmp_path / "study.zarr").to_netcdf(out)
    assert only_accepted(assert_clean(out, tables, tmp_path))


@needs_checkers
def test_the_checkers_see_what_this_branch_fixed(tables, tmp_path):
    """The checks are not blind: a unit UDUNITS cannot parse (the old ``g kWh-1``) and an
    hourly axis without its CF attributes are reported by both tools."""
    ds = xr.Dataset({"carbon_intensity": (("time",), [500.0, 510.0],
                                          {"units": "g kWh-1", "long_name": "carbon intensity"})},
                    coords={"time": ("time", [0, 1], {"units": "hours since 2025-01-01"})},
                    attrs={"Conventions": "CF-1.8"})
    path = tmp_path / "bad.nc"
    ds.to_netcdf(path)
    errors, _, findings = cfchecks(path, tables)
    assert errors >= 1 and "Invalid units: g kWh-1" in findings
    high = failing(compliance(path, tmp_path), "high")
    assert any("g kWh-1" in m for _, msgs in high for m in msgs), high
