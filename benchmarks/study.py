"""Speed and memory of a climate-year study of the whole twin: 10 catalog sites x 30 synthetic
years x 3 climate scenarios (900 site-years) on a local Dask cluster with 1 and with 2 worker
processes, streamed into a Zarr store. Prints a table (wall time, site-years per second, peak
resident memory of the workers and of this process); no assertions anywhere.

    python benchmarks/study.py [--years 30] [--workers 1 2]

Target (issue 7): under 60 s and under 2 GB on this 2-core machine.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.study import Scenario, Study, run_study  # noqa: E402

SITES = ("hami", "golmud", "zhongwei", "qingyang", "ulanqab", "hohhot", "urumqi", "turpan",
         "dunhuang", "xining")
SCENARIOS = ("baseline", "+1.5K", "+3K")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(study: Study, workers: int, folder: Path) -> dict:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None,
                      memory_limit="4GB") as cluster, Client(cluster) as client:
        start = time.perf_counter()
        run_study(study, folder / f"study_{workers}.zarr", client=client)
        seconds = time.perf_counter() - start
        workers_mb = sum(client.run(peak_rss_mb).values())
    return {"workers": workers, "seconds": seconds,
            "site-years/s": study.site_years() / seconds,
            "peak MB, workers (sum)": workers_mb, "peak MB, this process": peak_rss_mb()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    study = Study(SITES, tuple(range(1, args.years + 1)),
                  tuple(Scenario.parse(s) for s in SCENARIOS))
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(study, n, Path(folder)) for n in args.workers]
    table = pd.DataFrame(rows)
    print(f"Study of {study.site_years()} site-years ({len(SITES)} sites x {args.years} years x "
          f"{len(SCENARIOS)} scenarios, all steps of the twin), local Dask cluster; peak: "
          "largest resident set of each worker process, summed")
    with pd.option_context("display.width", 200):
        print(table.round(2).to_string(index=False))
    if len(rows) > 1:
        print(f"speed-up of {rows[-1]['workers']} workers over {rows[0]['workers']}: "
              f"{rows[0]['seconds'] / rows[-1]['seconds']:.2f}x")
    best = min(rows, key=lambda r: r["seconds"])
    total_mb = best["peak MB, workers (sum)"] + best["peak MB, this process"]
    print("target under 60 s and 2 GB: "
          f"{'met' if best['seconds'] < 60 and total_mb < 2048 else 'MISSED'}"
          f" ({best['seconds']:.1f} s with {best['workers']} workers, {total_mb:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
