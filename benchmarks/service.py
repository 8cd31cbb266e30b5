"""Speed of the scheduling service under load: `twin serve` on loopback, driven by hey (a load
generator in Go: Debian package `hey`, `apt install hey`), on each ledger (SQLite, and a
throw-away PostgreSQL started like tests/postgres_server.py does; its rows are skipped, saying
why, when it cannot start) with 1 and 2 server processes:

- window search (1 MW for 6 h within 48 h over all catalog sites, by carbon) at a fixed rate
  (default 400 requests/s) and flat out, beside a cheap reference request (GET one site) at the
  same rate: p50, p99 latency, the rate served, answers that were not 2xx, and the server
  processes' CPU time per answer (from /proc: unlike latency, not inflated by other load on a
  shared machine). At a fixed rate the clients (``--connections``, default 16) are
  independent: each a hey process of one connection at its share of the rate, started at a
  random phase of its period (seeded), as schedulers polling on their own clocks are. One hey
  of 16 connections instead sends in step (its connections' tickers start together: a burst of
  16 every 40 ms at 400/s), which the row "clients in step" shows: a burst waits for the
  answers ahead of it in one event loop (16 x 1.6 ms of CPU), so its p99 measures the burst,
  not the rate, and even the reference GET's p99 reaches about 20 ms that way;
- reservations under contention: many clients (default 32 connections) holding the same hours
  of one site, each hold 1/3000 of its IT capacity, flat out (the site fills up when more than
  300/s are held over 10 s: the rest are refused, 409); then the ledger is read directly (not
  through the service) to check that no site-hour holds more than the site's capacity and
  that it holds exactly the reservations answered 201. "held/s" is those held over the whole
  run (a site filled early counts its full seconds too).

Prints a table and a `target ...: met|missed` line per ledger and process count (the search's
target counts as met only when hey was also served at least 95 % of the rate, all 2xx; the
reservations' on held/s), each with the server's CPU per answer; no assertions.
`--in-process N` instead drives the app itself, no HTTP and no hey: N answers of each request
and the CPU per answer (robust to other load on the machine; seconds to run).

    python benchmarks/service.py [--rate 400] [--seconds 10] [--workers 1 2]
                                 [--ledgers sqlite postgresql] [--writers 32] [--port 8765]
    python benchmarks/service.py --in-process 2000 [--ledgers sqlite postgresql]

Targets (issue 23, this 2-core machine): window search p99 < 25 ms at 400 requests/s;
reservations >= 200/s without oversubscription.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.ledger import open_store  # noqa: E402
from sites import load_catalog  # noqa: E402
from twin.schedule import CAPACITY_TOLERANCE_W  # noqa: E402

TARGET_P99_MS, TARGET_RATE, TARGET_RESERVATIONS = 25.0, 400.0, 200.0
API_KEY, TENANT = "bench-key", "bench"
SITE, HOLD_H, HOLDS_THAT_FIT = "hami", 6, 3000
READY_IN_A_ROW = 40
WARM = 50  # requests before measuring in process


def start_server(ledger: str, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "TWIN_API_KEYS": f"{API_KEY}:{TENANT}",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, "-c", "from api.cli import app; app()", "serve",
                               "--port", str(port), "--db", ledger, "--workers", str(workers),
                               "--log-level", "warning"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, ready = time.monotonic() + 180, 0
    while time.monotonic() < deadline:
        # every process simulates the sites at start-up and any may answer: ready when
        # READY_IN_A_ROW new connections in a row were answered 200
        try:
            ok = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            ok = False
        ready = ready + 1 if ok else 0
        if ready >= READY_IN_A_ROW:
            return server
        if server.poll() is not None:
            raise RuntimeError(f"twin serve exited with code {server.returncode}")
        time.sleep(0.05 if ok else 0.3)
    server.kill()
    raise RuntimeError("twin serve was not ready within 180 s")


def cpu_seconds(pid: int) -> float:
    """CPU time [s] (user and system) of process ``pid`` and its descendants, from /proc:
    the server's work, which other load on a shared machine does not inflate as it does
    latency."""
    parents, total = {}, 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    family = {pid}
    for _ in range(4):  # uvicorn's workers are children (or grandchildren) of the server
        family |= {p for p, (parent, _) in parents.items() if parent in family}
    total = sum(parents[p][1] for p in family if p in parents)
    return total / os.sysconf("SC_CLK_TCK")


def hey(url: str, seconds: int, connections: int, rate: float | None, body: dict | None,
        headers: dict | None = None, server: int | None = None) -> dict:
    """Run hey and read its summary: p50 and p99 latency [ms], requests per second served,
    the count of answers by status, and the ``server`` process's CPU time per answer [ms]."""
    before = None if server is None else cpu_seconds(server)
    command = ["hey", "-z", f"{seconds}s", "-c", str(connections)]
    if rate:
        command += ["-q", f"{rate / connections:g}"]  # hey's rate is per connection
    if body is not None:
        command += ["-m", "POST", "-T", "application/json", "-d", json.dumps(body)]
    for k, v in (headers or {}).items():
        command += ["-H", f"{k}: {v}"]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    cpu = float("nan") if server is None else cpu_seconds(server) - before

    def number(pattern):
        match = re.search(pattern, out)
        return float(match.group(1)) if match else float("nan")

    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    failed = out.split("Error distribution:", 1)[1] if "Error distribution:" in out else ""
    errors = sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]", failed, re.M))  # no answer
    answers = sum(codes.values())
    return {"p50 ms": 1000 * number(r"50%+ in ([\d.]+) secs"),
            "p99 ms": 1000 * number(r"99%+ in ([\d.]+) secs"),
            "requests/s": number(r"Requests/sec:\s+([\d.]+)"),
            "server CPU ms/answer": 1000 * cpu / answers if answers else float("nan"),
            "answers": answers,
            "not 2xx": sum(n for c, n in codes.items() if not 200 <= c < 300) + errors,
            "codes": codes}


