"""Speed of twin.fleet.run_fleet(): the catalog fleet (15 sites) over a year with about 10,000
training jobs (the ``catalog`` workload preset), under each policy. Prints a table per policy
(wall time, time per simulated day, the scheduler's share: inference routing and training
placement) and the whole run, then the target line. No assertions.

    python benchmarks/fleet.py [--jobs 10000] [--sites hami ulanqab ...]

Steps of a run (twin/fleet.py): the planning simulations (every site once, twice with
linked-forecast), then per policy the scheduler and the facility simulation at the placed load.
Target (reported, not asserted): the whole year in under 5 minutes on this 2-core machine
(issue 25: "runs in minutes").
"""

from __future__ import annotations

import argparse
import json
import time

from sites import load_catalog
from twin.fleet import POLICIES, fleet_summary, run_fleet
from twin.workload import WorkloadParameters, synthetic

TARGET_S = 300.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="training jobs per year")
    parser.add_argument("--sites", nargs="*", help="catalog site ids (default: all)")
    parser.add_argument("--year", type=int, default=2025)
    args = parser.parse_args()
    catalog = load_catalog()
    sites = [catalog[s] for s in args.sites] if args.sites else list(catalog.values())
    work = synthetic(sites, args.year, WorkloadParameters(jobs_per_year=args.jobs), seed=0)
    marks: list[tuple[str, float]] = []
    start = time.perf_counter()
    ds = run_fleet(sites, work, year=args.year,
                   progress=lambda step: marks.append((step, time.perf_counter())))
    total = time.perf_counter() - start
    marks.append(("end", time.perf_counter()))
    spans = {step: marks[i + 1][1] - t for i, (step, t) in enumerate(marks[:-1])}
    days = ds.sizes["time"] / 24
    scheduler = json.loads(ds.attrs["scheduler_seconds"])
    print(f"{len(sites)} sites, {len(work.training)} training jobs, {len(work.inference.regions)}"
          f" inference regions, {days:.0f} simulated days")
    print(f"{'step':<28}{'wall s':>9}{'ms / day':>10}{'scheduler s':>13}{'share':>8}")
    planning = spans["weather"] + spans["planning"]
    print(f"{'weather + planning sims':<28}{planning:9.1f}{planning / days * 1e3:10.1f}")
    for policy in POLICIES:
        wall = spans[policy] + spans[f"{policy}: facility"]
        sched = sum(scheduler[policy].values())
        print(f"{policy:<28}{wall:9.1f}{wall / days * 1e3:10.1f}{sched:13.1f}"
              f"{sched / wall:8.0%}")
    print(f"{'whole run':<28}{total:9.1f}{total / days * 1e3:10.1f}")
    print(fleet_summary(ds)[["utilisation", "renewable_fraction", "emissions_t", "jobs_late",
                             "jobs_refused"]].to_string())
    ok = total < TARGET_S
    print(f"target the fleet year in under {TARGET_S:g} s: {'met' if ok else 'missed'} "
          f"({total:.0f} s)")


if __name__ == "__main__":
    main()
