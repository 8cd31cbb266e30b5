"""Scheduling (twin.schedule): search_windows on hand-made timelines whose best placement is known
by construction, a window's metrics against a hand calculation, the run-now option, objectives,
capacity, interruptible jobs, the reasons a job does not fit, bad input; plan() against brute
force, its capacity, the LP of interruptible jobs, the greedy fallback; a real simulated week."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import twin
from sites import get_site
from twin.schedule import Hold, Job, JobDoesNotFit, Timeline, search_windows
from twin.schedule_milp import plan, plan_greedy

T0 = pd.Timestamp("2025-07-01", tz="UTC")
MW = 1e6


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def per_site(values, shape):
    """``(S, T)`` from a scalar, one value per site, or a full array."""
    a = np.asarray(values, dtype=float)
    return np.broadcast_to(a[:, None] if a.ndim == 1 else a, shape).copy()


def make_timeline(headroom_mw, capacity_mw=(10.0, 10.0), committed_mw=0.0, mpue=1.2,
                  carbon=500.0, price=0.5, sites=("a", "b")) -> Timeline:
    headroom = np.asarray(headroom_mw, dtype=float) * MW
    shape = headroom.shape
    mpue = per_site(mpue, shape)
    return Timeline(site_ids=sites, time=pd.date_range(T0, periods=shape[1], freq="h"),
                    it_capacity_w=np.asarray(capacity_mw, dtype=float) * MW,
                    it_headroom_w=headroom, it_committed_w=per_site(committed_mw, shape) * MW,
                    marginal_pue=mpue, pue=mpue + 0.05,
                    carbon_intensity_g_per_kwh=per_site(carbon, shape),
                    price_per_kwh=per_site(price, shape), currency="CNY")


def job(power_mw, hours, start_h=0.0, deadline_h=24.0, **kw) -> Job:
    return Job(power_mw * MW, hours, at(start_h), at(deadline_h), **kw)


# ---- search_windows ------------------------------------------------------------------------


def test_search_finds_the_only_renewable_window():
    headroom = np.zeros((2, 24))
    headroom[1, 10:15] = 5.0  # site b carries 5 MW of IT on renewables in hours 10-14 only
    options = search_windows(make_timeline(headroom), job(4.0, 5))
    best = options[0]
    assert (best.site, best.start, best.end) == ("b", at(10), at(15))
    assert best.hours == tuple(at(h) for h in range(10, 15))
    assert best.grid_energy_wh == 0 and best.renewable_fraction == 1.0
    assert all(o.grid_energy_wh > 0 for o in options[1:])


def test_ties_go_to_the_earlier_start_and_limit_is_kept():
    headroom = np.zeros((2, 24))
    headroom[1, 10:15] = 5.0
    options = search_windows(make_timeline(headroom), job(4.0, 2), limit=4)
    assert [(o.site, o.start) for o in options[:4]] == [("b", at(h)) for h in (10, 11, 12, 13)]
    assert len(options) == 5 and options[-1].run_now and options[-1].start == T0


def test_window_metrics_by_hand():
    timeline = make_timeline([[1.0, 2.0, 3.0, 0.0]], capacity_mw=[10.0], sites=("a",),
                             mpue=[[1.1, 1.2, 1.3, 1.4]], carbon=[[100, 200, 300, 400]],
                             price=[[0.1, 0.2, 0.3, 0.4]])
    # a 2.5 MW job for 2 h that can only run in hours 1 and 2
    options = search_windows(timeline, job(2.5, 2, start_h=1, deadline_h=3))
    assert len(options) == 1
    o = options[0]
    grid_kwh = 1.2 * (2.5 - 2.0) * 1000  # hour 1: 0.5 MW above the headroom; hour 2: none
    facility_kwh = 2.5 * 1000 * (1.2 + 1.3)
    assert o.grid_energy_wh == pytest.approx(grid_kwh * 1000)
    assert o.emissions_kg == pytest.approx(grid_kwh * 200 / 1000)
    assert o.cost == pytest.approx(grid_kwh * 0.2)
    assert o.renewable_fraction == pytest.approx(1 - grid_kwh / facility_kwh)
    assert o.mean_pue == pytest.approx(facility_kwh / (2.5 * 1000 * 2))
    assert o.run_now and (o.start, o.end) == (at(1), at(3))


def test_run_now_starts_at_the_earliest_start_at_the_best_site():
    """A job that can start at 02:30 runs now from 02:30, not from the next whole hour."""
    headroom = np.zeros((2, 24))
    headroom[0, 12:16] = 5.0
    timeline = make_timeline(headroom, carbon=[600.0, 100.0])
    options = search_windows(timeline, job(2.0, 4, start_h=2.5), objective="carbon")
    assert (options[0].site, options[0].start, options[0].emissions_kg) == ("a", at(12), 0.0)
    now = [o for o in options if o.run_now]
    assert len(now) == 1
    assert (now[0].site, now[0].start, now[0].end) == ("b", at(2.5), at(6.5))
    assert now[0].hours == tuple(at(h) for h in (2, 3, 4, 5, 6))
    assert now[0].emissions_kg == pytest.approx(1.2 * 2.0 * 4 * 1000 * 100 / 1000)


def test_a_start_inside_an_hour_by_hand():
    """From 00:15 for 2 h: 45 min of hour 0, hour 1, 15 min of hour 2, each accounted for the
    part run; it needs room in all three hours and holds them whole."""
    values = dict(capacity_mw=[10.0], sites=("a",), mpue=[[1.1, 1.2, 1.3, 1.4]],
                  carbon=[[100, 200, 300, 400]], price=[[0.1, 0.2, 0.3, 0.4]])
    j = job(1.0, 2, start_h=0.25, deadline_h=3)
    options = search_windows(make_timeline(np.zeros((1, 4)), **values), j, objective="carbon")
    first = options[0]
    assert (first.start, first.end, first.run_now) == (at(0.25), at(2.25), True)
    kwh = [1.1 * 0.75 * 1000, 1.2 * 1000, 1.3 * 0.25 * 1000]  # b P x the part of each hour
    assert first.grid_energy_wh == pytest.approx(sum(kwh) * 1000)
    assert first.emissions_kg == pytest.approx((kwh[0] * 100 + kwh[1] * 200 + kwh[2] * 300) / 1000)
    assert first.mean_pue == pytest.approx(sum(kwh) / 2000)
    assert first.holds(1e6) == [Hold("a", at(0), at(3), 1e6)]
    assert [(o.start, o.end) for o in options[1:]] == [(at(1), at(3))]  # whole hours after it
    # no room in hour 0: the run cannot start inside it; run now is then the next whole hour
    committed = np.zeros((1, 4))
    committed[0, 0] = 9.5
    busy = make_timeline(np.zeros((1, 4)), committed_mw=committed, **values)
    options = search_windows(busy, j)
    assert [(o.start, o.end, o.run_now) for o in options] == [(at(1), at(3), True)]
    # nor in hour 2, which every run touches: JobDoesNotFit naming the largest free power
    committed[0, 2] = 9.5
    with pytest.raises(JobDoesNotFit, match="largest free: 0.5 MW"):
        search_windows(make_timeline(np.zeros((1, 4)), committed_mw=committed, **values), j)


def test_the_first_hour_may_be_partial_but_not_for_interruptible_jobs():
    """--deadline 17:59 --hours 2 at 15:52 (issue 18): 2 h fit from 15:52 for a rigid job;
    an interruptible job runs whole hours, of which there is one."""
    day = pd.Timestamp("2026-07-01", tz="UTC")
    rigid = Job(1e6, 2, day + pd.Timedelta("15:52:00"), day + pd.Timedelta("17:59:00"))
    assert rigid.earliest_start == day + pd.Timedelta("15:52:00")
    with pytest.raises(JobDoesNotFit, match="1 whole hours"):
        Job(1e6, 2, day + pd.Timedelta("15:52:00"), day + pd.Timedelta("17:59:00"),
            interruptible=True)
    with pytest.raises(JobDoesNotFit, match="too close"):
        Job(1e6, 2, day + pd.Timedelta("15:52:00"), day + pd.Timedelta("17:51:00"))


def test_carbon_and_cost_choose_differently():
    timeline = make_timeline(np.zeros((2, 12)), carbon=[100.0, 800.0], price=[1.0, 0.1])
    j = job(1.0, 3, deadline_h=12)
    assert search_windows(timeline, j, objective="carbon")[0].site == "a"
    assert search_windows(timeline, j, objective="cost")[0].site == "b"


def test_capacity_excludes_windows():
    headroom = np.zeros((2, 24))
    headroom[0, 2:7] = 10.0  # renewable at a, but committed load leaves no room there
    committed = np.zeros((2, 24))
    committed[0, :12] = 8.0
    timeline = make_timeline(headroom, capacity_mw=(10.0, 3.0), committed_mw=committed)
    options = search_windows(timeline, job(4.0, 4), limit=50)
    assert options and all(o.site == "a" and o.start >= at(12) for o in options)
    assert len(options) == 24 - 12 - 4 + 1  # every start from 12:00 to 20:00, no more


def test_interruptible_picks_the_cheapest_hours():
    price = [[5, 1, 4, 1, 3, 1, 2, 1, 6, 7, 8, 9]]
    timeline = make_timeline(np.zeros((1, 12)), capacity_mw=[5.0], sites=("a",), price=price)
    options = search_windows(timeline, job(1.0, 3, deadline_h=12, interruptible=True),
                             objective="cost")
    best = options[0]
    assert best.hours == (at(1), at(3), at(5))  # four hours cost 1: the earliest three
    assert (best.start, best.end) == (at(1), at(6))
    assert best.cost == pytest.approx(3 * 1.2 * 1000 * 1.0)
    now = [o for o in options if o.run_now]
    assert len(now) == 1 and now[0].hours == (at(0), at(1), at(2))


def test_interruptible_gives_one_option_per_site():
    headroom = np.zeros((2, 12))
    headroom[1, [2, 5, 9]] = 5.0
    options = search_windows(make_timeline(headroom),
                             job(1.0, 3, deadline_h=12, interruptible=True))
    # site a: every hour costs the same, so its earliest; run now: hours 0-2 at b (one
    # renewable hour there), not among the ranked options, so appended
    assert [(o.site, o.hours, o.run_now) for o in options] == [
        ("b", (at(2), at(5), at(9)), False), ("a", (at(0), at(1), at(2)), False),
        ("b", (at(0), at(1), at(2)), True)]
    assert options[0].grid_energy_wh == 0


# ---- when a job does not fit ---------------------------------------------------------------


def test_too_big_for_capacity_says_what_is_free():
    timeline = make_timeline(np.zeros((2, 24)), capacity_mw=(10.0, 12.5))
    with pytest.raises(JobDoesNotFit, match=r"40 MW .* 12 consecutive hours.*largest free: "
                                            r"12\.5 MW at b"):
        search_windows(timeline, job(40.0, 12, name="big"))


def test_committed_load_blocks_every_window():
    committed = np.zeros((1, 24))
    committed[0, ::3] = 9.0  # every third hour is nearly full
    timeline = make_timeline(np.zeros((1, 24)), capacity_mw=[10.0], committed_mw=committed,
                             sites=("a",))
    with pytest.raises(JobDoesNotFit, match=r"for 4 consecutive hours.*largest free: 1 MW"):
        search_windows(timeline, job(2.0, 4))
    # interruptible, it fits in the free hours
    assert search_windows(timeline, job(2.0, 4, interruptible=True))[0].site == "a"


def test_deadline_too_close():
    with pytest.raises(JobDoesNotFit, match="deadline is too close"):
        job(1.0, 5, start_h=0.5, deadline_h=5.4)  # 4.9 h from 00:30 (a start inside an hour)


def test_window_beyond_the_horizon():
    timeline = make_timeline(np.zeros((2, 24)))
    with pytest.raises(JobDoesNotFit, match=r"4 whole hours inside the timeline.*needs 6 h"):
        search_windows(timeline, job(1.0, 6, start_h=20, deadline_h=30))
    # a window reaching past the horizon still gets the hours inside it
    options = search_windows(timeline, job(1.0, 3, start_h=20, deadline_h=30))
    assert all(at(20) <= o.start and o.end <= at(24) for o in options)


@pytest.mark.parametrize("kwargs, message", [
    ({"power_mw": 0.0}, "it_power_w"),
    ({"power_mw": -1.0}, "it_power_w"),
    ({"power_mw": float("nan")}, "it_power_w"),
    ({"hours": 0}, "duration_h"),
    ({"hours": 1.5}, "duration_h"),
    ({"hours": True}, "duration_h"),
    ({"start_h": 10.0, "deadline_h": 5.0}, "not after the earliest start"),
    ({"sites": ()}, "sites is empty"),
])
def test_bad_job_values(kwargs, message):
    args = {"power_mw": 1.0, "hours": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        job(args.pop("power_mw"), args.pop("hours"), **args)


def test_bad_search_input():
    timeline = make_timeline(np.zeros((2, 24)))
    with pytest.raises(ValueError, match="grid_energy, carbon, cost"):
        search_windows(timeline, job(1.0, 2), objective="water")
    with pytest.raises(ValueError, match="unknown site.*nowhere"):
        search_windows(timeline, job(1.0, 2, sites=("a", "nowhere")))
    with pytest.raises(ValueError, match="limit"):
        search_windows(timeline, job(1.0, 2), limit=0)


def test_timeline_refuses_bad_arrays():
    good = make_timeline(np.zeros((2, 4)))
    headroom = np.zeros((2, 4))
    headroom[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"it_headroom_w is nan at site b, 2025-07-01 02:00"):
        make_timeline(headroom)
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        Timeline(**{**vars(good), "pue": np.ones((2, 3))})
    with pytest.raises(ValueError, match="consecutive whole UTC hours"):
        Timeline(**{**vars(good), "time": good.time + pd.Timedelta(minutes=30)})


def test_headroom_is_never_more_than_what_fits():
    """One definition of what fits: committed + P <= capacity; the headroom given above the free
    capacity is taken down to it, and a job of exactly the headroom then fits there."""
    timeline = make_timeline(np.full((2, 4), 12.0), capacity_mw=(10.0, 8.0),
                             committed_mw=np.array([[0.0, 3.0, 10.0, 11.0]] * 2))
    np.testing.assert_array_equal(timeline.it_headroom_w / MW,
                                  [[10.0, 7.0, 0.0, 0.0], [8.0, 5.0, 0.0, 0.0]])
    options = search_windows(timeline, job(7.0, 1, 1, 2, sites=("a",)))
    assert options[0].renewable_fraction == 1.0
    with pytest.raises(JobDoesNotFit):
        search_windows(timeline, job(7.0 + 1e-6, 1, 1, 2, sites=("a",)))


def test_select_and_with_committed():
    timeline = make_timeline(np.full((2, 24), 3.0))
    sub = timeline.select(sites=["b"], start=at(6), end=at(12))
    assert sub.site_ids == ("b",) and list(sub.time) == [at(h) for h in range(6, 12)]
    extra = np.zeros((2, 24))
    extra[0, 0] = 5.0 * MW
    more = timeline.with_committed(extra)
    assert more.it_committed_w[0, 0] == 5.0 * MW and more.it_headroom_w[0, 0] == 0.0
    assert more.it_headroom_w[0, 1] == 3.0 * MW
    with pytest.raises(ValueError, match="unknown site"):
        timeline.select(sites=["c"])


# ---- plan ----------------------------------------------------------------------------------


def brute_force(timeline: Timeline, jobs, weight) -> float:
    """The least sum over site-hours of weight x marginal PUE x IT above the headroom [W h]
    over every combination of (site, start) of rigid jobs that keeps within capacity."""
    n_sites, n_hours = timeline.it_headroom_w.shape
    choices = [[(s, k) for s in range(n_sites) for k in range(n_hours)
                if j.earliest_start <= timeline.time[k]
                and timeline.time[k] + pd.Timedelta(hours=j.duration_h) <= j.deadline]
               for j in jobs]
    free = timeline.it_capacity_w[:, None] - timeline.it_committed_w
    best = np.inf
    for combo in itertools.product(*choices):
        load = np.zeros((n_sites, n_hours))
        for j, (s, k) in zip(jobs, combo):
            load[s, k:k + j.duration_h] += j.it_power_w
        if (load > free + 1e-6).any():
            continue
        grid = timeline.marginal_pue * np.clip(load - timeline.it_headroom_w, 0, None)
        best = min(best, float((weight * grid).sum()))
    return best


@pytest.fixture(scope="module")
def crowded():
    """Two 3 MW sites over 12 hours with uneven headroom, marginal PUE and carbon, and three
    rigid jobs that cannot all run at one site at once."""
    rng = np.random.default_rng(7)
    timeline = make_timeline(rng.uniform(0.0, 3.0, (2, 12)) * (rng.random((2, 12)) < 0.6),
                             capacity_mw=(3.0, 3.0), mpue=rng.uniform(1.1, 1.4, (2, 12)),
                             carbon=[200.0, 700.0])
    jobs = [job(1.5, 3, deadline_h=12, name="j1"), job(1.0, 4, start_h=2, deadline_h=12),
            job(2.0, 2, deadline_h=9, name="j3")]
    return timeline, jobs


@pytest.mark.parametrize("objective, weight", [("grid_energy", 1.0), ("carbon", "carbon")])
def test_plan_equals_brute_force(crowded, objective, weight):
    timeline, jobs = crowded
    w = timeline.carbon_intensity_g_per_kwh / 1e6 if weight == "carbon" else weight
    result = plan(timeline, jobs, objective=objective)
    assert (result.method, result.status) == ("milp", "optimal")
    assert result.objective_value == pytest.approx(brute_force(timeline, jobs, w), rel=1e-6,
                                                   abs=1e-9)
    assert result.objective_value < plan_of_runs_now(timeline, jobs, w)


@pytest.mark.parametrize("seed", [0, 2, 5, 7, 9])
def test_the_rounding_cuts_keep_the_optimum(seed, monkeypatch):
    """plan()'s mixed-integer rounding cuts (twin.schedule_milp._with_cuts) are valid: on
    crowded random instances where they are added, the plan still equals brute force."""
    from twin import schedule_milp

    added = []

    def counted(problem, columns, time_limit_s, real=schedule_milp._with_cuts):
        out, x, reduced = real(problem, columns, time_limit_s)
        added.append(out.matrix.shape[0] - problem.matrix.shape[0])
        return out, x, reduced

    monkeypatch.setattr(schedule_milp, "_with_cuts", counted)
    rng = np.random.default_rng(seed)
    timeline = make_timeline(rng.uniform(0.0, 3.0, (2, 12)) * (rng.random((2, 12)) < 0.6),
                             capacity_mw=(3.0, 3.0), mpue=rng.uniform(1.1, 1.4, (2, 12)),
                             carbon=[200.0, 700.0])
    jobs = [job(rng.uniform(0.5, 2.5), int(rng.integers(2, 5)), deadline_h=12, name=f"j{k}")
            for k in range(3)]
    result = plan(timeline, jobs, objective="grid_energy")
    assert added and added[0] > 0, "no cut added: the test does not exercise them"
    assert result.status == "optimal"
    assert result.objective_value == pytest.approx(brute_force(timeline, jobs, 1.0), rel=1e-6,
                                                   abs=1e-9)


def test_a_start_proven_optimal_by_the_cuts_is_the_plan(monkeypatch):
    """plan() returns its rounded start without HiGHS's branch and cut when the cut LP's bound
    is within OPTIMAL_GAP of it, and runs HiGHS otherwise: on crowded random instances the
    plan equals brute force either way, and both happen."""
    from twin import schedule_milp

    ran = []

    def counted(problem, *args, real=schedule_milp.solve, **kwargs):
        ran[-1] |= bool(problem.integer.any())
        return real(problem, *args, **kwargs)

    monkeypatch.setattr(schedule_milp, "solve", counted)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        timeline = make_timeline(rng.uniform(0.0, 3.0, (2, 12)) * (rng.random((2, 12)) < 0.6),
                                 capacity_mw=(3.0, 3.0), mpue=rng.uniform(1.1, 1.4, (2, 12)),
                                 carbon=[200.0, 700.0])
        jobs = [job(rng.uniform(0.5, 2.5), int(rng.integers(2, 5)), deadline_h=12,
                    name=f"j{k}") for k in range(3)]
        ran.append(False)
        result = plan(timeline, jobs, objective="carbon")
        assert result.status == "optimal" and result.mip_gap <= schedule_milp.OPTIMAL_GAP
        weight = timeline.carbon_intensity_g_per_kwh / 1e6
        assert result.objective_value == pytest.approx(brute_force(timeline, jobs, weight),
                                                       rel=1e-6, abs=1e-9)
    assert not all(ran) and any(ran), ran


@pytest.mark.parametrize("seed", range(4))
def test_every_complemented_mir_cut_holds_at_every_whole_point(seed):
    """twin.schedule_milp._mir (the cuts' rounding; _mir_cuts complements any Y_j, not only
    those above 1/2): for random site-hour rows, every complement set and every divisor, the
    cut holds at every whole assignment of the row's jobs with its least grid power g =
    max(sum P_j Y_j - h, 0)."""
    from twin.schedule_milp import _mir

    rng = np.random.default_rng(seed)
    n = 6
    power = rng.uniform(0.2, 3.0, n)
    points = np.array(list(itertools.product([0.0, 1.0], repeat=n)))
    sets = np.array(list(itertools.product([False, True], repeat=n)))  # every complement set
    for h in rng.uniform(0.1, 6.0, 3):
        present = np.tile(rng.random(n) < 0.85, (sets.shape[0], 1))
        least_g = np.maximum(points @ (power * present[0]) - h, 0.0)
        for delta in [*power, power.max() / 2, power.min() / 4, 0.37]:
            k = sets.shape[0]
            violation, coef, rhs = _mir(np.full((k, n), 0.5), present, power, sets,
                                        np.full(k, h), np.zeros(k), np.full(k, delta))
            cut = np.isfinite(violation)
            assert cut.any()
            # (cut, point): the cut's left-hand side at the point less its right-hand side
            excess = coef[cut] @ points.T - least_g[None, :] - rhs[cut, None]
            assert excess.max() <= 1e-9


def crowded_instance(seed):
    """A crowded random instance: four rigid jobs and an interruptible one on two 3 MW sites
    over 12 hours."""
    rng = np.random.default_rng(seed)
    timeline = make_timeline(rng.uniform(0.0, 3.0, (2, 12)) * (rng.random((2, 12)) < 0.6),
                             capacity_mw=(3.0, 3.0), mpue=rng.uniform(1.1, 1.4, (2, 12)),
                             carbon=[200.0, 700.0])
    jobs = [job(rng.uniform(0.5, 2.5), int(rng.integers(2, 5)), deadline_h=12, name=f"j{k}")
            for k in range(4)] + [job(1.0, 4, deadline_h=12, interruptible=True, name="i")]
    return timeline, jobs


@pytest.mark.parametrize("seed", range(8))
def test_the_rounded_start_is_a_feasible_point_of_the_program(seed):
    """twin.schedule_milp._rounded_start (plan()'s start for HiGHS) from a fractional solution
    of the linear program, on crowded random instances (four rigid jobs and an interruptible
    one on two 3 MW sites): it keeps every row and bound, runs each rigid job once, whole, and
    is no better than the plan."""
    import dataclasses

    import twin.schedule_milp as milp

    timeline, jobs = crowded_instance(seed)
    problem, columns = milp._milp_problem(timeline, jobs, "grid_energy")
    x = milp.solve(dataclasses.replace(problem, integer=np.zeros_like(problem.integer))).x
    start = milp._rounded_start(problem, columns, x, 10.0)
    assert start is not None
    tol = 1e-7
    activity = problem.matrix @ start
    assert (activity >= problem.row_lower - tol).all()
    assert (activity <= problem.row_upper + tol).all()
    assert (start >= problem.col_lower - tol).all() and (start <= problem.col_upper + tol).all()
    y = start[columns["y"]]
    assert set(np.unique(y)) == {0.0, 1.0}
    assert list(np.bincount(columns["y_job"], y)[:4]) == [1.0] * 4
    g = columns["g"]
    assert problem.cost[g] @ start[g] * columns["to_objective"] >= \
        plan(timeline, jobs).objective_value * (1 - 1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_the_starts_left_out_by_reduced_cost_cannot_beat_the_start(seed):
    """twin.schedule_milp._kept_by_reduced_cost (the columns plan() gives HiGHS), on crowded
    random instances (four rigid jobs and an interruptible one on two 3 MW sites, the program
    with plan()'s cuts and rounded start): every start column it leaves out, when forced to 1
    instead, makes the linear program cost more than the start (or have no solution), so no
    plan at least as good is lost; the start is kept, and the program of the kept columns has
    the optimum of the whole one."""
    import dataclasses

    import twin.schedule_milp as milp

    timeline, jobs = crowded_instance(seed)
    problem, columns = milp._milp_problem(timeline, jobs, "carbon")
    problem, x, reduced = milp._with_cuts(problem, columns, 10.0)
    start = milp._rounded_start(problem, columns, x, 10.0)
    kept = milp._kept_by_reduced_cost(problem, columns, x, reduced, start)
    left_out = np.flatnonzero(~kept)
    assert left_out.size > 0, "nothing left out: the test does not exercise it"
    assert set(left_out) <= set(range(columns["y"].start, columns["y"].stop))
    assert (start[left_out] == 0.0).all()
    relaxed = dataclasses.replace(problem, integer=np.zeros_like(problem.integer))
    best = problem.cost @ start
    for k in left_out:
        lower = relaxed.col_lower.copy()
        lower[k] = 1.0
        forced = milp.solve(dataclasses.replace(relaxed, col_lower=lower))
        assert forced.status == "infeasible" or forced.bound > best
    part = milp.solve(problem, start=start, kept=kept)
    assert part.x.shape == start.shape and (part.x[left_out] == 0.0).all()
    assert problem.cost @ part.x == pytest.approx(problem.cost @ milp.solve(problem).x,
                                                  rel=1e-6, abs=1e-9)


def plan_of_runs_now(timeline, jobs, weight) -> float:
    """Every job started at its earliest start at site a: a worse plan, for contrast."""
    load = np.zeros(timeline.it_headroom_w.shape)
    for j in jobs:
        k = timeline.time.get_loc(j.earliest_start)
        load[0, k:k + j.duration_h] += j.it_power_w
    return float((weight * timeline.marginal_pue
                  * np.clip(load - timeline.it_headroom_w, 0, None)).sum())


def check_feasible(timeline: Timeline, jobs, result) -> None:
    """Each job runs its hours inside its window at allowed sites where it fits, rigid jobs back
    to back at one site, never above its power in an hour; the IT power per site-hour, rebuilt
    from the runs, is the plan's and stays within capacity."""
    load = np.zeros(timeline.it_headroom_w.shape)
    free = timeline.it_capacity_w[:, None] - timeline.it_committed_w
    assert [a.job for a in result.assignments] == list(jobs)
    for a in result.assignments:
        j = a.job
        sites, hours, fractions = zip(*a.runs)
        assert sum(fractions) == pytest.approx(j.duration_h, rel=1e-6)
        assert min(hours) >= j.earliest_start and max(hours) + pd.Timedelta(hours=1) <= j.deadline
        if j.sites is not None:
            assert set(sites) <= set(j.sites)
        if not j.interruptible:
            assert len(set(sites)) == 1 and fractions == (1.0,) * j.duration_h
            assert list(hours) == list(pd.date_range(a.start, periods=j.duration_h, freq="h"))
        per_hour = pd.Series(fractions).groupby(pd.Series(hours)).sum()
        assert (per_hour <= 1 + 1e-6).all()
        for s, h, f in a.runs:
            i, t = timeline.site_ids.index(s), timeline.time.get_loc(h)
            assert j.it_power_w <= free[i, t] + 1.0  # it fits there on its own
            load[i, t] += j.it_power_w * f
    np.testing.assert_allclose(result.it_power_w, load, atol=1e-3)
    assert (load <= free + 1.0).all()


@pytest.fixture(scope="module")
def busy():
    """Three sites, two days, twelve jobs (half interruptible) that crowd the capacity."""
    rng = np.random.default_rng(3)
    shape = (3, 48)
    hour = np.arange(48) % 24
    sun = np.clip(np.sin(np.pi * (hour - 6) / 12), 0, None)
    timeline = make_timeline(sun * rng.uniform(1.0, 4.0, (3, 1)), capacity_mw=(2.0, 3.0, 4.0),
                             committed_mw=rng.choice([0.0, 0.5], shape), carbon=[300, 500, 700],
                             mpue=rng.uniform(1.1, 1.3, shape), sites=("a", "b", "c"))
    jobs = []
    for k in range(12):
        hours = int(rng.integers(2, 10))
        start = int(rng.integers(0, 48 - hours))
        deadline = start + hours + int(rng.integers(0, 48 - start - hours + 1))
        jobs.append(job(rng.uniform(0.3, 1.8), hours, start, deadline, interruptible=k % 2 == 0,
                        sites=("b", "c") if k == 5 else None, name=f"j{k}"))
    return timeline, jobs


def test_plan_keeps_capacity_and_windows(busy):
    timeline, jobs = busy
    result = plan(timeline, jobs, objective="carbon")
    assert result.method == "milp" and result.status == "optimal"
    check_feasible(timeline, jobs, result)
    greedy = plan_greedy(timeline, jobs, objective="carbon")
    check_feasible(timeline, jobs, greedy)
    assert result.objective_value <= greedy.objective_value * (1 + 1e-6)


def test_interruptible_jobs_make_an_lp():
    # 3 MWh of renewables (hours 0 and 1) for 4 MWh of jobs: 1 MWh more at the cheapest
    # marginal PUE with room, hour 1 (1.1), is the least grid energy
    timeline = make_timeline([[2.0, 1.0, 0.0, 0.0, 0.0, 0.0]], capacity_mw=[2.0], sites=("a",),
                             mpue=[[1.1, 1.1, 1.5, 1.2, 1.3, 1.4]])
    jobs = [job(1.0, 2, deadline_h=6, interruptible=True, name=n) for n in "xy"]
    result = plan(timeline, jobs)
    assert (result.method, result.status, result.mip_gap) == ("milp", "optimal", 0.0)
    assert result.grid_energy_wh == pytest.approx(1.1 * MW, rel=1e-6)
    check_feasible(timeline, jobs, result)


def test_greedy_plan_places_interruptible_jobs_by_the_lp(busy):
    # with no rigid job the greedy plan is the linear program: plan()'s optimum; with rigid
    # jobs it is no better than the optimum and places every job within capacity
    timeline, jobs = busy
    flexible = [j for j in jobs if j.interruptible]
    assert plan_greedy(timeline, flexible, "cost").objective_value == pytest.approx(
        plan(timeline, flexible, "cost").objective_value, rel=1e-6)
    greedy = plan_greedy(timeline, jobs, "cost")
    check_feasible(timeline, jobs, greedy)
    assert greedy.objective_value >= plan(timeline, jobs, "cost").objective_value * (1 - 1e-6)


def test_greedy_fallback_when_the_solver_runs_out_of_time(busy):
    # HiGHS stopped by its time limit before it has a solution: the greedy plan, which says so
    timeline, jobs = busy
    result = plan(timeline, jobs, "carbon", time_limit_s=1e-6)
    assert (result.method, result.status) == ("greedy", "time_limit")
    assert np.isnan(result.mip_gap)
    check_feasible(timeline, jobs, result)
    assert result.objective_value >= plan(timeline, jobs, "carbon").objective_value * (1 - 1e-6)


def test_plan_names_the_job_that_does_not_fit(busy):
    timeline, jobs = busy
    with pytest.raises(JobDoesNotFit, match=r"jobs\[1\]: job 'huge'.*5 MW"):
        plan(timeline, [jobs[0], job(5.0, 2, deadline_h=48, name="huge")])
    with pytest.raises(ValueError, match="no jobs"):
        plan(timeline, [])


# ---- a simulated week ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def week():
    ds = twin.simulate(None, ["hami", "golmud"]).isel(time=slice(0, 168))
    return ds, Timeline.from_dataset(ds)


def test_timeline_from_a_simulated_week(week):
    ds, timeline = week
    assert timeline.site_ids == ("hami", "golmud") and timeline.time.size == 168
    assert timeline.time[0] == pd.Timestamp(ds.time.values[0], tz="UTC")
    assert list(timeline.it_capacity_w) == [get_site(s).it.capacity_w for s in ("hami", "golmud")]
    assert timeline.currency == ds["electricity_price"].attrs["currency"]
    reserved = np.full((2, 168), 1.0 * MW)
    held = Timeline.from_dataset(ds, it_committed_w=reserved)
    np.testing.assert_allclose(held.it_committed_w, ds["it_committed_power"].values + 1.0 * MW)
    np.testing.assert_allclose(held.it_headroom_w,
                               np.maximum(ds["it_headroom"].values - 1.0 * MW, 0.0))


@pytest.mark.parametrize("interruptible", [False, True])
def test_search_on_a_simulated_week(week, interruptible):
    _, timeline = week
    j = Job(1.0 * MW, 6, timeline.time[10], timeline.time[100], interruptible=interruptible)
    options = search_windows(timeline, j, objective="carbon")
    assert options and any(o.run_now for o in options)
    for o in options:
        assert o.site in timeline.site_ids and len(o.hours) == 6
        assert j.earliest_start <= o.start and o.end <= j.deadline
        assert set(o.hours) <= set(timeline.time)
        assert 0.0 <= o.renewable_fraction <= 1.0 and o.mean_pue > 1.0
    ranked = [o.emissions_kg for o in options if not o.run_now] or [options[0].emissions_kg]
    assert ranked == sorted(ranked)


def test_plan_on_a_simulated_week(week):
    _, timeline = week
    jobs = [Job(p * MW, d, timeline.time[s], timeline.time[s] + pd.Timedelta(hours=w),
                interruptible=i, name=f"w{k}")
            for k, (p, d, s, w, i) in enumerate([(2.0, 8, 0, 48, False), (1.5, 12, 20, 80, True),
                                                 (1.0, 6, 30, 60, False), (2.4, 4, 100, 60, True)])]
    result = plan(timeline, jobs, objective="cost")
    assert result.status == "optimal"
    check_feasible(timeline, jobs, result)


def test_plans_run_jobs_on_whole_hours():
    """A plan starts a job whose earliest start is inside an hour at the next whole hour, and
    names the job whose deadline then leaves too few hours."""
    timeline = make_timeline(np.full((2, 24), 5.0))
    result = plan(timeline, [job(1.0, 2, start_h=2.5, deadline_h=5)], time_limit_s=5)
    assert (result.assignments[0].start, result.assignments[0].end) == (at(3), at(5))
    with pytest.raises(JobDoesNotFit, match=r"jobs\[1\].*whole hours from 2025-07-01 03:00"):
        plan(timeline, [job(1.0, 2), job(1.0, 2, start_h=2.5, deadline_h=4.75)])


def test_the_greedy_fallback_stays_within_the_plans_time_limit(monkeypatch):
    """When the solver stops without a solution, the greedy plan's linear program gets only
    what is left of the plan's time limit (issue 19: it ran without one)."""
    import twin.schedule_milp as milp

    limits, real_solve = [], milp.solve

    def solve(problem, time_limit_s=None, start=None, options=None, kept=None):
        limits.append((problem.integer.any(), time_limit_s))
        if problem.integer.any():  # the joint MILP: stopped at its limit, nothing found
            return milp.Solved("time_limit", None, float("nan"))
        return real_solve(problem, time_limit_s, start, options, kept)

    monkeypatch.setattr(milp, "solve", solve)
    monkeypatch.setattr(milp, "OPTIMAL_GAP", -1.0)  # the MILP runs even for a start proven optimal
    jobs = [job(1.0, 3, name="rigid"), job(1.0, 3, name="flexible", interruptible=True)]
    result = plan(make_timeline(np.full((2, 24), 0.5)), jobs, time_limit_s=2.0)
    assert result.method == "greedy" and result.status == "time_limit"
    # the calls before the MILP's (the rounded start's program), the MILP's, the greedy plan's
    after = limits[[milp for milp, _ in limits].index(True) + 1:]
    assert len(after) == 1 and not after[0][0]
    assert all(limit is not None and 0 < limit <= 2.0 for _, limit in limits)


# ---- a large plan: the greedy plan first, the solver started from it -----------------------


def test_the_greedy_start_is_a_feasible_point_of_the_program(busy):
    """The greedy plan as the program's columns (the solver's start) keeps every row and bound,
    and the program's objective there is the greedy Plan's, which twin.schedule accounts from
    the plan's IT power alone."""
    import twin.schedule_milp as milp

    timeline, jobs = busy
    problem, columns = milp._milp_problem(timeline, jobs, "carbon")
    runs = milp._greedy_runs(timeline, jobs, "carbon", None)
    x = milp._start_values(timeline, jobs, problem, columns, runs)
    tol = 1e-7
    activity = problem.matrix @ x
    assert (activity >= problem.row_lower - tol).all()
    assert (activity <= problem.row_upper + tol).all()
    assert (x >= problem.col_lower - tol).all() and (x <= problem.col_upper + tol).all()
    assert set(np.unique(x[problem.integer])) == {0.0, 1.0}
    g = columns["g"]
    greedy = plan_greedy(timeline, jobs, "carbon")
    assert problem.cost[g] @ x[g] * columns["to_objective"] == pytest.approx(
        greedy.objective_value, rel=1e-6)


def test_a_large_plan_starts_from_the_greedy_plan(busy, crowded, monkeypatch):
    """Above LARGE_PLAN_BINARIES the solver starts from the greedy plan: given the time, it
    still reaches the brute-force optimum, keeps capacity and windows, and is never worse
    than the greedy plan."""
    import twin.schedule_milp as milp

    monkeypatch.setattr(milp, "LARGE_PLAN_BINARIES", 0)
    timeline, jobs = crowded
    result = plan(timeline, jobs, objective="carbon")
    assert (result.method, result.status) == ("milp", "optimal")
    assert result.objective_value == pytest.approx(
        brute_force(timeline, jobs, timeline.carbon_intensity_g_per_kwh / 1e6), rel=1e-6)
    timeline, jobs = busy
    result = plan(timeline, jobs, objective="cost")
    check_feasible(timeline, jobs, result)
    assert result.method == "milp" and np.isfinite(result.mip_gap)
    assert result.objective_value <= plan_greedy(timeline, jobs, "cost").objective_value * (
        1 + 1e-9)


def test_a_large_plan_stays_within_its_time_limit(busy, monkeypatch):
    """The greedy plan and the solver after it share the plan's time limit: the solver gets
    what is left, and the greedy plan's start (issue 23: a 1,000-job plan ran 42 s of 30)."""
    import twin.schedule_milp as milp

    calls, real_solve = [], milp.solve

    def solve(problem, time_limit_s=None, start=None):
        calls.append((problem.integer.any(), time_limit_s, start is not None))
        return real_solve(problem, time_limit_s, start)

    monkeypatch.setattr(milp, "LARGE_PLAN_BINARIES", 0)
    monkeypatch.setattr(milp, "solve", solve)
    timeline, jobs = busy
    plan(timeline, jobs, "carbon", time_limit_s=4.0)
    (lp, lp_limit, _), (mip, mip_limit, started) = calls
    assert not lp and mip and started
    assert 0 < lp_limit <= milp.GREEDY_FIRST_SHARE * 4.0
    assert 0 < mip_limit <= (1 - milp.END_SHARE) * 4.0
