"""`twin slurm` and contrib/slurm/cli_filter.lua against a real Slurm.

The Slurm tests start their own slurmctld and slurmd (and munged with a throw-away key, when it
is installed; else Slurm's auth/none) on loopback, on free ports, with a configuration and state
in a temporary directory, and a real `twin serve` (tests/test_service.py's Server). The jobs
begin in the future (or are held), so nothing runs but the one job of the deadline test, which
is cancelled. They skip, saying why, where Slurm cannot run: not installed (Debian: apt-get
install slurm-wlm munge), not root (slurmd starts jobs as their users), or it did not start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sites import get_site
from tests.test_service import Server, free_port
from twin.cli import app
from twin.slurm import blocks_of, partition_map, sbatch_args, sbatch_lines, slurm_job

ROOT = Path(__file__).resolve().parents[1]
CLI_FILTER = ROOT / "contrib" / "slurm" / "cli_filter.lua"
SLURM_COMMANDS = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
# the daemons live in sbin, which a user's PATH may lack
PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
PARTITIONS = "golmud=p_golmud,hami=p_hami"
CHINA = "Asia/Shanghai"
runner = CliRunner()
# what the caller's environment must not add to `twin slurm` here
CLEAN_ENV = {"TWIN_URL": None, "TWIN_API_KEY": None, "TWIN_SLURM_PARTITIONS": None}


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def hour_after(delta: timedelta) -> datetime:
    """The first whole UTC hour at least ``delta`` from now."""
    t = datetime.now(UTC) + delta
    return t.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def twin(args: list[str], **env) -> str:
    result = runner.invoke(app, args, env={**CLEAN_ENV, **env})
    assert result.exit_code == 0, result.output
    return result.output


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# ---- the pieces, without Slurm ------------------------------------------------------------

def test_a_window_ending_at_the_deadline_gets_time_min():
    """Slurm cancels a job whose now + time limit passes its deadline (deadline_ok); it starts
    jobs after --begin at its next scheduling pass, so a window ending less than the slack
    before the deadline gets --time-min: deadline - begin - slack."""
    b, slack = datetime(2030, 1, 1, tzinfo=UTC), timedelta(minutes=10)
    six = timedelta(hours=6)
    assert slurm_job(b, b + six, b + six + slack, slack) == {
        "begin": b, "deadline": b + six + slack, "time": 360, "time_min": None}
    assert slurm_job(b, b + six, b + six, slack)["time_min"] == 350
    assert slurm_job(b, b + six, b + six + timedelta(minutes=4), slack)["time_min"] == 354


def test_partition_map_inline_in_a_file_and_refused(tmp_path):
    expected = {"hami": (None, "p_hami"), "golmud": ("west", "p_golmud"),
                "zhongwei": ("east", None)}
    assert partition_map("hami=p_hami, golmud=west:p_golmud,zhongwei=east:") == expected
    table = tmp_path / "partitions"
    table.write_text("# site = [cluster:]partition\nhami = p_hami\ngolmud=west:p_golmud\n"
                     "zhongwei=east:  # its default partition\n")
    assert partition_map(str(table)) == expected
    assert partition_map("") == partition_map(None) == {}
    for bad in ("hami=", "hami=p hami", "hami=:p", "hami=p;reboot", "=p"):
        with pytest.raises(ValueError, match="SITE=\\[CLUSTER:\\]PARTITION"):
            partition_map(bad)


def test_blocks_become_chained_jobs():
    t = datetime(2030, 1, 1, tzinfo=UTC)
    hours = [t + timedelta(hours=h) for h in (0, 1, 2, 5, 6)]
    blocks = blocks_of({"start": hours[0].isoformat(), "end": (hours[-1] + timedelta(hours=1))
                      .isoformat(), "hours": [h.isoformat() for h in reversed(hours)]})
    assert blocks == [(t, t + timedelta(hours=3)), (t + timedelta(hours=5), t + timedelta(hours=7))]
    jobs = [dict(slurm_job(s, e, d, timedelta(minutes=10)), partition=(None, "p"),
                 reservation=None)
            for (s, e), d in zip(blocks, [blocks[1][0], t + timedelta(hours=7)])]
    lines = sbatch_lines(jobs)
    assert lines[1] == ("j1=$(TZ=UTC sbatch --parsable --begin=2030-01-01T00:00:00 "
                        "--deadline=2030-01-01T05:00:00 --time=03:00:00 --partition=p \"$@\") &&")
    assert lines[2].startswith("j2=$(TZ=UTC sbatch --parsable --dependency=afterany:${j1%%;*} "
                               "--begin=2030-01-01T05:00:00 --deadline=2030-01-01T07:00:00 "
                               "--time=02:00:00 --time-min=01:50:00 --partition=p")
    assert lines[3] == 'echo "submitted: $j1 $j2"'
    assert sbatch_args(jobs[0], uts=True)[:2] == [("begin", f"uts{int(t.timestamp())}"), (
        "deadline", f"uts{int(blocks[1][0].timestamp())}")]


# ---- a real Slurm -------------------------------------------------------------------------

def not_runnable() -> str | None:
    """Why Slurm cannot run here, or None."""
    missing = [c for c in SLURM_COMMANDS if shutil.which(c, path=PATH) is None]
    if missing:
        return (f"Slurm is not installed (no {', '.join(missing)}): Debian: apt-get install "
                "slurm-wlm munge")
    if os.geteuid() != 0:
        return "slurmd must run as root (it starts jobs as their users)"
    return None


class Slurm:
    """slurmctld + slurmd (+ munged) of a one-node cluster on loopback, in ``folder``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.conf = folder / "etc" / "slurm.conf"
        self.processes: list[subprocess.Popen] = []

    def _munge(self) -> str:
        """munged with a fresh key (its socket) when installed; else Slurm's auth/none."""
        if shutil.which("munged", path=PATH) is None:
            return "AuthType=auth/none\nCredType=cred/none\n"
        run = self.folder / "munge"
        run.mkdir(mode=0o700)
        key = run / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        sock = run / "munge.socket"
        self._spawn(["munged", "--foreground", "--force", f"--key-file={key}",
                     f"--socket={sock}", f"--pid-file={run / 'munged.pid'}",
                     f"--seed-file={run / 'munged.seed'}", f"--log-file={run / 'munged.log'}"])
        self._wait(sock.exists, 10, "munged did not create its socket")
        return f"AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket={sock}\n"

    def start(self) -> Slurm:
        for d in ("etc", "state", "spool", "log"):
            (self.folder / d).mkdir()
        auth = self._munge()
        f, host = self.folder, socket.gethostname().split(".")[0]
        self.conf.write_text(
            f"ClusterName=twintest\nSlurmctldHost={host}(127.0.0.1)\n"
            f"SlurmctldPort={free_port()}\nSlurmdPort={free_port()}\n{auth}"
            "SlurmUser=root\nSlurmdUser=root\n"
            f"StateSaveLocation={f / 'state'}\nSlurmdSpoolDir={f / 'spool'}\n"
            f"SlurmctldPidFile={f / 'slurmctld.pid'}\nSlurmdPidFile={f / 'slurmd.pid'}\n"
            f"SlurmctldLogFile={f / 'log' / 'slurmctld.log'}\n"
            f"SlurmdLogFile={f / 'log' / 'slurmd.log'}\nSlurmctldDebug=info\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
            "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n"
            "JobCompType=jobcomp/none\nSchedulerType=sched/backfill\n"
            "SchedulerParameters=sched_interval=1,bf_interval=1\n"
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\nMpiDefault=none\n"
            "ReturnToService=2\nCliFilterPlugins=cli_filter/lua\n"
            f"NodeName=twinnode NodeHostname={host} NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN\n"
            "PartitionName=p_any Nodes=twinnode Default=YES MaxTime=INFINITE State=UP\n"
            "PartitionName=p_golmud Nodes=twinnode MaxTime=INFINITE State=UP\n"
            "PartitionName=p_hami Nodes=twinnode MaxTime=INFINITE State=UP\n")
        # cli_filter/lua reads cli_filter.lua beside slurm.conf
        shutil.copy(CLI_FILTER, self.conf.parent / "cli_filter.lua")
        self._spawn(["slurmctld", "-D", "-i"])
        self._spawn(["slurmd", "-D", "-N", "twinnode"])
        self._wait(lambda: "idle" in self.run(["sinfo", "-h", "-o", "%T"], check=False).stdout,
                   30, "the node did not come up idle")
        return self

    def _spawn(self, command: list[str]):
        with open(self.folder / f"{command[0]}.out", "wb") as out:  # what it says before logging
            self.processes.append(subprocess.Popen(
                command, env={**os.environ, "PATH": PATH, "SLURM_CONF": str(self.conf)},
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True))

    def _wait(self, ready, seconds: float, problem: str):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if ready():
                return
            dead = [p.args[0] for p in self.processes if p.poll() is not None]
            if dead:
                break
            time.sleep(0.2)
        logs = "; ".join(f"{p.name}: {' | '.join(p.read_text().splitlines()[-3:])}"
                         for p in sorted([*self.folder.glob("*.out"),
                                          *self.folder.glob("*/*.log")]) if p.stat().st_size)
        raise RuntimeError(f"{problem} ({', '.join(dead) + ' exited; ' if dead else ''}{logs})")

    def run(self, command: list[str], tz: str = "UTC", input: str | None = None,
            check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        """A command as a user runs it, from a shell in time zone ``tz``."""
        result = subprocess.run(
            command, input=input, capture_output=True, text=True, timeout=60,
            cwd=self.folder, env={**os.environ, **(env or {}), "PATH": PATH,
                                  "SLURM_CONF": str(self.conf), "TZ": tz})
        assert not check or result.returncode == 0, (command, result.stdout, result.stderr)
        return result

    def job(self, job_id: int) -> dict:
        """The job's record (squeue --json: times as Unix times)."""
        jobs = json.loads(self.run(["squeue", "--json"]).stdout)["jobs"]
        return next(j for j in jobs if j["job_id"] == job_id)

    def stop(self):
        if self.conf.exists() and self.processes:
            self.run(["scancel", "--user=root"], check=False)
        for p in reversed(self.processes):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=15)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    reason = not_runnable()
    if reason:
        pytest.skip(reason)
    cluster = Slurm(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except RuntimeError as err:
        cluster.stop()
        pytest.skip(f"Slurm did not start: {err}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def service(slurm, tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("twin") / "reservations.sqlite3").start()
    yield server
    server.stop()


@pytest.fixture
def job_script(tmp_path) -> str:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\nsleep 300\n")
    return str(script)


def submitted(text: str) -> list[int]:
    """The job ids sbatch (or the printed lines) reported last."""
    return [int(n) for n in re.findall(r"\d+", text.strip().splitlines()[-1])]


def test_the_printed_line_gives_the_same_utc_instants_from_any_zone(slurm, service, job_script):
    earliest = hour_after(timedelta(days=1))
    deadline = earliest + timedelta(hours=24)
    out = twin(["slurm", "--url", service.url, "--deadline", iso(deadline), "--earliest",
                iso(earliest), "--hours", "6", "--it-power-mw", "0.5", "--partition-map",
                PARTITIONS, "--tz", CHINA])
    best = re.search(r"# best by carbon: (\w+) (\S+) \(.*?\) \.\. (\S+) ", out)
    start = when(best.group(2))
    for zone in ("UTC", CHINA):
        # the whole output into a shell: the job script (and extra sbatch options) are "$@"
        shell = slurm.run(["sh", "-s", "--", "--output=/dev/null", job_script], tz=zone,
                          input=out)
        job = slurm.job(submitted(shell.stdout)[0])
        assert (job["eligible_time"], job["deadline"]) == (start.timestamp(),
                                                          deadline.timestamp()), zone
        assert job["partition"] == f"p_{best.group(1)}" and job["time_limit"] == 360
    # the same line without TZ=UTC from a shell in China time: sbatch reads it 8 h early
    bare = next(line for line in out.splitlines() if line.startswith("TZ=UTC "))[7:]
    shell = slurm.run(["sh", "-c", bare, "sh", "--output=/dev/null", job_script], tz=CHINA)
    assert slurm.job(submitted(shell.stdout)[0])["eligible_time"] == (
        start - timedelta(hours=8)).timestamp()


def test_slurm_keeps_a_late_started_window_that_ends_at_the_deadline(slurm, job_script):
    """What Slurm does to a window ending at the deadline when its scheduler starts the job
    after --begin (held, then released): --time alone, cancelled (DEADLINE); with the
    --time-min of twin slurm, run, its time limit cut to end by the deadline."""
    begin = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    end = begin + timedelta(minutes=2)
    twin_job = dict(slurm_job(begin, end, end, timedelta(minutes=1)), partition=(None, None),
                    reservation=None)
    assert twin_job["time_min"] == 1
    ids = {}
    for name, job in (("twin", twin_job), ("time only", dict(twin_job, time_min=None))):
        options = [f"--{k}={v}" for k, v in sbatch_args(job, uts=True)]
        ids[name] = submitted(slurm.run(["sbatch", "--parsable", "--hold", "--output=/dev/null",
                                         *options, job_script]).stdout)[0]
    time.sleep(max((begin - datetime.now(UTC)).total_seconds(), 0) + 2)
    slurm.run(["scontrol", "release", ",".join(map(str, ids.values()))])
    states = {}
    for _ in range(100):
        states = {name: slurm.job(i) for name, i in ids.items()}
        if states["time only"]["job_state"] == "DEADLINE" and \
                states["twin"]["job_state"] == "RUNNING":
            break
        time.sleep(0.2)
    assert states["time only"]["job_state"] == "DEADLINE", states["time only"]
    assert states["twin"]["job_state"] == "RUNNING", states["twin"]
    assert states["twin"]["time_limit"] < 2  # cut to end by the deadline
    slurm.run(["scancel", str(ids["twin"])])


def test_interruptible_runs_one_job_per_block_chained(slurm, service, job_script):
    """Another tenant holds all of Golmud for two hours: six hours in eight come in two blocks,
    each its own job, the second after the first, with the energy of each."""
    capacity_w = get_site("golmud").it.capacity_w
    e = hour_after(timedelta(days=2))
    taken = httpx.post(f"{service.url}/v1/reservations", headers={"X-API-Key": "key-b"},
                       json={"site": "golmud", "start": iso(e + timedelta(hours=3)),
                             "end": iso(e + timedelta(hours=5)), "it_power_w": capacity_w})
    assert taken.status_code == 201, taken.text
    out = twin(["slurm", "--url", service.url, "--interruptible", "--site", "golmud",
                "--earliest", iso(e), "--deadline", iso(e + timedelta(hours=8)), "--hours", "6",
                "--it-power-mw", "1", "--partition-map", PARTITIONS])
    assert "6 h at 1 MW in 2 blocks: IT 6.0 MWh" in out
    assert f"# block 1/2: {e:%Y-%m-%dT%H:%MZ} .. {e + timedelta(hours=3):%Y-%m-%dT%H:%MZ}, " \
           "3 h, IT 3.0 MWh" in out
    assert f"# block 2/2: {e + timedelta(hours=5):%Y-%m-%dT%H:%MZ} .. " \
           f"{e + timedelta(hours=8):%Y-%m-%dT%H:%MZ}, 3 h, IT 3.0 MWh" in out
    shell = slurm.run(["sh", "-s", "--", "--output=/dev/null", job_script], tz=CHINA, input=out)
    first, second = (slurm.job(i) for i in submitted(shell.stdout))
    hour = timedelta(hours=1)
    assert (first["eligible_time"], first["deadline"], first["time_limit"]) == (
        e.timestamp(), (e + 5 * hour).timestamp(), 180)
    assert (second["eligible_time"], second["deadline"], second["time_limit"]) == (
        (e + 5 * hour).timestamp(), (e + 8 * hour).timestamp(), 180)
    assert second["dependency"].startswith(f"afterany:{first['job_id']}")
    assert first["partition"] == second["partition"] == "p_golmud"


def test_hold_makes_the_same_request_take_another_window(slurm, service, job_script):
    """Two identical requests for 60 % of Golmud: with --hold the second one counts the first
    one's reservation and gets another window; the ids are printed and carried by the job."""
    power = round(0.6 * get_site("golmud").it.capacity_w / 1e6, 3)
    e = hour_after(timedelta(days=3))
    args = ["slurm", "--url", service.url, "--site", "golmud", "--earliest", iso(e),
            "--deadline", iso(e + timedelta(hours=12)), "--hours", "4", "--it-power-mw",
            str(power), "--partition-map", PARTITIONS]
    assert twin(args) == twin(args)  # nothing held: the same window twice
    outs = [twin([*args, "--hold"], TWIN_API_KEY="key-a"),
            twin([*args, "--hold", "--api-key", "key-a"])]
    windows = [re.search(r"golmud (\S+) \.\. (\S+),", o).groups() for o in outs]
    (s1, e1), (s2, e2) = [(when(a), when(b)) for a, b in windows]
    assert e1 <= s2 or e2 <= s1, windows
    ids = [re.search(r"^# held: (\S+) golmud", o, re.MULTILINE).group(1) for o in outs]
    held = {r["id"]: r for r in httpx.get(f"{service.url}/v1/reservations",
                                          headers={"X-API-Key": "key-a"}).json()}
    for i, (start, end) in zip(ids, [(s1, e1), (s2, e2)]):
        assert held[i]["status"] == "held" and held[i]["it_power_w"] == power * 1e6
        assert (when(held[i]["start"]), when(held[i]["end"])) == (start, end)
    shell = slurm.run(["sh", "-s", "--", "--output=/dev/null", job_script], input=outs[0])
    assert slurm.job(submitted(shell.stdout)[0])["comment"] == f"twin-reservation:{ids[0]}"
    refused = runner.invoke(app, [*args, "--hold"], env=CLEAN_ENV)
    assert refused.exit_code == 2 and "API key" in refused.output


def test_hold_searches_again_when_the_window_was_taken_meanwhile(service, monkeypatch):
    """Another scheduler holds all of Golmud over the window between the search and the hold:
    the hold is refused (409, nothing held) and twin slurm searches again and holds another."""
    import twin.slurm as slurm_jobs

    capacity_w = get_site("golmud").it.capacity_w
    e = hour_after(timedelta(days=5))
    hold, taken = slurm_jobs.hold, []

    def racing(url, api_key, holds):
        if not taken:
            first = holds[0]
            taken.append((when(first["start"]), when(first["end"])))
            other = httpx.post(f"{url}/v1/reservations", headers={"X-API-Key": "key-b"},
                               json={**first, "it_power_w": capacity_w})
            assert other.status_code == 201, other.text
        return hold(url, api_key, holds)

    monkeypatch.setattr(slurm_jobs, "hold", racing)
    out = twin(["slurm", "--url", service.url, "--hold", "--site", "golmud", "--earliest",
                iso(e), "--deadline", iso(e + timedelta(hours=12)), "--hours", "3",
                "--it-power-mw", "1"], TWIN_API_KEY="key-a")
    assert "another scheduler held the window first" in out and "searching again" in out
    start, end = (when(t) for t in re.search(r"^# held: \S+ golmud (\S+) \.\. (\S+) ", out,
                                             re.MULTILINE).groups())
    assert end <= taken[0][0] or taken[0][1] <= start


def test_a_job_that_can_start_now_begins_now_and_holds_the_current_hour(service):
    """Two hours due in 2 h 10 min: sbatch --begin is now (the next whole minute), not the next
    whole hour, and the hold covers the current hour whole (issue 18)."""
    now = datetime.now(UTC)
    out = twin(["slurm", "--url", service.url, "--format", "options", "--hold", "--site",
                "golmud", "--deadline", iso(now + timedelta(hours=2, minutes=10)), "--hours",
                "2", "--it-power-mw", "1"], TWIN_API_KEY="key-a")
    options = dict(line.split("=", 1) for line in out.splitlines() if not line.startswith("#"))
    begin = datetime.fromtimestamp(int(options["begin"].removeprefix("uts")), UTC)
    assert now <= begin <= datetime.now(UTC) + timedelta(minutes=1), (now, begin)
    assert options["time"] == "02:00:00"
    start, end = (when(t) for t in re.search(r"^# held: \S+ golmud (\S+) \.\. (\S+) ", out,
                                             re.MULTILINE).groups())
    assert start == begin.replace(minute=0, second=0) and end >= begin + timedelta(hours=2)


def twin_command() -> str:
    """The `twin` command for cli_filter.lua: the console script beside this Python."""
    script = Path(sys.executable).with_name("twin")
    return str(script) if script.exists() else \
        f"{sys.executable} -c 'from api.cli import app; app()'"


def test_cli_filter_sets_the_window_from_any_zone(slurm, service, job_script):
    e = hour_after(timedelta(days=4))
    window = {"TWIN_COMMAND": twin_command(), "TWIN_URL": service.url,
              "TWIN_IT_POWER_MW": "0.5", "TWIN_DEADLINE": iso(e + timedelta(hours=24)),
              "TWIN_EARLIEST": iso(e), "TWIN_SLURM_PARTITIONS": PARTITIONS,
              "PYTHONPATH": str(ROOT)}
    expected = dict(line.split("=", 1) for line in twin(
        ["slurm", "--format", "options", "--url", service.url, "--partition-map", PARTITIONS,
         "--it-power-mw", "0.5", "--hours", "6", "--earliest", iso(e), "--deadline",
         iso(e + timedelta(hours=24))]).splitlines() if not line.startswith("#"))
    for zone in ("UTC", CHINA):
        sbatch = slurm.run(["sbatch", "--parsable", "--output=/dev/null", "--time=6:00:00",
                            job_script], tz=zone, env=window)
        assert "best by carbon" in sbatch.stderr  # the filter tells the user the window
        job = slurm.job(submitted(sbatch.stdout)[0])
        assert f"uts{job['eligible_time']}" == expected["begin"], zone
        assert f"uts{job['deadline']}" == expected["deadline"], zone
        assert job["partition"] == expected["partition"] and job["time_limit"] == 360
    # held: the job names the reservation the service holds
    sbatch = slurm.run(["sbatch", "--parsable", "--output=/dev/null", "--time=6:00:00",
                        job_script], env={**window, "TWIN_HOLD": "1", "TWIN_API_KEY": "key-b"})
    comment = slurm.job(submitted(sbatch.stdout)[0])["comment"]
    mine = httpx.get(f"{service.url}/v1/reservations", headers={"X-API-Key": "key-b"}).json()
    assert comment.removeprefix("twin-reservation:") in {r["id"] for r in mine}
    # a job the twin cannot place is refused with the twin's reason
    too_big = slurm.run(["sbatch", "--output=/dev/null", "--time=6:00:00", job_script],
                        env={**window, "TWIN_IT_POWER_MW": "900"}, check=False)
    assert too_big.returncode != 0 and "capacity" in too_big.stderr
    # jobs that ask for no window are left alone
    plain = slurm.run(["sbatch", "--parsable", "--output=/dev/null", "--begin=now+2hours",
                       job_script])
    eligible = slurm.job(submitted(plain.stdout)[0])["eligible_time"]
    assert abs(eligible - (time.time() + 7200)) < 60
