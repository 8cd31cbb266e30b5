"""Speed and memory of a climate-year study of the whole twin: 10 catalog sites x 30 synthetic
years x 3 climate scenarios (900 site-years) on a local Dask cluster with 1 and with 2 worker
processes, streamed into a Zarr store. Prints a table (wall time, site-years per second and per
second per worker, peak resident memory of the workers and of this process); no assertions
anywhere.

    python benchmarks/study.py [--sites 10] [--years 30] [--workers 1 2]

``--sites N`` above 10 copies the 10 catalog sites' files, in turn, into N site files of a
temporary sites directory (the same plants and climates, N distinct sites).
Targets: 900 site-years under 60 s and 2 GB (issue 7); about 10,000 site-years (``--sites 100
--workers 2``: 100 sites x 30 years x 3 scenarios = 9,000, and any study of 9,000 or more)
under 10 minutes and 4 GB (issue 22).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.study import Scenario, Study, local_cluster, run_study  # noqa: E402

SITES = ("hami", "golmud", "zhongwei", "qingyang", "ulanqab", "hohhot", "urumqi", "turpan",
         "dunhuang", "xining")
SCENARIOS = ("baseline", "+1.5K", "+3K")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(study: Study, workers: int, folder: Path) -> dict:
    from distributed import Client

    with local_cluster(workers, memory_limit="4GB") as cluster, Client(cluster) as client:
        start = time.perf_counter()
        run_study(study, folder / f"study_{workers}.zarr", client=client)
        seconds = time.perf_counter() - start
        workers_mb = sum(client.run(peak_rss_mb).values())
    return {"workers": workers, "seconds": seconds,
            "site-years/s": study.site_years() / seconds,
            "peak MB, workers (sum)": workers_mb, "peak MB, this process": peak_rss_mb()}


def site_files(n: int, folder: Path) -> tuple[str, ...]:
    """``n`` site files in ``folder``, copies of the catalog files of SITES in turn; their ids."""
    catalog = resources.files("sites") / "catalog"
    ids = tuple(f"s{i:03d}" for i in range(n))
    for i, site_id in enumerate(ids):
        text = (catalog / f"{SITES[i % len(SITES)]}.toml").read_text(encoding="utf-8")
        (folder / f"{site_id}.toml").write_text(text, encoding="utf-8")
    return ids


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=len(SITES))
    parser.add_argument("--years", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        extra = None
        sites = SITES[:args.sites]
        if args.sites > len(SITES):
            (folder / "sites").mkdir()
            sites, extra = site_files(args.sites, folder / "sites"), (str(folder / "sites"),)
        study = Study(sites, tuple(range(1, args.years + 1)),
                      tuple(Scenario.parse(s) for s in SCENARIOS), sites_dir=extra)
        rows = [measure(study, n, folder) for n in args.workers]
    for row in rows:
        row["site-years/s per worker"] = row["site-years/s"] / row["workers"]
    table = pd.DataFrame(rows)
    print(f"Study of {study.site_years()} site-years ({len(sites)} sites x {args.years} years x "
          f"{len(SCENARIOS)} scenarios, all steps of the twin), local Dask cluster; peak: "
          "largest resident set of each worker process, summed")
    with pd.option_context("display.width", 200):
        print(table.round(2).to_string(index=False))
    if len(rows) > 1:
        print(f"speed-up of {rows[-1]['workers']} workers over {rows[0]['workers']}: "
              f"{rows[0]['seconds'] / rows[-1]['seconds']:.2f}x")
    best = min(rows, key=lambda r: r["seconds"])
    total_mb = best["peak MB, workers (sum)"] + best["peak MB, this process"]
    large = study.site_years() >= 9_000  # issue 22's 100 sites x 30 years x 3 scenarios
    seconds, megabytes = (600, 4096) if large else (60, 2048)
    print(f"target {study.site_years():,} site-years under {seconds} s and {megabytes} MB: "
          f"{'met' if best['seconds'] < seconds and total_mb < megabytes else 'missed'}"
          f" ({best['seconds']:.1f} s with {best['workers']} workers, {total_mb:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
