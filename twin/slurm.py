"""Slurm jobs that run a job in the twin's best window (``twin slurm``, contrib/slurm/).

The sbatch side: the option's blocks of consecutive hours, one Slurm job each (begin, deadline,
time limit and, where the deadline leaves no slack, a minimum time), their options as shell
lines with times in UTC for a shell with ``TZ=UTC`` or as Slurm's zone-free ``uts<Unix time>``,
the partition (and cluster) of the chosen site, and comment lines with the energy of what is
printed. The twin side: the window search computed in process (:mod:`twin.outlook`), or asked
of a running service, which also holds the blocks (the standard library's HTTP client).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from twin.timebase import utc
from twin.variables import W_PER_MW, to_mw


def partition_map(text: str | None) -> dict[str, tuple[str | None, str | None]]:
    """Site -> (cluster, partition) of --partition-map: 'site=[cluster:]partition' entries,
    separated by commas or new lines ('#' starts a comment), inline or in a file (a value
    without '='); {} for none."""
    if not text or not text.strip():
        return {}
    if "=" not in text:
        if not Path(text).is_file():
            raise ValueError(f"--partition-map {text!r} is neither SITE=[CLUSTER:]PARTITION "
                             "entries nor a file of them")
        text = Path(text).read_text()
    name = re.compile(r"[A-Za-z0-9_.+-]+")
    out = {}
    for entry in re.split(r"[,\n]", re.sub(r"#[^\n]*", "", text)):
        entry = entry.strip()
        if not entry:
            continue
        site_id, _, target = (s.strip() for s in entry.partition("="))
        cluster, colon, partition = target.rpartition(":") if ":" in target else ("", "", target)
        if not name.fullmatch(site_id) or not (cluster or partition) \
                or any(v and not name.fullmatch(v) for v in (cluster, partition)) \
                or (colon and not cluster):
            raise ValueError(f"--partition-map entry {entry!r} is not SITE=[CLUSTER:]PARTITION "
                             "(letters, digits, _ . + -)")
        out[site_id] = (cluster or None, partition or None)
    return out


def blocks_of(option: dict) -> list[tuple[datetime, datetime]]:
    """The option's runs of consecutive hours as (start, end), aware UTC: one block for a rigid
    job, one per run of consecutive hours for an interruptible one."""
    starts = [utc(datetime.fromisoformat(t)) for t in option.get("hours") or []]
    if not starts:
        return [(utc(datetime.fromisoformat(option["start"])),
                 utc(datetime.fromisoformat(option["end"])))]
    blocks = []
    for t in sorted(starts):
        if blocks and blocks[-1][1] == t:
            blocks[-1] = (blocks[-1][0], t + timedelta(hours=1))
        else:
            blocks.append((t, t + timedelta(hours=1)))
    return blocks


def slurm_job(begin: datetime, end: datetime, deadline: datetime, slack) -> dict:
    """One Slurm job that runs [begin, end) and must end by ``deadline`` (aware datetimes):
    its begin, deadline, time limit and, where needed, minimum time [min].

    Slurm cancels a pending job once now + its time limit (its --time-min when given) passes
    its deadline (deadline_ok, src/slurmctld/job_scheduler.c), and it starts a job only at a
    scheduling pass after --begin (seconds to minutes late). So when the deadline leaves less
    than ``slack`` after the run, --time-min asks Slurm to start the job up to ``slack`` late
    anyway, its time limit cut to end by the deadline (job_scheduler.c and backfill.c)."""
    minute = timedelta(minutes=1)
    run, room = (end - begin) // minute, (deadline - begin) // minute
    time_min = None if deadline - begin >= end - begin + slack else max(room - slack // minute, 1)
    return {"begin": begin, "deadline": deadline, "time": run, "time_min": time_min}


def slurm_duration(minutes: int) -> str:
    """Minutes as Slurm's [days-]hours:minutes:seconds."""
    days, rest = divmod(minutes, 24 * 60)
    return (f"{days}-" if days else "") + f"{rest // 60:02d}:{rest % 60:02d}:00"


def sbatch_args(job: dict, uts: bool = False) -> list[tuple[str, str]]:
    """(option, value) of one job's sbatch options; times as UTC calendar times (for a shell
    with TZ=UTC) or as Slurm's zone-free uts<Unix time> (``uts``)."""
    def when(t: datetime) -> str:
        return f"uts{int(t.timestamp())}" if uts else f"{utc(t):%Y-%m-%dT%H:%M:%S}"

    args = [("begin", when(job["begin"])), ("deadline", when(job["deadline"])),
            ("time", slurm_duration(job["time"]))]
    if job["time_min"]:
        args.append(("time-min", slurm_duration(job["time_min"])))
    cluster, partition = job["partition"]
    if cluster:
        args.append(("clusters", cluster))
    if partition:
        args.append(("partition", partition))
    if job["reservation"]:
        args.append(("comment", f"twin-reservation:{job['reservation']}"))
    return args


def sbatch_lines(jobs: list[dict]) -> list[str]:
    """Shell lines that submit the jobs, the batch script and its arguments being "$@": one
    sbatch line, or one per block, each job starting after the previous one ended."""
    def command(job: dict, extra: str = "") -> str:
        options = " ".join(f"--{k}={v}" for k, v in sbatch_args(job))
        return f'TZ=UTC sbatch {extra}{options} "$@"'

    if len(jobs) == 1:
        return [command(jobs[0])]
    lines = ["# one job per block, each after the one before ends (it resumes from its "
             "checkpoint)"]
    for i, job in enumerate(jobs, 1):
        after = f"--dependency=afterany:${{j{i - 1}%%;*}} " if i > 1 else ""
        lines.append(f"j{i}=$({command(job, '--parsable ' + after)}) &&")
    lines.append('echo "submitted: ' + " ".join(f"$j{i}" for i in range(1, len(jobs) + 1))
                 + '"')
    return lines


