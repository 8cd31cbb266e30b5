"""Speed of the scheduling service under load: `twin serve` (one process per core) on loopback,
driven by hey (a load generator: `apt install hey`). Window searches at a fixed rate (default
200 requests per second) and flat out, against a cheap reference request (GET one site) at the
same rate, in the same run. Prints a table (p50, p99 latency, throughput, non-2xx answers); no
assertions anywhere.

    python benchmarks/service.py [--rate 200] [--seconds 20] [--connections 8]

Target (issue 6): window search p99 under 50 ms at 200 requests per second on 2 cores.
"""

from __future__ import annotations

import argparse
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
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def start_server(db: Path, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH",
                                                                                  "")])}
    server = subprocess.Popen([sys.executable, "-c", "from twin.cli import app; app()", "serve",
                               "--port", str(port), "--db", str(db), "--workers",
                               str(workers)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/sites", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("twin serve did not start within 120 s")


def hey(url: str, seconds: int, connections: int, rate: float | None, body: dict | None) -> dict:
    """Run hey and read its summary: p50 and p99 latency [ms], requests per second, and the
    count of answers that were not 2xx."""
    command = ["hey", "-z", f"{seconds}s", "-c", str(connections)]
    if rate:
        command += ["-q", f"{rate / connections:g}"]  # hey's rate is per connection
    if body is not None:
        command += ["-m", "POST", "-T", "application/json", "-d", json.dumps(body)]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout

    def number(pattern):
        match = re.search(pattern, out)
        return float(match.group(1)) if match else float("nan")

    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    return {"p50 ms": 1000 * number(r"50%+ in ([\d.]+) secs"),
            "p99 ms": 1000 * number(r"99%+ in ([\d.]+) secs"),
            "requests/s": number(r"Requests/sec:\s+([\d.]+)"),
            "answers": sum(codes.values()),
            "not 2xx": sum(n for c, n in codes.items() if not 200 <= c < 300)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--server-workers", type=int, default=os.cpu_count() or 1,
                        help="twin serve --workers (default: one per core)")
    args = parser.parse_args(argv)
    if shutil.which("hey") is None:
        print("hey is not installed (apt install hey): nothing measured", file=sys.stderr)
        return 1
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    search = {"it_power_w": 1e6, "duration_h": 6, "deadline": (now + timedelta(days=2))
              .isoformat(), "objective": "carbon"}
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(Path(folder) / "bench.sqlite3", args.port, args.server_workers)
        try:
            base = f"http://127.0.0.1:{args.port}"
            runs = {
                f"GET /v1/sites/hami at {args.rate:g}/s (reference)": hey(
                    f"{base}/v1/sites/hami", args.seconds, args.connections, args.rate, None),
                f"POST /v1/windows:search at {args.rate:g}/s": hey(
                    f"{base}/v1/windows:search", args.seconds, args.connections, args.rate,
                    search),
                "POST /v1/windows:search flat out": hey(
                    f"{base}/v1/windows:search", args.seconds, args.connections, None, search),
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
    table = pd.DataFrame(runs).T
    print(f"twin serve ({args.server_workers} process(es)) on loopback, hey with "
          f"{args.connections} connections for "
          f"{args.seconds} s each; window search: 1 MW for 6 h within 48 h over all catalog "
          "sites, by carbon")
    with pd.option_context("display.width", 200):
        print(table.round(2).to_string())
    reference, searched = (runs[k] for k in list(runs)[:2])
    print(f"window search p99 / reference p99: {searched['p99 ms'] / reference['p99 ms']:.1f}")
    p99 = searched["p99 ms"]
    print(f"target window search p99 < 50 ms at {args.rate:g}/s: "
          f"{'met' if p99 < 50 and searched['not 2xx'] == 0 else 'MISSED'} ({p99:.1f} ms, "
          f"{searched['requests/s']:.0f} requests/s served)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