def independent_clients(url: str, seconds: int, clients: int, rate: float, body: dict | None,
                        server: int, seed: int = 0) -> dict:
    """``clients`` hey processes of one connection each at ``rate / clients`` requests/s, each
    started at a random phase of its period (seeded): independent clients. The same figures
    as :func:`hey`, from every request's time in hey's CSV output."""
    period = clients / rate
    phases = np.sort(np.random.default_rng(seed).uniform(0.0, period, clients))
    command = ["hey", "-z", f"{seconds}s", "-c", "1", "-q", f"{rate / clients:g}", "-o", "csv"]
    if body is not None:
        command += ["-m", "POST", "-T", "application/json", "-d", json.dumps(body)]
    before, t0, runs = cpu_seconds(server), time.perf_counter(), []
    for phase in phases:
        time.sleep(max(0.0, t0 + phase - time.perf_counter()))
        runs.append(subprocess.Popen(command + [url], stdout=subprocess.PIPE, text=True))
    frames = [pd.read_csv(io.StringIO(run.communicate()[0])) for run in runs]
    cpu = cpu_seconds(server) - before
    answers = pd.concat(frames)
    latency = 1000 * answers["response-time"].to_numpy()
    status = answers["status-code"].to_numpy()
    codes = {int(c): int(n) for c, n in zip(*np.unique(status, return_counts=True))}
    return {"p50 ms": float(np.percentile(latency, 50)),
            "p99 ms": float(np.percentile(latency, 99)),
            "requests/s": len(answers) / seconds,
            "server CPU ms/answer": 1000 * cpu / len(answers) if len(answers) else float("nan"),
            "answers": len(answers),
            "not 2xx": int(((status < 200) | (status >= 300)).sum()),
            "codes": codes}


def searches(base: str, args, now: datetime, server: int) -> dict[str, dict]:
    search = {"it_power_w": 1e6, "duration_h": 6, "deadline": (now + timedelta(days=2))
              .isoformat(), "objective": "carbon"}
    c = args.connections
    return {
        f"GET /v1/sites/hami at {args.rate:g}/s (reference)": independent_clients(
            f"{base}/v1/sites/hami", args.seconds, c, args.rate, None, server),
        f"window search at {args.rate:g}/s": independent_clients(
            f"{base}/v1/windows:search", args.seconds, c, args.rate, search, server),
        f"window search at {args.rate:g}/s, clients in step": hey(
            f"{base}/v1/windows:search", args.seconds, c, args.rate, search, server=server),
        "window search flat out": hey(f"{base}/v1/windows:search", args.seconds, c, None,
                                      search, server=server),
    }


