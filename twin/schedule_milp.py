"""The joint plan's model: many jobs placed together as one mixed-integer linear program.

:func:`plan` places many jobs jointly, sharing each site-hour's capacity and headroom, as a
mixed-integer linear program solved by HiGHS through its Python interface highspy (Huangfu and Hall
2018, "Parallelizing the dual revised simplex method", Mathematical Programming Computation 10,
119-142, the reference HiGHS asks users to cite): a rigid job has a binary start variable per
feasible (site, start hour), the time-indexed formulation of Sousa and Wolsey (1992, "A time
indexed formulation of non-preemptive single machine scheduling problems", Mathematical Programming
54, 353-367); an interruptible job has a continuous run fraction per hour, and the power of jobs
that fit the same site-hours is spread over those sites per hour, so that jobs that are all
interruptible make a linear program. Each touched site-hour has one row: the jobs' IT power less a
grid part is at most the headroom, the grid part at most the free capacity beyond it; the objective
weighs the grid part by the marginal PUE and the objective's weight; mixed-integer rounding cuts
of the site-hour rows, separated at its linear program's solutions, tighten it before HiGHS's own
branch and cut (:func:`_with_cuts`), and the last of those solutions, rounded to a whole plan, is
HiGHS's first incumbent (:func:`_rounded_start`): the plan itself when that solution's bound is
within OPTIMAL_GAP of it (HiGHS is then not run), else HiGHS gets the program without the starts
whose reduced costs there show they cannot beat it (:func:`_kept_by_reduced_cost`). When the
solver finds no solution in its time limit, a greedy plan (the rigid jobs one at a time, largest
first, each at its best window given the ones placed; then the interruptible ones by the linear
program) is returned instead, and the better of the two when it stops at the limit with a
solution. A large plan (more than
LARGE_PLAN_BINARIES start columns, e.g. 1,000 jobs over 15 sites and a week) makes the greedy plan
first and gives it to HiGHS as its first incumbent, without the tie-break: the solver improves it
in what is left of the time limit and reports its gap to the bound.

The formulations tried and dropped, with their measurements, are in the docstring of
``benchmarks/plan.py``.
"""

from __future__ import annotations

import dataclasses
import time as clock
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse

from twin.schedule import (
    CAPACITY_TOLERANCE_W,
    OBJECTIVE_METRIC,
    Job,
    JobDoesNotFit,
    Plan,
    Timeline,
    _check_objective,
    _free_w,
    _grid_weights,
    _one_by_one,
    _placements,
    _plan_of_runs,
    _show_time,
)
from twin.timebase import HOUR
from twin.variables import W_PER_MW

# the solver works in MW so that its coefficients are near 1; its objective: the largest weight
# of a grid MWh (HiGHS's tolerances are absolute: 1e-7 on reduced costs), and the earlier-hours
# tie-break per MWh of job relative to it
OBJECTIVE_SCALE = 100.0
TIE_BREAK = 1e-6
# run fractions below this in the solver's answer are taken as not run
MIN_FRACTION = 1e-6
# the least time the solver gets [s] (or the whole limit when shorter), however long building
# the program took
MIN_SOLVE_S = 0.05
# the share of a plan's time limit kept for the greedy plan that follows a solver stopped by it
GREEDY_SHARE = 0.1
# a plan with more binary columns than this starts from the greedy plan (made first, within
# GREEDY_FIRST_SHARE of its time limit; benchmarks/plan.py's 100 jobs have 8,800, its 1,000
# jobs on 15 sites 147,000-156,000) and keeps END_SHARE of the limit for what follows the
# solver's limit: HiGHS stopped 1.8-6.4 s after a 12-20 s limit on those 1,000 jobs (its root
# node does not check the clock often), loading and reading its model and the Plans took 2 s
LARGE_PLAN_BINARIES = 50_000
GREEDY_FIRST_SHARE = 0.5
END_SHARE = 0.3
# the most rounds of our own mixed-integer rounding cuts on the site-hour rows before HiGHS's
# branch and cut (:func:`_with_cuts`; benchmarks/plan.py's 30 plans: the target met by 11
# instead of 4, plan() median 2.3 s instead of 3.6; with the complement flips of :func:`_mir_cuts`
# seed 2's carbon separation ends by itself before round 12), the least violation [MW] of a cut
# kept, and the margin [MW] its right-hand side is given for rounding
MIR_ROUNDS = 12
MIR_MIN_VIOLATION = 1e-4
MIR_MARGIN = 1e-9
# the start columns fixed at 0 before HiGHS (:func:`_kept_by_reduced_cost`) are those whose
# reduced cost exceeds the start's objective less the cut LP's by more than this share of it,
# far above HiGHS's dual tolerance (1e-7 per reduced cost) at the objective's scale
REDUCED_COST_MARGIN = 1e-6
# the program without the starts left out by reduced cost goes through HiGHS's presolve (unlike
# the whole one, HIGHS_OPTIONS): on the nine plans of benchmarks/plan.py HiGHS still solves, its
# time summed 8.6 -> 7.6 s (medians of 3, alternately, load 2.0-2.3), seed 3 grid energy 1.86 ->
# 0.67 s, seed 7 carbon 0.72 -> 0.50, seed 4 carbon slower (0.88 -> 1.28 s)
REDUCED_PRESOLVE = "on"
# a plan within this relative gap of a bound is optimal: HiGHS's mip_rel_gap (its default),
# |objective - bound| / |objective| (the HiGHS documentation's options page)
OPTIMAL_GAP = 1e-4
# HiGHS's outcome -> Plan.status ("failed" for any other)
_STATUS = highspy.HighsModelStatus
SOLVER_STATUS = {_STATUS.kOptimal: "optimal", _STATUS.kTimeLimit: "time_limit",
                 _STATUS.kInfeasible: "infeasible", _STATUS.kUnbounded: "unbounded"}