def sbatch_options(job: dict) -> list[str]:
    """One job's sbatch options as name=value lines, times zone-free (uts)."""
    return [f"{k}={v}" for k, v in sbatch_args(job, uts=True)]


def summary_lines(result: dict, objective: str, blocks, held: list[dict], zone) -> list[str]:
    """Comment lines: the best option, its energy, its blocks, what is held."""
    best, now_option = result["options"][0], result["run_now"]
    power = to_mw(result["it_power_w"])
    run_h = sum((e - s).total_seconds() / 3600 for s, e in blocks)

    def show(t: datetime) -> str:
        local = f" ({t.astimezone(zone):%Y-%m-%d %H:%M %Z})" if zone else ""
        return f"{t:%Y-%m-%dT%H:%MZ}{local}"

    lines = [f"# best by {objective}: {best['site']} {show(blocks[0][0])} .. "
             f"{show(blocks[-1][1])}, {run_h:.0f} h at {power:,.3g} MW"
             + (f" in {len(blocks)} blocks" if len(blocks) > 1 else "")
             + f": IT {power * run_h:,.1f} MWh, grid {to_mw(best['grid_energy_wh']):,.2f} MWh, "
             f"renewable {best['renewable_fraction']:.0%}, {best['emissions_kg_co2']:,.0f} kg "
             f"CO2, {best['cost']:,.0f} {best['currency']}"
             + (f" (run now at {now_option['site']}: {now_option['emissions_kg_co2']:,.0f} kg "
                "CO2)" if now_option else "") + f"; data: {result['data_mode']}"]
    if len(blocks) > 1:
        lines += [f"# block {i}/{len(blocks)}: {show(s)} .. {show(e)}, "
                  f"{(e - s).total_seconds() / 3600:.0f} h, IT "
                  f"{power * (e - s).total_seconds() / 3600:,.1f} MWh"
                  for i, (s, e) in enumerate(blocks, 1)]
    lines += [f"# held: {r['id']} {r['site']} {r['start']} .. {r['end']} "
              f"{to_mw(r['it_power_w']):g} MW until {r['expires']}" for r in held]
    return lines


class ServiceError(ValueError):
    """An HTTP error answer of the service, with its status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def service_post(url: str, path: str, body: dict, api_key: str | None = None):
    """POST JSON to a running service (the standard library's HTTP client); ServiceError with
    the service's reason on an error answer."""
    headers = {"Content-Type": "application/json"} | ({"X-API-Key": api_key} if api_key else {})
    url = url if "://" in url else f"http://{url}"
    request = urllib.request.Request(f"{url.rstrip('/')}{path}", data=json.dumps(body).encode(),
                                     method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as err:
        text = err.read().decode(errors="replace")
        try:
            detail = json.loads(text).get("detail", text)
        except ValueError:
            detail = text
        raise ServiceError(f"{url}: {err.code} {detail}", err.code) from None
    except urllib.error.URLError as err:
        raise ValueError(f"{url}: {err.reason}") from None


def search_service(url: str, body: dict) -> dict:
    """POST /v1/windows:search of a running service."""
    return service_post(url, "/v1/windows:search", body)


def hold(url: str, api_key: str, holds: list[dict]) -> list[dict]:
    """Hold an option's ``holds`` (whole UTC hours, as the service gives them), all or none
    (POST /v1/reservations:batch), each until its block ends; the reservations, in order."""
    return service_post(url, "/v1/reservations:batch", {"reservations": holds}, api_key)


def search_here(deadline, hours, it_power_mw, gpus, gpu_model, earliest, site, objective,
                 interruptible, sites_dir) -> dict:
    """The window search of the service (same defaults, no reservations), computed here, in
    the service's answer's form."""
    from twin.it_load import servers_from_gpus
    from twin.outlook import Outlook

    outlook = Outlook(sites_dir=sites_dir)
    power = it_power_mw * W_PER_MW if it_power_mw is not None else float(
        servers_from_gpus([gpu_model], [gpus])[1][0])
    job = outlook.job(it_power_w=power, duration_h=hours, deadline=deadline,
                      now=datetime.now(UTC), earliest_start=earliest, sites=site,
                      interruptible=interruptible)
    options, mode = outlook.search(job, objective, limit=1)
    run_now = next((o for o in options if o.run_now), None)

    def out(o):
        return {"site": o.site, "start": o.start.isoformat(), "end": o.end.isoformat(),
                "hours": [t.isoformat() for t in o.hours] if interruptible else None,
                "holds": [{**h._asdict(), "start": h.start.isoformat(),
                           "end": h.end.isoformat()} for h in o.holds(power)],
                "renewable_fraction": o.renewable_fraction,
                "grid_energy_wh": o.grid_energy_wh, "emissions_kg_co2": o.emissions_kg,
                "cost": o.cost, "currency": outlook.currency}

    return {"options": [out(o) for o in options], "data_mode": mode,
            "it_power_w": power, "run_now": None if run_now is None else out(run_now)}