def reservations(base: str, ledger: str, args, now: datetime, server: int) -> dict:
    """Reservations flat out from ``args.writers`` connections, all for the same hours of
    one site; then the ledger read directly: the most IT power held in any of those hours
    against the site's capacity, and the holds in it against the answers 201."""
    capacity = load_catalog()[SITE].it.capacity_w
    start = now + timedelta(days=1)
    body = {"site": SITE, "start": start.isoformat(),
            "end": (start + timedelta(hours=HOLD_H)).isoformat(),
            "it_power_w": capacity / HOLDS_THAT_FIT}
    run = hey(f"{base}/v1/reservations", args.seconds, args.writers, None, body,
              {"X-API-Key": API_KEY}, server)
    with open_store(ledger) as store:
        held = store.held([SITE], start, HOLD_H, datetime.now(UTC))
        _, count = store.list(TENANT, datetime.now(UTC), status="held", site=SITE)
    created = run["codes"].get(201, 0)
    refused = run["codes"].get(409, 0)
    return {**run, "not 2xx": run["not 2xx"] - refused, "held": created,
            "held/s": created / args.seconds,
            "refused (409)": refused,
            "oversubscribed": bool(held.max() > capacity + CAPACITY_TOLERANCE_W),
            "ledger matches": count == created}


def ledgers(folder: Path, wanted: list[str]):
    """(name, a function giving a new, empty ledger's location, what to stop) per ledger."""
    found, server = [], None
    for name in wanted:
        if name == "sqlite":
            found.append((name, lambda n: str(folder / f"bench{n}.sqlite3")))
        elif name == "postgresql":
            try:
                from tests.postgres_server import PostgresServer

                server = PostgresServer().start()
                found.append((name, lambda n, pg=server: pg.new_database()))
            except (ImportError, RuntimeError, OSError) as err:
                print(f"PostgreSQL rows skipped: {' '.join(str(err).split())}")
    return found, server


