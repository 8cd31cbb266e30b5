"""The fleet over a year (issue 25): placements a person can work out by hand on a two-site
fleet, conservation of jobs, inference and energy on a real year, the workload model and its CSV
traces, the `twin fleet` command and its CF output."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from sites import load_catalog
from tests.test_cf import ACCEPTED, assert_clean, needs_checkers, tables  # noqa: F401
from twin.cli import app
from twin.fleet import (
    DEFAULT_MAX_DELAY_H,
    JOB_STATUS,
    POLICIES,
    Planning,
    fleet_summary,
    place_training,
    run_fleet,
    scale_sites,
    serve_inference,
)
from twin.workload import (
    InferenceDemand,
    TrainingJobs,
    Workload,
    WorkloadParameters,
    read_trace,
    synthetic,
    write_trace,
    year_hours,
)

MW = 1e6
T = 72
TIME = pd.date_range("2025-03-01", periods=T, freq="h", tz="UTC")
ON_TIME, LATE, REFUSED = (JOB_STATUS.index(s) for s in ("on_time", "late", "refused"))


def two_sites(west_sun=range(10, 20), west_carbon=600.0) -> Planning:
    """East: no renewables; west: 10 MW of renewable IT power in the hours ``west_sun``. Both
    10 MW of IT, marginal PUE 1.2, 600 g/kWh (west: ``west_carbon``)."""
    available = np.zeros((2, T))
    available[1, list(west_sun)] = 10 * MW
    carbon = np.full((2, T), 600.0)
    carbon[1] = west_carbon
    return Planning(("east", "west"), TIME, np.array([10 * MW, 10 * MW]), available,
                    np.full((2, T), 1.2), np.full((2, T), 1.3), carbon, np.full((2, T), 0.5),
                    "CNY")


def jobs(*rows) -> Workload:
    """Training jobs (home, arrival hour, MW, duration h, deadline h, interruptible)."""
    home, start, mw, d, deadline, interruptible = zip(*rows)
    training = TrainingJobs(name=np.array([f"j{i}" for i in range(len(rows))]),
                            site=np.array(home), arrival=TIME[list(start)],
                            it_power_w=np.array(mw) * MW, duration_h=np.array(d),
                            deadline_h=np.array(deadline), interruptible=np.array(interruptible))
    none = InferenceDemand((), (), np.zeros(0), np.zeros((0, T)))
    return Workload(training, none)


def hours_run(placed, row: int) -> list[int]:
    return np.flatnonzero(placed.power_w[row]).tolist()


def test_isolated_runs_a_job_at_once_at_home_linked_waits_for_the_western_sun():
    work = jobs(("east", 0, 4.0, 3, 24, False))
    isolated = place_training(work, two_sites(), np.zeros((2, T)), "isolated")
    assert isolated.row.tolist() == [0] and hours_run(isolated, 0) == [0, 1, 2]
    assert isolated.status.tolist() == [ON_TIME] and isolated.end_h.tolist() == [3]
    linked = place_training(work, two_sites(), np.zeros((2, T)), "linked")
    # the first window whose three hours renewables carry: 10, 11, 12 at the west
    assert linked.row.tolist() == [1] and hours_run(linked, 1) == [10, 11, 12]
    assert linked.status.tolist() == [ON_TIME] and linked.end_h.tolist() == [13]


def test_an_interruptible_job_takes_the_scattered_renewable_hours():
    work = jobs(("east", 0, 4.0, 3, 24, True))
    linked = place_training(work, two_sites(west_sun=[5, 8, 20]), np.zeros((2, T)), "linked")
    assert linked.row.tolist() == [1] and hours_run(linked, 1) == [5, 8, 20]
    # isolated: the first three hours at home, whatever the sun does elsewhere
    isolated = place_training(work, two_sites(west_sun=[5, 8, 20]), np.zeros((2, T)),
                              "isolated")
    assert hours_run(isolated, 0) == [0, 1, 2]


def test_a_full_home_site_makes_isolated_jobs_late_or_refused_and_linked_ones_move():
    work = jobs(("east", 0, 4.0, 3, 24, False))
    full = np.zeros((2, T))
    full[0, :30] = 10 * MW  # the east is busy until hour 30
    late = place_training(work, two_sites(), full.copy(), "isolated")
    assert late.status.tolist() == [LATE] and hours_run(late, 0) == [30, 31, 32]
    assert late.end_h.tolist() == [33]
    refused = place_training(work, two_sites(), full.copy(), "isolated", max_delay_h=5)
    assert refused.status.tolist() == [REFUSED] and refused.row.tolist() == [-1]
    assert not refused.power_w.any() and np.isnan(refused.end_h).all()
    moved = place_training(work, two_sites(), full.copy(), "linked")
    assert moved.row.tolist() == [1] and moved.status.tolist() == [ON_TIME]


def test_a_forecast_known_for_a_day_finds_the_sun_the_climate_missed():
    work = jobs(("east", 0, 4.0, 3, 48, False))
    actual, forecast = two_sites(west_sun=range(2, 12)), two_sites(west_sun=range(30, 40))
    blind = place_training(work, forecast, np.zeros((2, T)), "linked-forecast")
    assert blind.row.tolist() == [1] and hours_run(blind, 1) == [30, 31, 32]
    day = place_training(work, forecast, np.zeros((2, T)), "linked-forecast", known=actual,
                         known_h=24)
    assert day.row.tolist() == [1] and hours_run(day, 1) == [2, 3, 4]


def test_jobs_share_capacity_first_come_first_served():
    # two 6 MW jobs at a 10 MW site: the second waits for the first
    work = jobs(("east", 0, 6.0, 2, 10, False), ("east", 0, 6.0, 2, 10, False))
    placed = place_training(work, two_sites(), np.zeros((2, T)), "isolated")
    assert hours_run(placed, 0) == [0, 1, 2, 3]
    assert placed.power_w[0].max() == 6 * MW and placed.end_h.tolist() == [2, 4]


def test_inference_uses_renewables_within_its_budget_and_its_home_otherwise():
    planning = two_sites(west_carbon=800.0)
    demand = np.full((1, T), 4 * MW)
    rtt = np.array([[2.0, 20.0]])
    both = np.array([[True, True]])
    served = serve_inference(demand, both, rtt, planning, np.zeros((2, T)))
    sun = np.zeros(T, dtype=bool)
    sun[10:20] = True
    # in the western sun all of it goes west; otherwise east, where a grid watt emits less
    assert np.allclose(served[0, 1], np.where(sun, 4 * MW, 0.0))
    assert np.allclose(served[0, 0], np.where(sun, 0.0, 4 * MW))
    home_only = np.array([[True, False]])
    committed = np.zeros((2, T))
    big = serve_inference(np.full((1, T), 12 * MW), home_only, rtt, planning, committed)
    assert np.allclose(big[0, 0], 10 * MW) and not big[0, 1].any()  # 2 MW unserved
    assert np.allclose(committed[0], 10 * MW)


# ---- a real year: three catalog sites, a few hundred jobs ----

FLEET = ("hami", "beijing", "ulanqab")


@pytest.fixture(scope="module")
def fleet():
    catalog = load_catalog()
    sites = [catalog[s] for s in FLEET]
    work = synthetic(sites, 2025, WorkloadParameters(jobs_per_year=300), seed=3)
    return sites, work, run_fleet(sites, work, year=2025, seed=0)


def test_every_job_is_on_time_late_or_refused(fleet):
    sites, work, ds = fleet
    deadline = ds["job_deadline"]
    status, finish, where = ds["job_status"], ds["job_finish"], ds["job_site"]
    assert set(np.unique(status.values)) <= {ON_TIME, LATE, REFUSED}
    refused = status == REFUSED
    assert (refused == finish.isnull()).all() and (refused == (where == "")).all()
    assert ((status == ON_TIME) == (finish <= deadline)).where(~refused, True).all()
    assert (finish <= deadline + DEFAULT_MAX_DELAY_H).where(~refused, True).all()
    assert (finish >= ds["job_duration"]).where(~refused, True).all()
    # isolated: every job that ran, ran at home
    iso = ds.sel(policy="isolated")
    ran = iso["job_status"] != REFUSED
    assert (iso["job_site"] == ds["job_home"]).where(ran, True).all()


def test_the_energy_of_the_jobs_that_ran_is_the_training_energy(fleet):
    sites, work, ds = fleet
    energy = ds["job_it_power"] * ds["job_duration"]
    ran = ds["job_status"] != REFUSED
    for policy in ds["policy"].values:
        expected = float(energy.where(ran.sel(policy=policy), 0.0).sum())
        assert float(ds["training_power"].sel(policy=policy).sum()) == pytest.approx(expected,
                                                                                   rel=1e-9)


def test_capacity_inference_and_power_balance_close_every_hour(fleet):
    sites, work, ds = fleet
    load = ds["training_power"] + ds["inference_power"]
    assert (load <= ds["it_capacity"] + 1e-3).all()
    np.testing.assert_allclose(ds["utilisation"], load / ds["it_capacity"], atol=1e-9)
    np.testing.assert_allclose(ds["inference_served"] + ds["inference_unserved"],
                               ds["inference_demand"].broadcast_like(ds["inference_served"]),
                               rtol=1e-9)
    np.testing.assert_allclose(ds["inference_served"].sum("region"),
                               ds["inference_power"].sum("site"), rtol=1e-9, atol=1e-3)
    # storage's balance: renewable + battery + grid + unserved = facility + curtailment
    supply = ds["renewable_power"] + ds["battery_power"] + ds["grid_import"] + \
        ds["unserved_power"]
    np.testing.assert_allclose(supply, ds["facility_power"] + ds["curtailment"], rtol=1e-9,
                               atol=1e-3)
    assert (ds["facility_power"] > ds["it_power"]).all()
    # inference never goes beyond its budget; isolated serves it at home only
    assert (ds["inference_latency"] <= ds["inference_budget"]).where(
        ds["inference_served"] > 0, True).all()
    home = ds["site"] == ds["inference_home"].isel(region=0)
    assert not ds["inference_power"].sel(policy="isolated").where(~home, 0.0).any()


def test_the_summary_adds_up(fleet):
    sites, work, ds = fleet
    table = fleet_summary(ds)
    assert list(table.index) == list(POLICIES)
    assert (table[["jobs_on_time", "jobs_late", "jobs_refused"]].sum(axis=1)
            == len(work.training)).all()
    per_site = fleet_summary(ds, by_site=True)
    for column in ("it_energy_mwh", "grid_mwh", "emissions_t", "jobs_refused"):
        np.testing.assert_allclose(per_site[column].groupby(level="policy").sum()
                                   .loc[table.index], table[column], rtol=1e-9)
    assert ((table["renewable_fraction"] > 0) & (table["renewable_fraction"] <= 1)).all()


# ---- the workload ----

def test_the_synthetic_workload_follows_its_parameters():
    catalog = load_catalog()
    sites = list(catalog.values())
    params = WorkloadParameters(jobs_per_year=2000)
    a = synthetic(sites, 2025, params, seed=1)
    b = synthetic(sites, 2025, params, seed=1)
    c = synthetic(sites, 2025, params, seed=2)
    assert (a.training.frame() == b.training.frame()).all().all()
    assert not a.training.frame().equals(c.training.frame())
    jobs_ = a.training
    # Poisson(2000) less the few whose deadline passes the year's end: within 5 sigma below
    assert 2000 - 5 * np.sqrt(2000) - 60 < len(jobs_) < 2000 + 5 * np.sqrt(2000)
    per_gpu = {s.id: s.it.capacity_w / s.it.gpu_count for s in sites}
    gpus = jobs_.it_power_w / np.array([per_gpu[s] for s in jobs_.site])
    assert gpus.min() >= params.gpus_min - 1e-6
    assert (gpus <= np.array([catalog[s].it.gpu_count for s in jobs_.site]) + 1e-6).all()
    assert (jobs_.deadline_h >= jobs_.duration_h * (1 + params.slack_min) - 1).all()
    assert (jobs_.deadline() <= year_hours(2025)[-1] + pd.Timedelta(hours=1)).all()
    assert 0.4 < jobs_.interruptible.mean() < 0.6
    # eastern (inference-role) sites get three times the jobs per MW of IT
    east = np.isin(jobs_.site, [s.id for s in sites if s.role == "inference"])
    cap = {r: sum(s.it.capacity_w for s in sites if s.role == r) for r in ("inference",
                                                                            "training")}
    ratio = (east.sum() / cap["inference"]) / ((~east).sum() / cap["training"])
    assert 2.3 < ratio < 3.9
    # inference: half the home site's capacity on average, peaking in the Beijing evening
    demand = a.inference.demand_w
    homes = [catalog[h].it.capacity_w for h in a.inference.home]
    np.testing.assert_allclose(demand.mean(axis=1), 0.5 * np.array(homes), rtol=1e-3)
    assert ((year_hours(2025)[demand[0].argmax()].hour + 8) % 24) in (20, 21)


def test_a_trace_round_trips_and_bad_traces_are_refused(tmp_path):
    catalog = load_catalog()
    sites = [catalog[s] for s in FLEET]
    work = synthetic(sites, 2025, WorkloadParameters(jobs_per_year=50), seed=0)
    path = tmp_path / "trace.csv"
    write_trace(work.training, path)
    back = read_trace(path, sites, 2025)
    pd.testing.assert_frame_equal(back.training.frame(), work.training.frame())
    frame = pd.read_csv(path)
    frame.drop(columns="deadline_h").to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(ValueError, match="a.csv: missing column.*deadline_h"):
        read_trace(tmp_path / "a.csv", sites, 2025)
    frame.assign(site="nowhere").to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(ValueError, match="nowhere not in the fleet"):
        read_trace(tmp_path / "b.csv", sites, 2025)
    frame.assign(arrival="2025-12-31T20:00:00Z").to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ValueError, match="not inside the simulated year 2025"):
        read_trace(tmp_path / "c.csv", sites, 2025)
    frame.assign(deadline_h=0).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ValueError, match="deadline_h must be >= duration_h"):
        read_trace(tmp_path / "d.csv", sites, 2025)


def test_scaling_a_fleet_scales_its_sizes():
    hami = load_catalog()["hami"]
    (big,) = scale_sites([hami], 2.0)
    assert big.it.capacity_w == 2 * hami.it.capacity_w
    assert big.it.gpu_count == 2 * hami.it.gpu_count
    assert big.pv.capacity_wp == 2 * hami.pv.capacity_wp
    assert big.wind.turbine_count == 2 * hami.wind.turbine_count
    assert big.grid.import_capacity_w == 2 * hami.grid.import_capacity_w
    with pytest.raises(ValueError, match="scale must be > 0"):
        scale_sites([hami], 0.0)


# ---- the command ----

runner = CliRunner()


def test_the_command_runs_a_trace_and_writes_the_dataset(tmp_path):
    catalog = load_catalog()
    sites = [catalog[s] for s in ("hami", "beijing")]
    write_trace(synthetic(sites, 2025, WorkloadParameters(jobs_per_year=40), seed=0).training,
                tmp_path / "t.csv")
    out = tmp_path / "fleet.nc"
    result = runner.invoke(app, ["fleet", "--sites", "hami", "--sites", "beijing",
                                 "--workload", str(tmp_path / "t.csv"), "--out", str(out),
                                 "--plots", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert pngs == ["fleet_emissions.png", "fleet_renewable_fraction_by_month.png",
                    "fleet_utilisation.png"]
    assert "change against isolated" in result.output and "linked-forecast" in result.output
    ds = xr.open_dataset(out)
    assert ds["policy"].values.tolist() == list(POLICIES)
    assert ds.sizes["time"] == 8760 and ds["training_power"].attrs["units"] == "W"
    assert ds["job_status"].attrs["flag_meanings"] == "on_time late refused"


@pytest.mark.parametrize("args, message", [
    (["--policy", "bogus"], "unknown policy bogus"),
    (["--preset", "huge"], "unknown workload preset 'huge'"),
    (["--objective", "speed"], "unknown objective 'speed'"),
    (["--workload", "/nonexistent/t.csv"], "workload trace /nonexistent/t.csv"),
    (["--plots", "/etc/hostname"], "--plots /etc/hostname: is a file"),
])
def test_bad_input_is_one_line(args, message):
    result = runner.invoke(app, ["fleet", "--sites", "hami", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


@needs_checkers
def test_the_fleet_dataset_is_cf_clean(fleet, tables, tmp_path):  # noqa: F811 (fixture)
    """cfchecks (CF 1.8) and the compliance-checker's CF-1.10 suite, as for `twin run --out`
    (tests/test_cf.py); the medium-priority notes left are those accepted there, for the
    fleet's labels (policy, region, job) as for the site."""
    out = tmp_path / "fleet.nc"
    fleet[2].to_netcdf(out)
    medium = assert_clean(out, tables, tmp_path)
    labels = re.compile(r"(policy|region|job) shares the same name as one of its dimensions")
    assert all(ACCEPTED.search(m) or labels.search(m) for _, msgs in medium for m in msgs), \
        medium
