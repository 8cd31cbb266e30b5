"""Speed and quality of twin.schedule_milp.plan(): 100 jobs (most interruptible, some rigid) on
ten catalog sites for one week, solved jointly by HiGHS (highspy) against the greedy plan. Prints a
table per job set (--seed) with a row per objective (medians of repeated runs; no timed assertions
anywhere) and, for several job sets, how many plans met the target.

    python benchmarks/plan.py [--jobs 100] [--sites 10] [--interruptible 0.7] [--repeat 3]
                              [--seed 1 [2 3]] [--time-limit S]
    python benchmarks/plan.py --jobs 1000 --sites 15 --repeat 1     # fleet size

The Timeline is twin.simulate() of the sites (synthetic weather from their normals) over the week
from --start; if the simulation fails, a synthetic Timeline of the same shape is used instead.
Target (reported, not asserted): optimal (gap <= 0.1 %) in under 2 s on a 2-core machine; above
200 jobs, a feasible plan within the time limit (default 30 s) with its gap reported (the LP
bound columns are then not computed: they take longer than the plan).

Formulations tried and dropped
------------------------------
Measured with this script on the model of twin.schedule_milp._milp_problem (its docstring says
what the columns y u v g, the rows and the valid inequality are). The valid inequality lifts the
LP bound from 63-86 % to 93-97 % of the optimum and cuts the solve time by 40 %; grouping the
interruptible jobs and one column per site-hour halved it again.

The bound left is weak where rigid jobs could share the best site-windows in fractions
across sites: with each rigid job held to its site in the optimum (start hours still free)
the LP bound is 97-100 % of the optimum, against 56-97 % with the sites free (the two "LP
bound" columns of benchmarks/plan.py). Tried on the same benchmark and dropped: cumulative
start variables (z = started by hour t, sparser rows; 5-10x slower in HiGHS); MIP starts
from a greedy plan or an LP-rounding dive (slower), even from the optimum (seeds 2-3 still
1.8-7.9 s); no tie-break (1.3-1.5x slower); a rigid job's own excess max(P - headroom, 0)
priced in its start's cost and only min(P, headroom) in the row (the same LP bound, 30 %
more nonzeros for the capacity rows it then needs); cover cuts on a job's share of a site-
hour, separated in rounds (seed 2: bound 66 -> 82 % of the optimum, below the 92 % HiGHS's
own cuts reach); set-packing rows for the jobs over half a site's capacity (bound +0.5-2 %);
site-choice binaries beside y (no gain) or instead of it, with start-hour binaries and y
continuous (slower); rigid jobs first, then the interruptible ones: the rigid-only optimum
plus the interruptible-only one is a lower bound (grid cost is convex and 0 at no load,
hence superadditive) and equalled the optimum in all 12 job-set objectives of seeds 1, 2, 3
and 8 (not in seed 4's grid energy: 5 % below), but the rigid-first plans reached it in 12
of 30 (seeds 1-10; interruptible-first in none), the rigid-only solve alone takes 0.2-2.1 s,
so the full solve after a miss lost more than the hits won, and a row holding the objective
above the bound made HiGHS slower in 5 of 7 tries (up to 2.6x); SCIP 9 (seed 2, carbon: 43
s). HiGHS's presolve, symmetry, restart, cut pool, pseudocost, RINS/RENS and random-seed
options moved times within run-to-run noise; HIGHS_OPTIONS switches off the two heuristics
that took a third of the time. Where the time goes: the root node's cut separation (py-spy:
72 % of seed 2's carbon solve, HiGHS's path separator 43 %), which the continuous network of
the interruptible jobs makes costly: without them the rigid jobs of seeds 2, 3 and 8 solve
2.7-7x faster.

Our own cuts (issue 22, "plans: no slow tail"). Before HiGHS's branch and cut, plan() now
separates complemented mixed-integer rounding cuts of each site-hour row (sum_j P_j Y_j - g <=
headroom, the interruptible power left out) at the linear program's solution, up to 12 rounds
warm-started (twin.schedule_milp._with_cuts; 0.2-1 s). They lift the LP bound to the optimum
or near it (seed 2, cost: 110 -> 163.05 of 163.05 in the solver's units; carbon 161 -> 255 of
269), so that HiGHS's root needs fewer of its costly separation rounds. This script with
--seed 1-10 --repeat 1, without and with them, run back to back under a load of 3.1-3.5 on 2
cores: the target met by 4 -> 11 of 30 plans, plan() median 3.59 -> 2.31 s, summed 112 -> 79
s, slowest 9.2 -> 9.3 s (seed 2's carbon plan, stopped at the time limit either way), the
objectives equal within 4e-7; the solves alone took CPU 84 -> 66 s (5 rounds). The idea came
from handing HiGHS its own final root cut pool up front (seed 2, cost: 3.8 -> 0.3 s; without
the cuts over the interruptible columns still 0.3 s; only those over g and y 1.3 s). At 200
jobs (seed 1, time limit 30 s, load 2-4) they help more: grid energy stopped at the limit with
a gap of 0.8 % instead of 28 % (a plan 26 % better), carbon optimal in 3.3 s instead of 13.1 s,
cost optimal in 6.6 s instead of the greedy plan (14 % worse) at the limit. Left: seed 2's
carbon plan needs 7-23 nodes beyond its root (7-9 s) and seed 10's carbon is slower with the
cuts (CPU 2.4 -> 2.7-3.3 s).
Tried for it and dropped (seeds 2, 3, 7, 8, 1; iterations are load-free): mip_rel_gap 1e-3 (the
same iterations: the gap closes at once at the end of the root), threads 1 and
mip_heuristic_effort 0 (the same iterations, times within the load's noise); HiGHS 1.16 has no
option to switch a separator off (only mip_allow_cut_separation_at_nodes); no tie-break on the
interruptible columns alone (iterations 16.5k -> 14.9k, 5.0k -> 9.6k, 14.5k -> 12.5k, 7.0k ->
10.3k), one column per site-hour for the interruptible power (16.5k -> 17.7k, 5.0k -> 11.0k)
and upper bounds on v (their group-hour's power: 16.5k -> 12.2k, 5.0k -> 10.7k): mixed, no
gain; MIR cuts without complementing (seed 2, cost: bound 110 -> 125 of 163 only); also the
capacity row's cuts (g at its upper bound: seed 2 carbon's bound 255 -> 258, but HiGHS then
took 8.9 s instead of 6.0, seed 10's carbon 8.4 instead of 4.3); the last LP basis given to
HiGHS's MIP (ignored: the same iterations); keeping only the cuts binding at the last LP (no
gain); with the cuts, RINS and RENS off (seed 2's carbon: CPU 8.3 -> 6.1 s, LP iterations 13.7k
-> 5.3k, 31 nodes instead of 16; five other plans the same within 0.1 s: one plan, not taken)
or mip_heuristic_effort 0.02 (no change). The rigid jobs with the interruptible jobs' optimal
power fixed as committed solve in 0.1-0.4 s (full: 3-14 s): the rigid part is easy once the
interruptible loads are known, but that gives no bound.

Complement flips and a rounded start (issue 22, second pass). HiGHS's root cut pool of seed 2's
carbon plan (highspy's cbMipGetCutPool), taken after our cuts: 28 of its cuts over g and y alone
lift the LP bound 255 -> 264 of 269 (the whole pool 265.5), 24 of them of one site-hour each; most
have the form sum_(j in S) P_j Y_j + sum_(j not in S) max(P_j - mu, 0) Y_j - g <= h - mu (mu = h -
sum_(j in S) P_j), a complemented MIR whose complement set S is not the jobs above 1/2. Not all are
valid for every plan: of 18 such cuts after the flips below, a MILP maximising their left-hand side
over the program found 17 tight and one violated by a whole plan (HiGHS derives some from its
incumbent), so its pool is no template. twin.schedule_milp._mir_cuts now takes, at the divisor
chosen, each fractional Y_j complemented the other way, nearest 1/2 first, where that makes the cut
more violated (Marchand and Wolsey's third step): seed 2's carbon LP bound 255 -> 261.3 (94.7 ->
97.0 % of the optimum, seed 3's carbon 99.89 -> 99.99 %, the rest within 0.1 %), and HiGHS closes
seed 2's carbon at its root (1 node instead of 16, LP iterations 13.7k -> 5.0k); separation 0.2-0.8
s, seed 2's carbon ending on its own before MIR_ROUNDS (25 or 50 rounds: the same bound). Its time
then went to finding the plan: HiGHS's root reached the optimum's bound before its sub-MIP found the
plan; given the optimum as its start, seed 2's carbon solve took 1.95 s instead of 4.57, seed 10's
carbon 1.84 instead of 3.11 (the MIP starts dropped above were tried before these cuts). Hence
twin.schedule_milp._rounded_start: from the last cut LP's solution the rigid jobs, the most decided
first, each at its start of largest value that still fits the free capacity, then the LP of the rest
with those starts fixed (0.03-0.2 s); on the 30 plans it is the optimum in 27 (within 1e-4) and 1-12
% above it in 3 (seed 2 carbon, seed 3 grid energy, seed 7 carbon). The solves (our cuts, the start
and HiGHS; without building the program and reading the plan) of the 30 plans, old / new / new
without the start, twice each back to back (ABBA) under a load of 1.1-4.1 on 2 cores: CPU summed
56.6, 55.7 -> 39.8, 38.3 s (without the start 54.3, 52.6), median 1.54, 1.52 -> 1.21, 1.12 s,
slowest 8.8, 8.9 -> 4.4, 4.0 s (seed 2's carbon), 21, 21 -> 26, 27 plans under 2 s; HiGHS's LP
iterations summed 121k -> 108k (without the start 112k); seed 7's carbon plan slower (1.4 -> 2.0 s:
its start 1 % above the optimum); HiGHS's objectives equal within 2.9e-7. This script with --seed
1-10 --repeat 1, old and new back to back (ABBA) under a load of 2.1-3.5 on 2 cores: the target met
by 13, 22 -> 22, 26 of 30 plans, plan() median 2.24, 1.52 -> 1.36, 1.12 s, slowest 9.3, 9.2 s (seed
2's carbon, stopped at the time limit) -> 5.0, 4.0 s (seed 2's carbon, optimal), 29 -> 30 of 30
optimal. Missed in both new runs: seed 2's carbon (4.0-5.0 s), seed 10's carbon (2.4-2.5 s), seed
4's cost (2.2-2.6 s), seed 3's grid energy (2.0-2.7 s); in one: seed 2's and 4's grid energy, 4's
and 7's carbon (2.0-3.5 s). Again (new, old, old, new) under a load of 1.4-2.3: the target met by
29, 25 of 30 plans against 20, 21, plan() median 0.92, 1.19 s against 1.61, 1.66 s, slowest 3.5, 4.1
s against 7.8, 9.2 s (seed 2's carbon each time; the old code's second at the time limit); the new
runs' other misses 2.0-2.5 s (seed 4's carbon and cost, 7's and 10's carbon, in one run). At 200
jobs (seed 1, time limit 30 s, new then old, load 1.6-2.9, one run each): grid energy optimal in
21.4 s instead of stopped at the limit (27.6 s, gap 0.19 %, a plan 0.1 % worse), carbon 4.9 s
instead of 3.3, cost 4.8 s instead of 7.3.
Tried for it and dropped (seed 2's carbon, then seeds 4 cost and 10 carbon): MIR of the sum of a
site's two consecutive site-hour rows (a start counted in one or both hours: bound 227 alone, with
the single rows 255 as without before the flips, 256.5 instead of 261.3 after; three hours alone
221); the flips tried at every divisor (bound 262.9, but seed 10's carbon 3 nodes and 6.5k LP
iterations instead of 1 and 3.1k, seed 4's cost 6.6k instead of 6.1k); every complement set of the 8
positive Y_j nearest 1/2 (bound 260.8 when a 5 s limit stopped the separation); a second pass of
divisors and flips (261.1); the cut before the flips kept beside the one after (96.7 % instead of
97.0 %); the interruptible power v complemented at its group-hour's power where above half of it,
the form of HiGHS's cuts that close seed 4's cost plan (its bound stays 96.1 %, seed 2's carbon 97.0
%: the LP moves that power to another group at the same site-hour).

A start proven optimal and reduced-cost fixing (issue 22, third pass). Seed 2's carbon plan,
HiGHS's log: from the rounded start (301.0 in the solver's units, 11.8 % above the optimum 269.26)
its root reached a bound of 262.5 by 2.3 s and its sub-MIP found the optimum at 4.5 s, the bound
closing with it; from the optimum as its start it still took 1.3-2.0 s (bound 261.36 -> 269.26 at
its root: 1,393 separation LP iterations, 1,426 cuts), so with our cuts (0.5-0.75 s) no start
alone brings plan() under 2 s there. Done: (1) the rounded start is within 1e-4 of the cut LP's
bound in 20 of the 30 plans (19 within 2.1e-8): plan() returns it as optimal without HiGHS
(twin.schedule_milp.OPTIMAL_GAP, HiGHS's mip_rel_gap); (2) the start columns whose reduced cost at
the cut LP exceeds the rounded start's objective less the LP's are left out of HiGHS's program
(twin.schedule_milp._kept_by_reduced_cost; 4,700-6,900 of 6,500-9,500 per plan). On the nine
plans HiGHS still solves, plan() with and without (2), three runs each alternately, load 2.3-2.7:
seed 1 carbon 0.95 -> 0.71 s, 2 grid energy 1.36 -> 1.13, 2 carbon 3.85 -> 2.21, 3 grid energy
1.94 -> 2.41 (slower), 4 carbon 1.97 -> 1.57, 4 cost 2.20 -> 1.95, 7 grid energy 1.44 -> 0.93, 7
carbon 2.01 -> 1.35, 10 carbon 2.21 -> 1.65. The same columns fixed at 0 by their bounds instead
(HiGHS's presolve off keeps them in its root): seed 10's carbon stopped at the 9 s limit with a
gap of 0.06 % (2.2 s with them left out, or with presolve on). With HiGHS's presolve on for the
program left (twin.schedule_milp.REDUCED_PRESOLVE; it was off, as for the whole program), on the
same nine plans, medians of 3 alternately, load 2.0-2.3: HiGHS's time summed 8.6 -> 7.6 s, seed 3
grid energy 1.86 -> 0.67 s, seed 4 carbon 0.88 -> 1.28 s. This script with --seed 1-10 --repeat
1, old (a42c4a7), without that presolve (5c50040) and new, alternately (old, without, new, new,
without, old) under a load of 1.5-2.6: the target met by 23, 29 (old), 28, 28 (without), 28, 29
(new) of 30 plans; median 1.30, 0.85 / 0.57, 0.54 / 0.60, 0.59 s; slowest 3.28, 3.23 / 2.41,
2.42 / 2.21, 2.24 s. Misses: without the presolve seed 2 carbon (2.26 s) and seed 3 grid energy
(2.41-2.42 s) each time; new seed 2 carbon (2.21-2.24 s) each time and seed 4 carbon (2.18 s)
once. Objectives (new against old) equal within 4.7e-8.
Tried for it and dropped: an LP dive (the rigid job with the largest start value fixed there, the
LP resolved warm, repeated; 0.2-0.6 s): seed 2 carbon 4.0 % above the optimum instead of 11.8 %,
seed 3 grid energy 0.8 % instead of 4.9 %, but worse or infeasible in six others (seed 6 carbon
48.7 %), and HiGHS from it with (2) no faster on seed 2 carbon (1.74 s against 1.54 s from the
rounded start; seed 3 grid energy 0.64 s against 1.85 s); RENS, the starts limited to those
positive in the cut LP, as a MILP: the optimum of seed 2 carbon, in 1.2-1.7 s; rounding each job
to its positive start of least added grid cost at the headroom left (seed 2 carbon 113 % above the
cut LP's bound instead of 15 %); rounds of reduced-cost fixing from the optimum and our cuts (seed
2 carbon's bound stays 261.36: the rest is HiGHS's other cuts); also fixing a job at its start
where that start's reduced cost is below minus the gap (one job in nine plans: no change); with
the optimum as start, mip_rel_gap 1e-3, RINS and RENS off or mip_heuristic_effort 0 (within
noise).

At fleet size (--jobs 1000 --sites 15: 210,279 columns, 146,637 binaries, 2.15 million
entries; on this machine under a load of 7-11 on 2 cores): the joint solve as for 100 jobs
ran 42 s of a 30 s limit and returned a plan 68 % worse than the greedy one (HiGHS's first
solution, gap 45 %; the greedy plan after it had too little time left). Hence the greedy plan
first, as HiGHS's start (twin.schedule_milp.LARGE_PLAN_BINARIES). Its linear program of the
700 interruptible jobs took 13 s with the tie-break and 6 s without (dual simplex: primal
feasible after 5 s, then cleaning up duals; the smallest tie-break costs, 4e-8, are below
HiGHS's dual tolerance); presolve on 11.7 s, interior point 14.6 s. The same tie-break kept
the joint root LP from finishing within the limit (1,227 iterations in 17 s; without it 12,652
iterations in 15.6 s and a gap of 7.4 % instead of 100 %). Dropped: a bound from the linear
program with every job's power spread over its group's site-hours each hour (rigid jobs'
hours still consecutive, a start column per hour instead of per site-hour; 1,000 jobs: 5-9 s,
45-55 % of the plan's value; 100 jobs, seed 1: 7 % of the optimum); with every job
interruptible (4.7-6.3 s, 22 % of the plan's value).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import twin  # noqa: E402
from twin.schedule import OBJECTIVES, Job, Timeline  # noqa: E402
from twin.schedule_milp import _milp_problem, plan, plan_greedy, solve  # noqa: E402

# the catalog's sites, the first ten those of the 100-job plans (--sites takes the first N)
SITES = ["hami", "golmud", "zhongwei", "qingyang", "ulanqab", "hohhot", "urumqi", "guian",
         "dunhuang", "wuhu", "turpan", "xining", "beijing", "shanghai", "chongqing"]
CAPACITY_MW = [2.5, 2.56, 5.12, 2.56, 10.24, 5.12, 5.12, 2.56, 1.28, 1.664, 1.28, 1.28, 0.832,
               0.832, 0.832]  # their it.capacity_w
HOURS = 168
TARGET_S = 2.0
TARGET_GAP = 1e-3
# above this many jobs a plan is fleet-size: its target a feasible plan within the time limit
# (FLEET_TIME_LIMIT_S unless given) with its gap to the solver's bound reported
SMALL_JOBS = 200
FLEET_TIME_LIMIT_S = 30.0
UNITS = {"grid_energy": ("grid MWh", 1e-6), "carbon": ("t CO2", 1e-3), "cost": ("{currency}", 1.0)}


def build_timeline(start: str, seed: int, n_sites: int = 10) -> tuple[Timeline, str]:
    """The week from ``start`` of the first ``n_sites`` sites simulated, or a synthetic
    Timeline if that fails."""
    sites = SITES[:n_sites]
    try:
        ds = twin.simulate(None, sites).sel(time=slice(start, None)).isel(time=slice(0, HOURS))
        return Timeline.from_dataset(ds), f"twin.simulate() of {len(sites)} catalog sites"
    except Exception as e:  # the benchmark still measures the solver on synthetic data
        print(f"twin.simulate() failed ({e}); using a synthetic Timeline", file=sys.stderr)
    return synthetic_timeline(start, seed, n_sites), "a synthetic Timeline"


def synthetic_timeline(start: str, seed: int, n_sites: int = 10) -> Timeline:
    """The sites' IT capacities with a daytime (UTC+8) renewable headroom plus noise, random
    marginal PUE and carbon intensity, and a two-level time-of-use price."""
    rng = np.random.default_rng(seed)
    sites = SITES[:n_sites]
    shape = (len(sites), HOURS)
    time_ = pd.date_range(start, periods=HOURS, freq="h", tz="UTC")
    local_hour = (time_.hour.to_numpy() + 8) % 24
    capacity = np.array(CAPACITY_MW[:n_sites]) * 1e6
    sun = np.clip(np.sin(np.pi * (local_hour - 6) / 12), 0, None)
    headroom = capacity[:, None] * np.clip(sun + rng.uniform(-0.3, 0.6, shape), 0, 1)
    price = np.where((local_hour >= 8) & (local_hour < 22), 0.72, 0.18)
    carbon = np.repeat(rng.uniform(150, 700, (len(sites), 1)), HOURS, axis=1)
    return Timeline(site_ids=tuple(sites), time=time_, it_capacity_w=capacity,
                    it_headroom_w=headroom, it_committed_w=np.zeros(shape),
                    marginal_pue=rng.uniform(1.08, 1.3, shape), pue=rng.uniform(1.1, 1.4, shape),
                    carbon_intensity_g_per_kwh=carbon,
                    price_per_kwh=np.broadcast_to(price, shape), currency="CNY")


def make_jobs(timeline: Timeline, n: int, interruptible: float, seed: int) -> list[Job]:
    """``n`` jobs for 2-24 h with windows inside the week; a fifth of them limited to three
    sites (among those large enough). 100 jobs on the first ten sites are of 0.2-3 MW; other
    numbers of jobs and sites scale the power by the sites' capacity per job, so that the jobs
    ask the same share of the capacity (1,000 jobs on 15 sites: 0.023-0.34 MW)."""
    rng = np.random.default_rng(seed)
    t0, hours = timeline.time[0], timeline.time.size
    scale = (100 / n) * timeline.it_capacity_w.sum() / (sum(CAPACITY_MW[:10]) * 1e6)
    jobs = []
    for k in range(n):
        power = scale * rng.uniform(0.2e6, 3e6)
        duration = int(rng.integers(2, 25))
        earliest = int(rng.integers(0, hours - duration + 1))
        deadline = earliest + duration + int(rng.integers(0, hours - earliest - duration + 1))
        large = [s for s, c in zip(timeline.site_ids, timeline.it_capacity_w, strict=True)
                 if c >= power]
        sites = tuple(rng.choice(large, 3, replace=False)) if rng.random() < 0.2 else None
        jobs.append(Job(power, duration, t0 + pd.Timedelta(hours=earliest),
                        t0 + pd.Timedelta(hours=deadline), sites=sites,
                        interruptible=k < round(interruptible * n), name=f"job{k:03d}"))
    return jobs


def problem_size(timeline: Timeline, jobs, objective: str, solved, bounds: bool = True) -> dict:
    """The MILP's size and the bounds of its LP relaxation (binaries continuous) in the
    objective's units: as built, and with each rigid job held to the site the plan ``solved``
    gave it (its start hour still free). The first shows how far HiGHS's cuts and branching
    must close; the second where the gap comes from (fractional site choices)."""
    problem, columns = _milp_problem(timeline, jobs, objective)
    relaxed = dataclasses.replace(problem, integer=np.zeros_like(problem.integer))
    site = {j: timeline.site_ids.index(a.sites[0]) for j, a in enumerate(solved.assignments)}
    elsewhere = columns["y_row"] != np.array([site[j] for j in columns["y_job"]], dtype=int)
    upper = problem.col_upper.copy()
    upper[columns["y"]] = np.where(elsewhere, 0.0, upper[columns["y"]])
    held = dataclasses.replace(relaxed, col_upper=upper)
    g = columns["g"]

    def grid_part(x):  # the objective without the tie-break, which only the other columns carry
        return problem.cost[g] @ x[g] * columns["to_objective"]

    matrix = problem.matrix
    return {"columns": matrix.shape[1], "binaries": int(problem.integer.sum()),
            "rows": matrix.shape[0], "nonzeros": matrix.nnz,
            **{name: grid_part(solve(lp).x) if bounds else float("nan")
               for name, lp in (("lp_bound", relaxed), ("held_bound", held))}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--interruptible", type=float, default=0.7,
                        help="share of the jobs that are interruptible (default 0.7)")
    parser.add_argument("--start", default="2025-07-01", help="first day of the week (UTC)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, nargs="+", default=[1],
                        help="job sets (and synthetic timelines) to plan, one table each")
    parser.add_argument("--sites", type=int, default=10, choices=range(1, len(SITES) + 1),
                        metavar=f"1-{len(SITES)}", help="the first N catalog sites (default 10)")
    parser.add_argument("--time-limit", type=float, default=None,
                        help=f"plan()'s [s] (default 10; 30 above {SMALL_JOBS} jobs)")
    args = parser.parse_args(argv)
    if args.time_limit is None:
        args.time_limit = 10.0 if args.jobs <= SMALL_JOBS else FLEET_TIME_LIMIT_S
    rows = [row for seed in args.seed for row in report(args, seed)]
    print(f"peak resident memory of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if len(args.seed) > 1:
        met = sum(row["met"] for row in rows)
        walls = [row["plan() s"] for row in rows]
        print(f"all {len(args.seed)} job sets: target met by {met} of {len(rows)} plans; plan() "
              f"median {statistics.median(walls):.2f} s, slowest {max(walls):.2f} s; "
              f"{sum(row['status'] == 'optimal' for row in rows)} of {len(rows)} optimal")
    return 0


def report(args, seed: int) -> list[dict]:
    """The table and the target lines of one job set; its rows."""
    timeline, source = build_timeline(args.start, seed, args.sites)
    fleet = args.jobs > SMALL_JOBS
    jobs = make_jobs(timeline, args.jobs, args.interruptible, seed)
    n_int = sum(j.interruptible for j in jobs)
    rows = []
    for objective in OBJECTIVES:
        unit, scale = UNITS[objective]
        unit = unit.format(currency=timeline.currency)
        walls, plans = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            plans.append(plan(timeline, jobs, objective, time_limit_s=args.time_limit))
            walls.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        greedy = plan_greedy(timeline, jobs, objective)
        greedy_s = time.perf_counter() - t0
        best = plans[-1]
        # the LP bounds of a fleet-size plan take longer than its plan: not computed
        size = problem_size(timeline, jobs, objective, best, bounds=not fleet)
        lp_bound, held_bound = size.pop("lp_bound"), size.pop("held_bound")
        rows.append({
            "objective": objective, "unit": unit, **size,
            "method": best.method, "status": best.status, "mip gap": best.mip_gap,
            "solve s": statistics.median(p.solve_seconds for p in plans),
            "plan() s": statistics.median(walls),
            "objective value": best.objective_value * scale,
            "greedy value": greedy.objective_value * scale, "greedy s": greedy_s,
            "greedy excess %": 100 * (greedy.objective_value / best.objective_value - 1)
            if best.objective_value > 0 else float("nan"),
            **{f"LP bound{what} % of plan": 100 * bound / best.objective_value
               if best.objective_value > 0 else float("nan")
               for what, bound in (("", lp_bound), (", sites held", held_bound))}})
    table = pd.DataFrame(rows)
    print(f"seed {seed}: plan() of {len(jobs)} jobs ({n_int} interruptible, {len(jobs) - n_int} "
          f"rigid) on {source}, {timeline.time.size} h from {timeline.time[0]:%Y-%m-%d %H:%M} "
          f"UTC; medians of {args.repeat} runs; time limit {args.time_limit:g} s")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.round(4).to_string(index=False))
    for row in rows:
        if fleet:  # a gap of 100 %: the solver proved no bound above 0
            row["met"] = (row["method"] == "milp" and row["mip gap"] < 1
                          and row["plan() s"] <= args.time_limit)
            print(f"target seed {seed} {row['objective']}: feasible plan within "
                  f"{args.time_limit:g} s, gap to a bound reported: "
                  f"{'met' if row['met'] else 'missed'} "
                  f"({row['method']}, {row['status']}, gap {100 * row['mip gap']:.2f} %, "
                  f"{row['plan() s']:.2f} s)")
        else:
            row["met"] = (row["status"] == "optimal" and row["mip gap"] <= TARGET_GAP
                          and row["plan() s"] < TARGET_S)
            print(f"target seed {seed} {row['objective']}: optimal (gap <= "
                  f"{100 * TARGET_GAP:g} %) in under {TARGET_S:g} s: "
                  f"{'met' if row['met'] else 'missed'} ({row['status']}, "
                  f"{row['plan() s']:.2f} s)")
    return rows


if __name__ == "__main__":
    sys.exit(main())
