"""The service as users run it: `twin serve` in its own process (uvicorn), reached over loopback.
Concurrent reservations for the same hours never exceed a site's capacity; a server killed with
SIGKILL in the middle of writes loses no reservation it had confirmed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from api.ledger import open_store
from sites import get_site

ROOT = Path(__file__).resolve().parents[1]
KEYS = "key-a:tenant-a,key-b:tenant-b"
# tomorrow's midnight: in the future, and within the horizon the service holds over (744 h)
START = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                         microsecond=0)
SPAN_H = 600  # hours from START the crash test's writers spread over


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`twin serve` on a free loopback port, its reservations at ``db`` (an SQLite file or a
    PostgreSQL URL; None: as the environment ``env`` says) and its working folder ``cwd``."""

    def __init__(self, db: Path | str | None, env: dict | None = None, cwd: Path | None = None):
        self.db, self.port = None if db is None else str(db), free_port()
        self.env, self.cwd = env or {}, cwd
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self):
        env = {**os.environ, "TWIN_API_KEYS": KEYS, **self.env,
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        # a file, not a pipe: a pipe nobody reads would block the server once its access log
        # filled the pipe's buffer
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from api.cli import app; app()", "serve", "--port",
             str(self.port), *([] if self.db is None else ["--db", self.db])], env=env,
            stdout=subprocess.DEVNULL, stderr=self.log, cwd=self.cwd)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"twin serve exited: {self.log.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/v1/sites", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("twin serve did not answer within 180 s")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "reservations.sqlite3").start()
    yield s
    s.stop()


def reservation(start: datetime, hours: int, mw: float, site="golmud") -> dict:
    return {"site": site, "start": start.isoformat(), "end": (start + timedelta(hours=hours))
            .isoformat(), "it_power_w": mw * 1e6}


def test_concurrent_reservations_never_oversubscribe(server):
    capacity_mw = get_site("golmud").it.capacity_w / 1e6
    size_mw = 0.5
    body = reservation(START, 6, size_mw)

    def attempt(i):
        with httpx.Client(base_url=server.url, timeout=60) as c:
            return c.post("/v1/reservations", json=body,
                          headers={"X-API-Key": "key-a" if i % 2 else "key-b"}).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(attempt, range(40)))
    assert set(codes) <= {201, 409}, codes
    assert codes.count(201) == int(capacity_mw // size_mw)
    held = open_store(server.db).held(["golmud"], START, 6, datetime.now(UTC))
    assert held.max() <= capacity_mw * 1e6 + 1e-6


def seen_by_the_next_search(replicas: list[Server]) -> None:
    """A hold filling hami, made through one replica, refuses the next search there on the
    other; its cancel lets the next one through. The other is asked twice first (the second
    may be answered from what the first read)."""
    job = {"it_power_w": 1e6, "duration_h": 6, "sites": ["hami"],
           "earliest_start": START.isoformat(),
           "deadline": (START + timedelta(hours=48)).isoformat()}
    other = httpx.Client(base_url=replicas[1].url, timeout=60)
    for _ in range(2):
        before = other.post("/v1/windows:search", json=job)
        assert before.status_code == 200 and before.json()["options"], before.text
    full = get_site("hami").it.capacity_w / 1e6
    made = httpx.post(f"{replicas[0].url}/v1/reservations", json=reservation(
        START, 48, full, site="hami"), headers={"X-API-Key": "key-a"}, timeout=60)
    assert made.status_code == 201, made.text
    after = other.post("/v1/windows:search", json=job)
    assert after.status_code == 422 and "hami" in after.json()["detail"], after.text
    cancelled = httpx.delete(f"{replicas[0].url}/v1/reservations/{made.json()['id']}",
                             headers={"X-API-Key": "key-a"}, timeout=60)
    assert cancelled.status_code == 200
    assert other.post("/v1/windows:search", json=job).status_code == 200


def test_two_replicas_on_one_sqlite_file_see_each_others_holds_at_the_next_search(tmp_path):
    """Two `twin serve` processes on one SQLite file: each keeps the holds it last read for a
    search and uses them again only while the file's data_version is unchanged, so the next
    search on one counts a hold made, or cancelled, through the other."""
    db = tmp_path / "reservations.sqlite3"
    replicas = [Server(db), Server(db)]
    try:
        with ThreadPoolExecutor(2) as pool:  # they simulate the sites at once
            list(pool.map(Server.start, replicas))
        seen_by_the_next_search(replicas)
    finally:
        for s in replicas:
            s.stop()


def test_killed_server_loses_no_confirmed_reservation(tmp_path):
    server = Server(tmp_path / "crash.sqlite3").start()
    confirmed, stop = [], False

    def writer(w):
        with httpx.Client(base_url=server.url, timeout=10) as c:
            k = 0
            while not stop:
                start = START + timedelta(hours=(w * 150 + k) % SPAN_H)
                try:
                    r = c.post("/v1/reservations", json=reservation(start, 2, 0.1),
                               headers={"X-API-Key": "key-a"})
                except httpx.TransportError:
                    return
                if r.status_code == 201:
                    confirmed.append(r.json()["id"])
                k += 1

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(writer, w) for w in range(4)]
        time.sleep(3)
        server.kill()  # SIGKILL mid-write: no shutdown, no flush
        stop = True
        for f in futures:
            f.result()
    assert len(confirmed) > 10, "the writers should have been confirmed before the kill"
    server.start()  # the same database
    try:
        with httpx.Client(base_url=server.url, timeout=10, headers={"X-API-Key": "key-a"}) as c:
            kept, total = set(), 1
            while len(kept) < total:  # every page
                page = c.get("/v1/reservations", params={"offset": len(kept)})
                assert page.json(), "a page short of X-Total-Count"
                kept |= {r["id"] for r in page.json()}
                total = int(page.headers["X-Total-Count"])
        assert set(confirmed) <= kept
        held = open_store(server.db).held(["golmud"], START, SPAN_H + 2, datetime.now(UTC))
        assert np.all(held <= get_site("golmud").it.capacity_w + 1e-6)
    finally:
        server.stop()