# HiGHS's presolve removes next to nothing here (only feasible starts and touched site-hours are
# built) and slowed benchmarks/plan.py down; its root reduced-cost and feasibility-jump heuristics
# took a third of the solve time (py-spy --native profile of a seed-2 solve) without finding the
# plans sooner: benchmarks/plan.py's seed 1 takes 0.8-1.2 s with them off, 1.5-1.9 s with them
# on (HIGHS_OPTIONS updated before benchmarks.plan.main runs)
HIGHS_OPTIONS = {"output_flag": False, "presolve": "off",
                 "mip_heuristic_run_root_reduced_cost": False,
                 "mip_heuristic_run_feasibility_jump": False}


@dataclass(frozen=True, eq=False)
class Problem:
    """A program in HiGHS's terms: minimise ``cost`` @ x subject to ``col_lower`` <= x <=
    ``col_upper``, ``row_lower`` <= ``matrix`` @ x <= ``row_upper`` and x whole where
    ``integer``."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    matrix: scipy.sparse.csr_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    integer: np.ndarray


def _blocks(sizes) -> tuple[dict[str, slice], int]:
    """Consecutive blocks of the given (name, size), in order: name -> its slice; the total."""
    blocks, start = {}, 0
    for name, size in sizes:
        blocks[name] = slice(start, start + size)
        start += size
    return blocks, start


def _at(block: slice, index=None) -> np.ndarray:
    """The indices of ``block``: all of them, or those at the positions ``index`` in it."""
    return np.arange(block.start, block.stop) if index is None else block.start + index


def _ragged(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``start, start + 1, ..., start + count - 1`` of every (start, count), concatenated."""
    offsets = np.cumsum(counts) - counts
    return np.repeat(starts - offsets, counts) + np.arange(counts.sum())


def _stack(parts) -> list[np.ndarray]:
    """The parts' (tuples of three integer arrays) first arrays concatenated, second, third."""
    return [np.concatenate([np.zeros(0, dtype=int), *(p[k] for p in parts)]) for k in range(3)]


def _job_columns(timeline: Timeline, jobs, power: np.ndarray, free: np.ndarray):
    """Per rigid job its starts (job, site row, first hour); per interruptible job its hours
    (job, hour, group); the groups (group, site rows, which of their site-hours the jobs fit
    ``(S', T)``), a group per set of site-hours that interruptible jobs fit. JobDoesNotFit
    names the first job that fits nowhere."""
    y_parts, u_parts, groups = [], [], {}
    for j, job in enumerate(jobs):
        try:
            rows, a, _, ok, _ = _placements(timeline, job)
        except JobDoesNotFit as e:
            raise JobDoesNotFit(f"jobs[{j}]: {e}") from e
        if job.interruptible:
            rows = rows[ok.any(axis=1)]
            fits = power[j] <= free[rows] + CAPACITY_TOLERANCE_W / W_PER_MW
            group = groups.setdefault((tuple(rows), fits.tobytes()), (len(groups), rows, fits))[0]
            hours = a + np.flatnonzero(ok.any(axis=0))
            u_parts.append((np.full(hours.size, j), hours, np.full(hours.size, group)))
        else:
            i, k = np.nonzero(ok)
            y_parts.append((np.full(i.size, j), rows[i], a + k))
    return _stack(y_parts), _stack(u_parts), list(groups.values())


