"""The reservations ledger's speed, SQLite against PostgreSQL (``api.store``): writers in
threads each holding single reservations (0.1 MW for 2 h at one site, every one fitting) and,
beside them, the read a window search makes (the held IT power of 15 sites over 48 h). Prints
a table per ledger and writer count, then a target line; no assertions.

PostgreSQL: ``--postgres URL`` (a database the ledger may create its tables in), or else a
throw-away server started as the tests start it (tests/postgres_server.py: Debian's
``postgresql`` package, run as the user ``postgres`` when root).

    python benchmarks/ledger.py [--writers 1 8] [--seconds 5] [--postgres URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.ledger import open_store  # noqa: E402
from api.store import Block  # noqa: E402
from sites import load_catalog  # noqa: E402

TARGET_P99_MS = 100.0  # ours: a scheduler's hold answered well within one request timeout
NOW = datetime(2026, 7, 1, tzinfo=UTC)


def run(location: str, writers: int, seconds: float) -> dict:
    store = open_store(location)
    sites = sorted(load_catalog())
    writes, reads, stop = [], [], threading.Event()

    def writer(w):
        k = 0
        while not stop.is_set():
            start = NOW + timedelta(hours=(w * 131 + k) % 600)
            t0 = time.perf_counter()
            store.reserve(f"tenant-{w % 3}", [Block("ulanqab", start, start + timedelta(hours=2),
                                                    1e5, 1e12)], None, NOW)
            writes.append(time.perf_counter() - t0)
            k += 1

    def reader():
        while not stop.is_set():
            t0 = time.perf_counter()
            store.held(sites, NOW, 48, NOW)
            reads.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    store.close()
    ms = 1000 * np.array(writes)
    return {"writes/s": len(writes) / seconds, "write p50 ms": np.percentile(ms, 50),
            "write p99 ms": np.percentile(ms, 99),
            "read p50 ms": 1000 * np.percentile(reads, 50),
            "read p99 ms": 1000 * np.percentile(reads, 99)}


def main(argv=None):
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--writers", type=int, nargs="+", default=[1, 8])
    args.add_argument("--seconds", type=float, default=5.0)
    args.add_argument("--postgres", help="postgresql://... (default: a throw-away server)")
    a = args.parse_args(argv)
    server = None
    with tempfile.TemporaryDirectory() as folder:
        ledgers = {"sqlite": lambda n: str(Path(folder) / f"r{n}.sqlite3")}
        if a.postgres:
            ledgers["postgresql"] = lambda n: a.postgres
        else:
            try:
                from tests.postgres_server import PostgresServer

                server = PostgresServer().start()
                ledgers["postgresql"] = lambda n: server.new_database()
            except (ImportError, RuntimeError) as err:
                print(f"PostgreSQL skipped: {err}")
        try:
            rows = [(name, n, run(where(n), n, a.seconds)) for name, where in ledgers.items()
                    for n in a.writers]
        finally:
            if server is not None:
                server.stop()
    columns = list(rows[0][2])
    print(f"{'ledger':<11} {'writers':>7} " + " ".join(f"{c:>12}" for c in columns))
    for name, n, r in rows:
        print(f"{name:<11} {n:>7} " + " ".join(f"{r[c]:>12.1f}" for c in columns))
    for name, n, r in rows:
        ok = r["write p99 ms"] < TARGET_P99_MS
        print(f"target {name} with {n} writers: a reservation's p99 under {TARGET_P99_MS:g} ms: "
              f"{'met' if ok else 'missed'} ({r['write p99 ms']:.1f} ms)")


if __name__ == "__main__":
    main()