def test_serve_says_when_ready_and_exits_on_a_failed_start_up(tmp_path):
    """`twin serve` prints a line with an address that answers once the sites are simulated;
    when loading them fails (a missing forecast folder), it stops with one line, exit code 2."""
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    serve = [sys.executable, "-c", "from api.cli import app; app()", "serve", "--log-level",
             "warning"]
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("w") as err:
        process = subprocess.Popen([*serve, "--port", str(port), "--db",
                                    str(tmp_path / "ok.sqlite3")], env=env, stderr=err)
    try:
        deadline = time.monotonic() + 180
        while not (ready := [line for line in log.read_text().splitlines()
                             if line.startswith("ready: ")]):
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.2)
        url = ready[0].split()[1]
        assert url == f"http://127.0.0.1:{port}/"
        assert httpx.get(url, timeout=5).status_code == 200  # the address it prints answers
        assert httpx.get(f"{url}ready", timeout=5).json()["status"] == "ready"
    finally:
        process.terminate()
        process.wait(timeout=30)
    failed = subprocess.run([*serve, "--port", str(free_port()), "--db",
                             str(tmp_path / "bad.sqlite3"), "--forecast-dir",
                             str(tmp_path / "missing")],
                            env=env, capture_output=True, text=True, timeout=180)
    assert failed.returncode == 2, failed.stderr
    assert f"error: loading the sites' data failed: ValueError: forecast directory " \
           f"{tmp_path / 'missing'} does not exist" in failed.stderr
    assert "Traceback" not in failed.stderr


def readme_session() -> str:
    """The bash block of the README's scheduler session."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text[text.index("A scheduler's session, as it runs today"):]
    start = after.index("```bash\n") + len("```bash\n")
    return after[start:after.index("```\n", start)]


def test_the_readme_scheduler_session_runs_as_written(server, tmp_path):
    """Every command of the README's session, run by bash against a real server today: each
    succeeds (the script stops at the first that fails), and its answers say what the README
    says they do."""
    missing = [c for c in ("curl", "jq", "bash") if not shutil.which(c)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Debian: apt-get install "
                    f"{' '.join(missing)}; .ci/run installs them)")
    env = {**os.environ, "TWIN": server.url, "KEY": "key-a",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_session()], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout.splitlines()
    assert out[0] == '{"status":"ready","sites":15}'
    assert "site ulanqab has 10.240 MW of IT capacity; 4.000 MW is already held" in run.stdout
    assert '["milp","optimal",' in run.stdout or '["greedy",' in run.stdout
    assert "cancelled" in out and "TZ=UTC sbatch --begin=" in run.stdout