async def _asgi(app, method: str, path: str, body: bytes = b"", headers=()) -> int:
    """One request through the ASGI app, no HTTP: its status."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80),
             "headers": [(b"host", b"bench"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode()), *headers]}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status = []

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


def in_process(ledgers: list[tuple[str, object]], n: int, now: datetime) -> None:
    """CPU time per answer [ms] of the app itself (this process's, from time.process_time:
    robust to other load on the machine), driven through ASGI without HTTP: ``n`` each of the
    reference GET, the window search and reservations (one site's same hours, all fitting)."""
    from api.app import create_app
    from api.settings import Settings
    from twin.outlook import Outlook

    data = Outlook()
    capacity = data.catalog[SITE].it.capacity_w
    search = json.dumps({"it_power_w": 1e6, "duration_h": 6, "deadline": (
        now + timedelta(days=2)).isoformat(), "objective": "carbon"}).encode()
    start = now + timedelta(days=1)
    end = start + timedelta(hours=HOLD_H)
    hold = json.dumps({"site": SITE, "start": start.isoformat(), "end": end.isoformat(),
                       "it_power_w": capacity / max(HOLDS_THAT_FIT, n + WARM)}).encode()
    key = [(b"x-api-key", API_KEY.encode())]
    requests = {"GET /v1/sites/hami (reference)": ("GET", f"/v1/sites/{SITE}", b"", ()),
                "window search": ("POST", "/v1/windows:search", search, ()),
                "reservations, same site-hours": ("POST", "/v1/reservations", hold, key)}
    print(f"in process, through ASGI without HTTP, {n} answers per row; CPU ms per answer "
          f"(this process; PostgreSQL's own not counted); load average {os.getloadavg()[0]:.1f}")
    for name, ledger in ledgers:
        location = {"db_url": ledger} if ledger.startswith("postgresql") else {"db_path": ledger}
        app = create_app(Settings(**location, api_keys={API_KEY: TENANT}), data)

        async def run(app, name):
            async with app.router.lifespan_context(app):
                for what, (method, path, body, headers) in requests.items():
                    for _ in range(WARM):  # connections, caches
                        await _asgi(app, method, path, body, headers)
                    cpu = time.process_time()
                    codes = [await _asgi(app, method, path, body, headers) for _ in range(n)]
                    cpu = time.process_time() - cpu
                    print(f"  {name:<10} {what:<32} {1000 * cpu / n:6.2f} ms  "
                          f"(status {sorted(set(codes))})")
        asyncio.run(run(app, name))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=TARGET_RATE)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16,
                        help="clients of the searches: at a fixed rate independent hey "
                             "processes sharing it, in step one hey with this many connections")
    parser.add_argument("--writers", type=int, default=32,
                        help="hey connections holding reservations")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="twin serve --workers (server processes)")
    parser.add_argument("--ledgers", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--in-process", type=int, metavar="N", default=0,
                        help="instead: N answers of each request through the app in this "
                             "process (no HTTP, no hey), the CPU time per answer")
    args = parser.parse_args(argv)
    if args.in_process:
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        with tempfile.TemporaryDirectory() as folder:
            found, pg = ledgers(Path(folder), args.ledgers)
            try:
                in_process([(name, location(n)) for n, (name, location) in enumerate(found)],
                           args.in_process, now)
            finally:
                if pg is not None:
                    pg.stop()
        return 0
    if shutil.which("hey") is None:
        print("hey is not installed (apt install hey): nothing measured", file=sys.stderr)
        return 1
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows, checks, load = {}, [], os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        found, pg = ledgers(Path(folder), args.ledgers)
        try:
            n = 0
            for name, location in found:
                for workers in args.workers:
                    n += 1
                    ledger = location(n)
                    server = start_server(ledger, args.port, workers)
                    try:
                        base = f"http://127.0.0.1:{args.port}"
                        for what, r in searches(base, args, now, server.pid).items():
                            rows[(name, workers, what)] = r
                        r = reservations(base, ledger, args, now, server.pid)
                        rows[(name, workers, f"reservations, {args.writers} clients, "
                                             "same site-hours")] = r
                        checks.append((name, workers, rows[(name, workers,
                                                            f"window search at {args.rate:g}/s")],
                                       r))
                    finally:
                        server.terminate()
                        server.wait(timeout=60)
        finally:
            if pg is not None:
                pg.stop()
    if not rows:
        print("nothing measured")
        return 1
    table = pd.DataFrame(rows).T.drop(columns=["codes", "answers"])
    table.index.names = ["ledger", "workers", "request"]
    print(f"twin serve on loopback, hey for {args.seconds} s per row ({args.connections} "
          "clients for searches: independent ones at a fixed rate, one hey of as many "
          f"connections in step and flat out; {args.writers} connections for reservations); "
          "window search: 1 MW "
          f"for 6 h within 48 h over all catalog sites, by carbon; reservations: "
          f"{SITE}, {HOLD_H} h, 1/{HOLDS_THAT_FIT} of its capacity each; {os.cpu_count()} cores, "
          f"load average before {load[0]:.1f}, after {os.getloadavg()[0]:.1f}")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(table.to_string(float_format=lambda x: f"{x:.1f}", na_rep=""))
    for name, workers, s, r in checks:
        ok = s["p99 ms"] < TARGET_P99_MS and s["requests/s"] >= 0.95 * args.rate \
            and s["not 2xx"] == 0
        print(f"target window search p99 < {TARGET_P99_MS:g} ms at {args.rate:g} requests/s "
              f"({name}, {workers} worker(s)): {'met' if ok else 'missed'} "
              f"(p99 {s['p99 ms']:.1f} ms, {s['requests/s']:.0f} requests/s served, "
              f"{s['not 2xx']} not 2xx; server CPU {s['server CPU ms/answer']:.2f} ms/answer)")
        ok = r["held/s"] >= TARGET_RESERVATIONS and not r["oversubscribed"] \
            and r["ledger matches"] and r["not 2xx"] == 0
        print(f"target reservations >= {TARGET_RESERVATIONS:g}/s without oversubscription "
              f"({name}, {workers} worker(s)): {'met' if ok else 'missed'} "
              f"({r['held/s']:.0f}/s held over the run, {r['requests/s']:.0f}/s answered: "
              f"{r['held']} held, {r['refused (409)']} "
              f"refused as full; oversubscribed: {'yes' if r['oversubscribed'] else 'no'}; "
              f"ledger holds the {r['held']} answered 201: "
              f"{'yes' if r['ledger matches'] else 'NO'}; {r['not 2xx']} errors; server CPU "
              f"{r['server CPU ms/answer']:.2f} ms/answer)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