def _group_columns(groups, group_hours: np.ndarray, n_hours: int) -> list[np.ndarray]:
    """(group, site row, hour) of every group's power at each site-hour of its group-hours
    (``group * n_hours + hour``) where its jobs fit."""
    v_parts = []
    for group, rows, fits in groups:
        hours = group_hours[group_hours // n_hours == group] % n_hours
        i, t = np.nonzero(fits[:, hours])
        v_parts.append((np.full(i.size, group), rows[i], hours[t]))
    return _stack(v_parts)


def _grid_costs(weight: np.ndarray) -> tuple[np.ndarray, float]:
    """The grid columns' costs (``weight`` scaled to at most OBJECTIVE_SCALE) and the factor from
    the solver's objective to the objective's units (the tie-break aside): g is in MW for an
    hour."""
    top = weight.max()
    if top > 0:
        return OBJECTIVE_SCALE * weight / top, W_PER_MW * (top / OBJECTIVE_SCALE)
    return weight, W_PER_MW  # no grid cost anywhere: any scale will do


def _milp_problem(timeline: Timeline, jobs, objective: str, tie_break: float = TIE_BREAK):
    """The joint placement of ``jobs`` on ``timeline`` by ``objective``: the :class:`Problem`
    and the columns' meaning (the slices of the blocks ``y u v g`` and, per column of a block,
    its job, site row, hour or group-hour). ``tie_break``: the earlier hours' preference (0:
    none).

    Columns: ``y`` a rigid job's binary start at a site and hour; ``u`` the fraction of an hour
    an interruptible job runs (at most 1: never more than its power at once); ``v`` [MW] the IT
    power that a group of interruptible jobs runs at a site-hour, the jobs of a group being those
    that fit the same site-hours (so any of them can take any of the group's power there); ``g``
    [MW] per touched site-hour, the IT power above the renewable headroom, its cost the marginal
    PUE times the objective's weight. Rows: each job's runs (1 start; duration_h hours); each
    group-hour (its jobs' power = its power over sites); each site-hour (rigid jobs' and groups'
    IT power - g <= headroom, g <= free capacity - headroom); and, at site-hours with headroom
    (without, the site-hour row says it), the valid inequality g >= sum over the rigid jobs
    running of max(P - headroom, 0), which whole starts satisfy but fractional ones (a job
    split to fit under the headroom) do not. On benchmarks/plan.py it lifts the LP bound from
    63-86 % to 93-97 % of the optimum and cuts the solve time by 40 %."""
    n_hours = timeline.time.size
    free = np.maximum(_free_w(timeline), 0.0) / W_PER_MW
    power = np.array([job.it_power_w for job in jobs]) / W_PER_MW
    duration = np.array([job.duration_h for job in jobs])
    (y_job, y_row, y_first), (u_job, u_hour, u_group), groups = _job_columns(
        timeline, jobs, power, free)
    group_hours, u_gh = np.unique(u_group * n_hours + u_hour, return_inverse=True)
    v_group, v_row, v_hour = _group_columns(groups, group_hours, n_hours)
    v_gh = np.searchsorted(group_hours, v_group * n_hours + v_hour)
    y_span = duration[y_job]
    entry_y = np.repeat(np.arange(y_job.size), y_span)  # (start, hour it covers) pairs
    entry_hour = _ragged(y_first, y_span)
    cells, cell_of = np.unique(np.concatenate([y_row[entry_y] * n_hours + entry_hour,
                                               v_row * n_hours + v_hour]), return_inverse=True)
    entry_cell, v_cell = cell_of[:entry_y.size], cell_of[entry_y.size:]
    renewable = np.minimum(timeline.it_headroom_w.ravel()[cells] / W_PER_MW,
                           free.ravel()[cells])
    excess = power[y_job[entry_y]] - renewable[entry_cell]
    strong = (excess > 0) & (renewable[entry_cell] > 0)  # else the site-hour row says it
    strong_cells, strong_of = np.unique(entry_cell[strong], return_inverse=True)

    cols, n_cols = _blocks([("y", y_job.size), ("u", u_job.size), ("v", v_group.size),
                            ("g", cells.size)])
    rows, n_rows = _blocks([("job", len(jobs)), ("group_hour", group_hours.size),
                            ("site_hour", cells.size), ("valid", strong_cells.size)])
    entries = [  # (row, column, value)
        (_at(rows["job"], y_job), _at(cols["y"]), np.ones(y_job.size)),
        (_at(rows["job"], u_job), _at(cols["u"]), np.ones(u_job.size)),
        (_at(rows["group_hour"], u_gh), _at(cols["u"]), power[u_job]),
        (_at(rows["group_hour"], v_gh), _at(cols["v"]), -np.ones(v_group.size)),
        (_at(rows["site_hour"], entry_cell), _at(cols["y"], entry_y), power[y_job[entry_y]]),
        (_at(rows["site_hour"], v_cell), _at(cols["v"]), np.ones(v_group.size)),
        (_at(rows["site_hour"]), _at(cols["g"]), -np.ones(cells.size)),
        (_at(rows["valid"], strong_of), _at(cols["y"], entry_y[strong]), excess[strong]),
        (_at(rows["valid"]), _at(cols["g"], strong_cells), -np.ones(strong_cells.size))]
    row_index, col_index, values = (np.concatenate(x) for x in zip(*entries, strict=True))
    matrix = scipy.sparse.csr_array((values, (row_index, col_index)), shape=(n_rows, n_cols))

    runs = np.where([job.interruptible for job in jobs], duration, 1).astype(float)
    row_lower, row_upper = np.empty(n_rows), np.empty(n_rows)
    row_lower[rows["job"]] = row_upper[rows["job"]] = runs
    row_lower[rows["group_hour"]] = row_upper[rows["group_hour"]] = 0.0
    row_lower[rows["site_hour"]], row_upper[rows["site_hour"]] = -np.inf, renewable
    row_lower[rows["valid"]], row_upper[rows["valid"]] = -np.inf, 0.0
    col_upper = np.empty(n_cols)
    col_upper[cols["y"]] = col_upper[cols["u"]] = 1.0
    col_upper[cols["v"]] = np.inf
    col_upper[cols["g"]] = free.ravel()[cells] - renewable + CAPACITY_TOLERANCE_W / W_PER_MW
    # earlier hours first: TIE_BREAK of the scale per MWh, rising with the hour run
    tie = OBJECTIVE_SCALE * tie_break / n_hours
    cost = np.zeros(n_cols)
    cost[cols["y"]] = tie * power[y_job] * y_span * (y_first + (y_span + 1) / 2)
    cost[cols["u"]] = tie * power[u_job] * (u_hour + 1)
    weight = timeline.marginal_pue * _grid_weights(timeline)[OBJECTIVE_METRIC[objective]]
    cost[cols["g"]], to_objective = _grid_costs(weight.ravel()[cells])
    integer = np.zeros(n_cols, dtype=bool)
    integer[cols["y"]] = True
    problem = Problem(cost=cost, col_lower=np.zeros(n_cols), col_upper=col_upper, matrix=matrix,
                      row_lower=row_lower, row_upper=row_upper, integer=integer)
    columns = {**cols, "y_job": y_job, "y_row": y_row, "y_first": y_first, "u_job": u_job,
               "u_hour": u_hour, "u_gh": u_gh, "v_row": v_row, "v_gh": v_gh, "cells": cells,
               "renewable": renewable, "to_objective": to_objective, "power": power,
               "entry_y": entry_y, "entry_cell": entry_cell}
    return problem, columns


def on_whole_hours(jobs) -> list[Job]:
    """The jobs as a plan places them, on whole hours: an earliest start inside an hour taken
    to the next whole hour (one window search starts a job inside an hour; a plan does not).
    JobDoesNotFit names a job whose deadline then leaves too few hours."""
    out = []
    for j, job in enumerate(jobs):
        try:
            out.append(dataclasses.replace(job, earliest_start=job.earliest_start.ceil("h")))
        except JobDoesNotFit as e:
            raise JobDoesNotFit(f"jobs[{j}]: {e} (a plan runs jobs on whole hours from "
                                f"{_show_time(job.earliest_start.ceil('h'))})") from e
    return out


def problem_size(jobs) -> tuple[int, int]:
    """An upper bound on the columns and matrix entries of the joint plan's program
    (:func:`_milp_problem`) from the jobs' windows and allowed sites alone: microseconds, before
    anything is built (its memory and time grow with the entries; a caller refuses too large a
    plan first). A rigid job: a start column per site and start hour, each in its job row and
    at most twice per hour run (site-hour and valid rows); an interruptible job: a column per
    hour and at most one per site-hour, each in two rows; a grid column (two entries) per
    site-hour."""
    columns = entries = 0
    site_hours = {}
    for job in jobs:
        first, end = job.earliest_start.ceil("h"), job.deadline.floor("h")
        window = max(int((end - first) // HOUR), 0)
        n_sites = len(job.sites)
        if job.interruptible:
            columns += window + n_sites * window
            entries += 2 * (window + n_sites * window)
        else:
            starts = n_sites * max(window - job.duration_h + 1, 0)
            columns += starts
            entries += starts * (1 + 2 * job.duration_h)
        for site in job.sites:  # each site's span of hours over the jobs' windows
            a, b = site_hours.get(site, (first, end))
            site_hours[site] = min(a, first), max(b, end)
    cells = sum(max(int((b - a) // HOUR), 0) for a, b in site_hours.values())
    return columns + cells, entries + 2 * cells


@dataclass(frozen=True)
class Solved:
    """What HiGHS gave: ``status`` (a Plan status), the columns' values ``x`` (None when it
    found no solution), the relative MIP gap (0 for a linear program solved) and the lower
    bound on the objective it proved (in the solver's units; -inf when none)."""
    status: str
    x: np.ndarray | None
    mip_gap: float
    bound: float = -np.inf


def _gap(objective: float, bound: float) -> float:
    """The relative gap of a plan's objective to a lower bound on it, as HiGHS reports it."""
    return abs(objective - bound) / max(abs(objective), 1e-300) if objective != bound else 0.0


def _highs_lp(problem: Problem) -> highspy.HighsLp:
    """``problem`` as HiGHS's own model, its matrix row-wise."""
    lp = highspy.HighsLp()
    lp.num_row_, lp.num_col_ = problem.matrix.shape
    lp.col_cost_ = problem.cost
    lp.col_lower_, lp.col_upper_ = problem.col_lower, problem.col_upper
    lp.row_lower_, lp.row_upper_ = problem.row_lower, problem.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_, lp.a_matrix_.index_ = problem.matrix.indptr, problem.matrix.indices
    lp.a_matrix_.value_ = problem.matrix.data
    if problem.integer.any():  # without, HiGHS solves a linear program (and reports no gap)
        lp.integrality_ = np.where(problem.integer, highspy.HighsVarType.kInteger,
                                   highspy.HighsVarType.kContinuous).tolist()
    return lp


def solve(problem: Problem, time_limit_s: float | None = None,
          start: np.ndarray | None = None, options: dict | None = None,
          kept: np.ndarray | None = None) -> Solved:
    """``problem`` solved by HiGHS through its own Python interface, highspy, with ``options``
    (default HIGHS_OPTIONS) and, when given, a time limit [s] and a feasible solution to start
    from (HiGHS checks it and keeps it as its first incumbent); with ``kept``, the program of
    those columns alone, the others at 0 (the lower bound of those :func:`plan` leaves out):
    HiGHS, its presolve off, still carries columns fixed by their bounds through its root
    (benchmarks/plan.py's seed 10 carbon plan, 5,269 starts fixed at 0: stopped at the 9 s limit
    with a gap of 0.06 %; without them optimal in 2.2 s)."""
    if kept is not None:
        index = np.flatnonzero(kept)
        part = Problem(cost=problem.cost[index], col_lower=problem.col_lower[index],
                       col_upper=problem.col_upper[index],
                       matrix=scipy.sparse.csr_array(problem.matrix[:, index]),
                       row_lower=problem.row_lower, row_upper=problem.row_upper,
                       integer=problem.integer[index])
        solved = solve(part, time_limit_s, None if start is None else start[index], options)
        if solved.x is None:
            return solved
        x = np.zeros(problem.cost.size)
        x[index] = solved.x
        return dataclasses.replace(solved, x=x)
    highs = highspy.Highs()
    for option, value in (HIGHS_OPTIONS if options is None else options).items():
        highs.setOptionValue(option, value)
    if time_limit_s is not None:
        highs.setOptionValue("time_limit", float(time_limit_s))
    highs.passModel(_highs_lp(problem))
    if start is not None:
        given = highspy.HighsSolution()
        given.col_value = start
        given.value_valid = True
        highs.setSolution(given)
    highs.run()
    status = SOLVER_STATUS.get(highs.getModelStatus(), "failed")
    info = highs.getInfo()
    found = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    x = np.array(highs.getSolution().col_value) if found else None
    if problem.integer.any():
        gap, bound = float(info.mip_gap), float(info.mip_dual_bound)
    else:
        gap = 0.0 if status == "optimal" else float("nan")
        bound = float(info.objective_function_value) if status == "optimal" else -np.inf
    return Solved(status, x, gap, bound)


def _mir(y, present, power, complemented, h, g, delta):
    """Complemented MIR cuts of rows sum_j power_j Y_j - g <= ``h`` (Y_j binary where
    ``present``, at the values ``y``; g continuous, at least 0, at the values ``g``), each
    row's Y_j taken as 1 - Y_j where ``complemented`` and the row divided by its ``delta``:
    their violation at ``y`` and ``g`` divided by their norm (-inf where the right-hand side
    has nothing to round), their coefficients on the Y_j and their right-hand sides."""
    rhs0 = h - (complemented * present * power).sum(axis=1)
    b = rhs0 / delta
    f = b - np.floor(b)
    ok = (f > 1e-6) & (f < 1 - 1e-6)
    a = np.where(complemented, -power, power) / delta[:, None]
    fa = a - np.floor(a)
    scale = delta * (1 - f)
    with np.errstate(divide="ignore", invalid="ignore"):
        rounded = np.floor(a) + np.maximum(fa - f[:, None], 0) / (1 - f[:, None])
    coef = present * scale[:, None] * rounded
    rhs = np.floor(b) * scale - (coef * complemented).sum(axis=1)
    coef = np.where(complemented, -coef, coef)
    violation = ((coef * y).sum(axis=1) - g - rhs) / np.sqrt((coef ** 2).sum(axis=1) + 1)
    return np.where(ok, violation, -np.inf), coef, rhs


def _mir_cuts(x: np.ndarray, columns):
    """Per site-hour the most violated mixed-integer rounding (MIR) cut of its row, relaxed to
    sum_j P_j Y_j - g <= h (Y_j: job j's starts that run in it, 0 or 1 in a whole plan; the
    interruptible jobs' power, at least 0, left out), at the columns' values ``x``: the cells
    with a cut, its coefficient per rigid job and its right-hand side. Complemented MIR
    (Marchand and Wolsey 2001, "Aggregation and mixed integer rounding to solve MIPs",
    Operations Research 49, 363-371; :func:`_mir`) as they choose it: a Y_j above 1/2 taken as
    1 - Y_j, the divisor (delta) the best of the powers of the jobs fractional in ``x`` and the
    largest power, and their halves, quarters and eighths; then, at that delta, each
    fractional Y_j complemented the other way, the nearest 1/2 first, where that makes the cut
    more violated (their third step). With delta = the largest power and none complemented it
    is the valid inequality of :func:`_milp_problem`; smaller ones see jobs that exceed the
    headroom together; a complement set S with mu = h - sum_(j in S) P_j >= 0 and a delta of
    at least every P_j + mu gives sum_(j in S) P_j Y_j + sum_(j not in S) max(P_j - mu, 0) Y_j
    - g <= h - mu, the form of most of HiGHS's own cuts on these rows. Only site-hours where a
    job is fractional can have a violated cut."""
    c = columns
    jobs = np.unique(c["y_job"])  # the rigid jobs
    job_of = np.searchsorted(jobs, c["y_job"][c["entry_y"]])
    y = np.zeros((c["g"].stop - c["g"].start, jobs.size))
    np.add.at(y, (c["entry_cell"], job_of), x[c["y"]][c["entry_y"]])
    # a cut is violated only where some job is fractional (whole ones satisfy every cut)
    fractional = (y > MIN_FRACTION) & (y < 1 - MIN_FRACTION)
    cells = np.flatnonzero(fractional.any(axis=1))
    present = np.zeros((c["g"].stop - c["g"].start, jobs.size), dtype=bool)
    present[c["entry_cell"], job_of] = True
    y, present, fractional = y[cells], present[cells], fractional[cells]
    power = c["power"][jobs]
    h, g = c["renewable"][cells], x[c["g"]][cells]
    complemented = y > 0.5
    top = np.append(power[fractional.any(axis=0)], power.max())
    best, delta = np.full(cells.size, -np.inf), np.ones(cells.size)
    for d in np.unique(np.concatenate([top, top / 2, top / 4, top / 8])):
        violation = _mir(y, present, power, complemented, h, g, np.full(cells.size, d))[0]
        better = violation > best
        best[better], delta[better] = violation[better], d
    order = np.argsort(np.where(fractional, np.abs(y - 0.5), np.inf), axis=1, kind="stable")
    for k in range(fractional.sum(axis=1).max(initial=0)):
        tried = np.flatnonzero(fractional.sum(axis=1) > k)
        flip = complemented[tried].copy()
        flip[np.arange(tried.size), order[tried, k]] ^= True
        violation = _mir(y[tried], present[tried], power, flip, h[tried], g[tried],
                         delta[tried])[0]
        better = violation > best[tried]
        best[tried[better]] = violation[better]
        complemented[tried[better]] = flip[better]
    cut = np.flatnonzero(best > MIR_MIN_VIOLATION)
    _, coef, rhs = _mir(y[cut], present[cut], power, complemented[cut], h[cut], g[cut],
                        delta[cut])
    return cells[cut], coef, rhs


def _with_cuts(problem: Problem, columns, time_limit_s: float):
    """``problem`` with rows of :func:`_mir_cuts`, separated in up to MIR_ROUNDS rounds at the
    solutions of its linear program (binaries continuous), each resolved from the last basis,
    within ``time_limit_s``; and the last of those solutions and its reduced costs (None when
    none). On
    benchmarks/plan.py they lift the bound of the linear program to HiGHS's after its own cuts,
    or near it, and shorten HiGHS's root node: its path separator works on a network of the
    interruptible jobs' continuous columns, made costly by it; HiGHS's own cuts on the same
    rows still find more."""
    c = columns
    x = reduced = None
    if c["y_job"].size == 0:
        return problem, x, reduced
    t0 = clock.perf_counter()
    order = np.argsort(c["entry_cell"], kind="stable")
    first = np.searchsorted(c["entry_cell"][order], np.arange(c["g"].stop - c["g"].start + 1))
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.passModel(_highs_lp(dataclasses.replace(problem, integer=np.zeros_like(problem.integer))))
    parts = []
    for _ in range(MIR_ROUNDS):
        left = time_limit_s - (clock.perf_counter() - t0)
        if left <= 0:
            break
        highs.setOptionValue("time_limit", left)
        highs.run()
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break
        solution = highs.getSolution()
        x, reduced = np.array(solution.col_value), np.array(solution.col_dual)
        cells, coef, rhs = _mir_cuts(x, c)
        if cells.size == 0:
            break
        # the cut of a cell: its coefficient on every start running there, and -1 on its g
        counts = first[cells + 1] - first[cells]
        entries = order[_ragged(first[cells], counts)]
        cut = np.repeat(np.arange(cells.size), counts)
        job = np.searchsorted(np.unique(c["y_job"]), c["y_job"][c["entry_y"][entries]])
        rows = np.concatenate([cut, np.arange(cells.size)])
        cols = np.concatenate([_at(c["y"], c["entry_y"][entries]), _at(c["g"], cells)])
        values = np.concatenate([coef[cut, job], -np.ones(cells.size)])
        matrix = scipy.sparse.csr_array((values, (rows, cols)),
                                        shape=(cells.size, problem.cost.size))
        matrix.eliminate_zeros()
        upper = rhs + MIR_MARGIN
        highs.addRows(cells.size, np.full(cells.size, -np.inf), upper, matrix.nnz,
                      matrix.indptr[:-1].astype(np.int32), matrix.indices.astype(np.int32),
                      matrix.data)
        parts.append((matrix, upper))
    if not parts:
        return problem, x, reduced
    matrices, uppers = zip(*parts, strict=True)
    upper = np.concatenate(uppers)
    return dataclasses.replace(
        problem, matrix=scipy.sparse.vstack([problem.matrix, *matrices], format="csr"),
        row_lower=np.concatenate([problem.row_lower, np.full(upper.size, -np.inf)]),
        row_upper=np.concatenate([problem.row_upper, upper])), x, reduced


def _rounded_start(problem: Problem, columns, x: np.ndarray,
                   time_limit_s: float) -> np.ndarray | None:
    """A whole plan near the linear program's solution ``x``, as a start for HiGHS: the rigid
    jobs, the one with the largest start value first, each at its start of largest value
    among those that still fit the site-hours' free capacity, then the rest of ``problem``
    (the interruptible jobs and g) as its linear program with those starts fixed. None when
    a rigid job no longer fits or that program has no solution within ``time_limit_s``."""
    c = columns
    y = x[c["y"]]
    room = c["renewable"] + problem.col_upper[c["g"]]  # the free capacity of each site-hour
    # a job's starts are consecutive columns, a start's entries consecutive (built so)
    job_first = np.searchsorted(c["y_job"], np.arange(c["y_job"].max() + 2))
    entry_first = np.searchsorted(c["entry_y"], np.arange(y.size + 1))
    chosen = np.zeros(y.size)
    rigid = np.unique(c["y_job"])
    largest = np.maximum.reduceat(y, job_first[rigid])
    for j in rigid[np.argsort(-largest, kind="stable")]:
        a, b = job_first[j], job_first[j + 1]
        cells = c["entry_cell"][entry_first[a]:entry_first[b]]
        fits = np.minimum.reduceat(room[cells], entry_first[a:b] - entry_first[a]) \
            >= c["power"][j] - CAPACITY_TOLERANCE_W / W_PER_MW
        if not fits.any():
            return None
        k = a + np.argmax(np.where(fits, y[a:b], -1.0))
        chosen[k] = 1.0
        room[c["entry_cell"][entry_first[k]:entry_first[k + 1]]] -= c["power"][j]
    lower, upper = problem.col_lower.copy(), problem.col_upper.copy()
    lower[c["y"]] = upper[c["y"]] = chosen
    rest = solve(dataclasses.replace(problem, col_lower=lower, col_upper=upper,
                                     integer=np.zeros_like(problem.integer)), time_limit_s)
    return rest.x if rest.status == "optimal" else None


def _kept_by_reduced_cost(problem: Problem, columns, x: np.ndarray, reduced: np.ndarray,
                          start: np.ndarray) -> np.ndarray:
    """Which columns of ``problem`` to keep: all but the start columns whose reduced cost
    ``reduced`` at the linear program's solution ``x`` (of a relaxation of ``problem``) exceeds
    the objective of the whole plan ``start`` less ``x``'s (with a margin of
    REDUCED_COST_MARGIN of it), which can be fixed at 0: reduced-cost fixing, which HiGHS
    itself does during its search (HighsRedcostFixing in its sources, highs/mip/). By linear
    programming duality a point of ``problem`` costs at least ``x``'s objective plus the
    reduced cost of each column at its lower bound in ``x`` times its value, so a plan with
    such a column at 1 costs more than ``start``, which stays feasible (its own columns are
    always kept): the optimum, and HiGHS's bound, stay those of ``problem``."""
    c = columns
    best = problem.cost @ start
    gap = best - problem.cost @ x + REDUCED_COST_MARGIN * max(abs(best), 1.0)
    kept = np.ones(problem.cost.size, dtype=bool)
    kept[c["y"]] = (reduced[c["y"]] <= gap) | (start[c["y"]] >= 0.5)
    return kept


def _northwest_corner(group_a, a, group_b, b):
    """Pairs ``(i, k, amount)`` splitting, within each group, the amounts ``a`` over the amounts
    ``b`` (totals equal to the solver's tolerance: ``a`` is rescaled to ``b``'s), both filled in
    order: the north-west corner rule of the transportation problem, which splits each ``a_i``
    over few ``b_k``. Laid end to end, the groups then meet at the same points up to rounding,
    so a pair across two groups has a negligible amount."""
    n = max(group_a.max(initial=-1), group_b.max(initial=-1)) + 1
    total_a = np.bincount(group_a, weights=a, minlength=n)
    total_b = np.bincount(group_b, weights=b, minlength=n)
    scale = np.divide(total_b, total_a, out=np.zeros(n), where=total_a > 0)
    order_a, order_b = np.argsort(group_a, kind="stable"), np.argsort(group_b, kind="stable")
    ends_a = np.cumsum((a * scale[group_a])[order_a])
    ends_b = np.cumsum((b * (total_a > 0)[group_b])[order_b])
    points = np.unique(np.concatenate([[0.0], ends_a, ends_b]))
    middle = (points[:-1] + points[1:]) / 2
    i = order_a[np.minimum(np.searchsorted(ends_a, middle), a.size - 1)]
    k = order_b[np.minimum(np.searchsorted(ends_b, middle), b.size - 1)]
    return i, k, np.diff(points)


def _milp_runs(jobs, columns, x) -> list:
    """Per job, (site row, hour index, fraction) arrays of the solver's answer ``x``: a rigid
    job's start with the largest value; interruptible jobs' power per group-hour split over the
    group's site powers there by :func:`_northwest_corner`."""
    c = columns
    power = np.array([job.it_power_w for job in jobs]) / W_PER_MW
    iu, iv, amount = _northwest_corner(c["u_gh"], power[c["u_job"]] * x[c["u"]],
                                       c["v_gh"], x[c["v"]])
    fraction = amount / power[c["u_job"][iu]]
    kept = fraction > MIN_FRACTION  # drops rounding slivers, also those across groups
    iu, iv, fraction = iu[kept], iv[kept], np.minimum(fraction[kept], 1.0)
    runs = []
    for j, job in enumerate(jobs):
        if job.interruptible:
            mine = c["u_job"][iu] == j
            runs.append((c["v_row"][iv[mine]], c["u_hour"][iu[mine]], fraction[mine]))
        else:
            starts = np.flatnonzero(c["y_job"] == j)
            v = starts[np.argmax(x[starts])]
            hours = c["y_first"][v] + np.arange(job.duration_h)
            runs.append((np.full(hours.size, c["y_row"][v]), hours, np.ones(hours.size)))
    return runs


def _start_values(timeline: Timeline, jobs, problem: Problem, columns, runs) -> np.ndarray:
    """The columns' values of a plan's ``runs`` (per job, (site row, hour index, fraction)
    arrays, the greedy plan's): a start for the solver."""
    c, n_hours = columns, timeline.time.size
    n_sites = len(timeline.site_ids)
    power = np.array([job.it_power_w for job in jobs]) / W_PER_MW
    x = np.zeros(problem.cost.size)
    y_key = (c["y_job"] * n_sites + c["y_row"]) * n_hours + c["y_first"]
    y_order = np.argsort(y_key)
    u_key = c["u_job"] * n_hours + c["u_hour"]  # built in order of job, then hour
    v_key = c["v_gh"] * n_sites + c["v_row"]
    v_order = np.argsort(v_key)
    load = np.zeros((n_sites, n_hours))
    for j, (rows, hours, fractions) in enumerate(runs):
        np.add.at(load, (rows, hours), power[j] * fractions)
        if jobs[j].interruptible:
            u = np.searchsorted(u_key, j * n_hours + hours)
            np.add.at(x, _at(c["u"], u), fractions)
            v = v_order[np.searchsorted(v_key[v_order], c["u_gh"][u] * n_sites + rows)]
            np.add.at(x, _at(c["v"], v), power[j] * fractions)
        else:
            first = (j * n_sites + rows[0]) * n_hours + hours.min()
            x[_at(c["y"], y_order[np.searchsorted(y_key[y_order], first)])] = 1.0
    g = np.maximum(load.ravel()[c["cells"]] - c["renewable"], 0.0)
    x[c["g"]] = np.minimum(g, problem.col_upper[c["g"]])
    return x


def _greedy_runs(timeline: Timeline, jobs, objective: str, time_limit_s: float | None) -> list:
    """The greedy plan's runs (see :func:`plan_greedy`) of jobs on whole hours."""
    t0 = clock.perf_counter()
    runs = [None] * len(jobs)
    by_energy = sorted(range(len(jobs)), key=lambda j: -jobs[j].it_power_w * jobs[j].duration_h)
    current = _one_by_one(timeline, jobs, [j for j in by_energy if not jobs[j].interruptible],
                          objective, runs)
    flexible = [j for j in by_energy if jobs[j].interruptible]
    if flexible:
        lp = None
        try:
            # without the tie-break: the program of 700 interruptible jobs of 0.02-0.3 MW
            # (benchmarks/plan.py --jobs 1000 --sites 15) took 13 s with it (HiGHS's dual
            # simplex mostly cleaning up its costs, some below its 1e-7 dual tolerance), 6 s
            # without; a greedy plan's ties are the solver's
            problem, columns = _milp_problem(current, [jobs[j] for j in flexible], objective,
                                             tie_break=0.0)
            left = None if time_limit_s is None else \
                max(time_limit_s - (clock.perf_counter() - t0), MIN_SOLVE_S)
            lp = solve(problem, left)  # no integer columns: a linear program
        except JobDoesNotFit:
            pass  # placed one at a time below, which names the job in the jobs given
        if lp is not None and lp.x is not None:
            placed = _milp_runs([jobs[j] for j in flexible], columns, lp.x)
            for j, run in zip(flexible, placed, strict=True):
                runs[j] = run
        else:
            _one_by_one(current, jobs, flexible, objective, runs)
    return runs


def plan_greedy(timeline: Timeline, jobs, objective: str = "grid_energy",
                status: str = "greedy", time_limit_s: float | None = None) -> Plan:
    """Rigid jobs placed one at a time, largest IT energy first (ties: in the given order),
    each at the best option of :func:`twin.schedule.search_windows` on the timeline with the
    jobs placed before it committed; then the interruptible jobs together, by the linear
    program of :func:`plan` on the capacity and headroom the rigid jobs left (one at a time like
    the rigid ones when that program has no solution, or none within what is left of
    ``time_limit_s``). ``status`` is reported in the Plan. JobDoesNotFit names a job that does
    not fit."""
    _check_objective(objective)
    jobs = on_whole_hours(jobs)
    t0 = clock.perf_counter()
    runs = _greedy_runs(timeline, jobs, objective, time_limit_s)
    return _plan_of_runs(timeline, jobs, runs, objective, status=status, mip_gap=float("nan"),
                         solve_seconds=clock.perf_counter() - t0, method="greedy")


def plan(timeline: Timeline, jobs, objective: str = "grid_energy",
         time_limit_s: float = 10.0) -> Plan:
    """All ``jobs`` placed jointly to minimise the objective summed over site-hours (grid
    energy, emissions or cost of the grid power max(b (jobs' IT - headroom), 0)), each
    site-hour's jobs within its free capacity; ties go to earlier hours (a tie-break of 1e-6 of
    the objective's scale). Solved by HiGHS (:func:`solve`) within ``time_limit_s`` less
    GREEDY_SHARE of it; when it finds no solution, the greedy plan of :func:`plan_greedy`, and
    when the time limit stops it, the better of its solution and the greedy plan, the greedy
    plan's linear program bounded by what is left of ``time_limit_s``. An interruptible job may move
    between its sites from hour to hour and run fractions of hours there, never more than its
    power at once. Jobs run whole hours (:func:`on_whole_hours`). JobDoesNotFit names a job
    that fits nowhere."""
    _check_objective(objective)
    jobs = on_whole_hours(jobs)
    if not jobs:
        raise ValueError("no jobs to plan")
    if not time_limit_s > 0:
        raise ValueError(f"time_limit_s must be > 0; got {time_limit_s}")
    built = clock.perf_counter()
    problem, columns = _milp_problem(timeline, jobs, objective)
    if problem.integer.sum() > LARGE_PLAN_BINARIES:
        return _plan_from_greedy(timeline, jobs, objective, time_limit_s, built, problem,
                                 columns)
    t0 = clock.perf_counter()
    # the time limit covers building the program too (a large one takes seconds) and the
    # greedy plan after it: the solver gets what building left of (1 - GREEDY_SHARE) of it
    budget = (1 - GREEDY_SHARE) * time_limit_s - (t0 - built)
    problem, x, reduced = _with_cuts(problem, columns, budget / 2)
    left = budget / 2 - (clock.perf_counter() - t0)
    start = None if x is None or left <= 0 else _rounded_start(problem, columns, x, left)
    gap = None if start is None else _gap(problem.cost @ start, problem.cost @ x)
    if gap is not None and gap <= OPTIMAL_GAP:
        # the cut LP's bound proves the start optimal, as HiGHS would (20 of benchmarks/plan.py's
        # 30 plans: HiGHS took 0.3-1 s to say so)
        result = Solved("optimal", start, gap, problem.cost @ x)
    else:
        kept = options = None
        if start is not None:
            kept = _kept_by_reduced_cost(problem, columns, x, reduced, start)
            options = {**HIGHS_OPTIONS, "presolve": REDUCED_PRESOLVE}
        budget = (1 - GREEDY_SHARE) * time_limit_s - (clock.perf_counter() - built)
        result = solve(problem, max(budget, min(time_limit_s, MIN_SOLVE_S)), start, options,
                       kept)
    seconds = clock.perf_counter() - t0
    status = result.status
    left = time_limit_s - (clock.perf_counter() - built)  # the greedy plan gets what is left
    if result.x is None:  # infeasible, or stopped before a solution
        return plan_greedy(timeline, jobs, objective, status=status,
                           time_limit_s=max(left, MIN_SOLVE_S))
    solved = _plan_of_runs(timeline, jobs, _milp_runs(jobs, columns, result.x), objective,
                           status=status, mip_gap=result.mip_gap, solve_seconds=seconds,
                           method="milp")
    if status == "optimal" or left <= 0:
        return solved
    try:  # a time-limited solution may be worse than the greedy plan
        greedy = plan_greedy(timeline, jobs, objective, status=status, time_limit_s=left)
    except JobDoesNotFit:
        return solved
    return greedy if greedy.objective_value < solved.objective_value else solved


def _plan_from_greedy(timeline: Timeline, jobs, objective: str, time_limit_s: float,
                      built: float, problem: Problem, columns) -> Plan:
    """A large plan: the greedy plan first, then HiGHS started from it with what is left of
    ``time_limit_s`` (counted from ``built``), on the program without the tie-break; its
    solution (never worse than the start it keeps as its first incumbent) and gap, or the
    greedy plan when it has none."""
    t0 = clock.perf_counter()
    # without the tie-break: in benchmarks/plan.py --jobs 1000 --sites 15 (seed 1, carbon),
    # whose tie-break costs are down to 4e-8, below HiGHS's dual tolerance of 1e-7, the root
    # LP took 1,227 iterations in 17 s and did not finish (no bound: gap 100 %); without them
    # it finished in 12,652 iterations, 15.6 s (gap 7.4 %). A large plan's ties are the solver's
    cost = problem.cost.copy()
    cost[columns["y"]] = cost[columns["u"]] = 0.0
    problem = dataclasses.replace(problem, cost=cost)
    runs = _greedy_runs(timeline, jobs, objective,
                        max(GREEDY_FIRST_SHARE * time_limit_s - (t0 - built), MIN_SOLVE_S))
    start = _start_values(timeline, jobs, problem, columns, runs)
    budget = (1 - END_SHARE) * time_limit_s - (clock.perf_counter() - built)
    result = solve(problem, max(budget, MIN_SOLVE_S), start)
    seconds = clock.perf_counter() - t0
    greedy = _plan_of_runs(timeline, jobs, runs, objective, status=result.status,
                           mip_gap=float("nan"), solve_seconds=seconds, method="greedy")
    if result.x is None:
        return greedy
    solved = _plan_of_runs(timeline, jobs, _milp_runs(jobs, columns, result.x), objective,
                           status=result.status, mip_gap=result.mip_gap, solve_seconds=seconds,
                           method="milp")
    return greedy if greedy.objective_value < solved.objective_value else solved
