"""A real PostgreSQL server for the tests: Debian's binaries (package ``postgresql``), a fresh
cluster in a temporary folder, listening on a free loopback port and a private socket folder,
stopped at the end. PostgreSQL refuses to run as root: as root the cluster belongs to the
``postgres`` user the package creates."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

USER = "twin"  # the cluster's superuser, trusted on loopback only


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    return found[-1].parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class PostgresServer:
    """``start()`` a cluster; ``url(database)``; ``kill()`` (SIGKILL of the postmaster, as a
    crash) and ``start()`` again on the same data; ``stop()`` removes it all."""

    def __init__(self):
        self.bin = binaries()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (Debian package postgresql: "
                               "/usr/lib/postgresql/*/bin/postgres not found)")
        self.run_as = None
        if os.geteuid() == 0:
            try:
                self.run_as = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no user postgres to run "
                                   "PostgreSQL as") from None
        self.folder = Path(tempfile.mkdtemp(prefix="twin-pg-"))
        self.data, self.sockets = self.folder / "data", self.folder / "sockets"
        self.sockets.mkdir()
        if self.run_as:
            for p in (self.folder, self.sockets):
                os.chown(p, self.run_as.pw_uid, self.run_as.pw_gid)
        self.port, self.process, self.log = free_port(), None, self.folder / "server.log"
        try:
            self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "-A",
                       "trust", "-E", "UTF8", "--no-locale", "--no-sync"])
        except (RuntimeError, OSError, subprocess.SubprocessError):
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self.databases = 0

    def _run(self, args: list[str]):
        done = subprocess.run(args, capture_output=True, text=True, timeout=120,
                              **self._as_owner())
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()[-500:]}")

    def _as_owner(self) -> dict:
        """What subprocess needs to run a command as the cluster's owner, in its folder."""
        if self.run_as is None:
            return {"cwd": self.folder}
        return {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": [],
                "env": {**os.environ, "HOME": self.run_as.pw_dir}, "cwd": self.folder}

    def start(self) -> PostgresServer:
        with open(self.log, "ab") as log:
            if self.run_as:
                os.chown(self.log, self.run_as.pw_uid, self.run_as.pw_gid)
            self.process = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-k", str(self.sockets), "-c", "listen_addresses=127.0.0.1",
                 "-c", "max_connections=200"], stdout=log, stderr=log, **self._as_owner())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log.read_text()[-500:]}")
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise RuntimeError(f"postgres did not accept connections in 60 s: "
                           f"{self.log.read_text()[-500:]}")

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        self.databases += 1
        name = f"twin_{os.getpid()}_{self.databases}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def kill(self):
        """SIGKILL to the postmaster and its backends, as a crash of the database's host."""
        pids = children(self.process.pid)
        self.process.send_signal(signal.SIGKILL)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=30)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
