"""What two of the abusive requests of issue 19 cost the service now (FastAPI's TestClient, in
process, on the twin's outlook for the catalog): a batch of 4,000 one-hour holds (its capacity
check was quadratic in the batch: 91 s under the write lock when the issue was filed), and a
plan of 200 jobs of 300 h within a 743-hour horizon (it allocated gigabytes while the model was
built). Prints a table and a target line per request; no assertions.

    python benchmarks/abuse.py [--blocks 4000] [--jobs 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from api.settings import Settings  # noqa: E402
from twin.outlook import Outlook  # noqa: E402

TARGET_S = 2.0  # each answered (held, or refused with the limit) within this


def main(argv=None):
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--blocks", type=int, default=4000)
    args.add_argument("--jobs", type=int, default=200)
    a = args.parse_args(argv)
    with warnings.catch_warnings():  # starlette's note on its httpx dependency
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with tempfile.TemporaryDirectory() as folder:
        client = TestClient(create_app(Settings(db_path=Path(folder) / "r.sqlite3",
                                                api_keys={"key": "tenant"}), data=Outlook()))
        first = now + timedelta(days=1)
        blocks = [{"site": "ulanqab", "start": (first + timedelta(hours=i % 600)).isoformat(),
                   "end": (first + timedelta(hours=i % 600 + 1)).isoformat(),
                   "it_power_w": 1000.0} for i in range(a.blocks)]
        jobs = [{"it_power_w": 1e6, "duration_h": 300,
                 "deadline": (now + timedelta(hours=743)).isoformat()} for _ in range(a.jobs)]
        rows = []
        for name, path, body, headers in (
                (f"batch of {a.blocks} holds", "/v1/reservations:batch",
                 {"reservations": blocks}, {"X-API-Key": "key"}),
                (f"plan of {a.jobs} jobs", "/v1/plans", {"jobs": jobs}, {})):
            t0 = time.perf_counter()
            answer = client.post(path, json=body, headers=headers)
            seconds = time.perf_counter() - t0
            detail = answer.json().get("detail", "") if answer.status_code >= 400 else ""
            rows.append((name, len(json.dumps(body)) / 1000, answer.status_code, seconds, detail))
    print(f"{'request':<24} {'body kB':>8} {'status':>6} {'seconds':>8}  detail")
    for name, kb, status, seconds, detail in rows:
        print(f"{name:<24} {kb:>8.1f} {status:>6} {seconds:>8.2f}  {detail[:90]}")
    for name, _, status, seconds, _ in rows:
        ok = status < 500 and seconds < TARGET_S
        print(f"target {name} answered (not 5xx) in under {TARGET_S:g} s: "
              f"{'met' if ok else 'missed'} ({status}, {seconds:.2f} s)")


if __name__ == "__main__":
    main()
