"""The ``twin`` command: thin over the library, the only place that prints or draws progress."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
import typer.main
from rich.console import Console
from typer.core import TyperGroup

from twin.model_names import BATTERY_POLICIES
from weather.errors import WeatherError
from weather.readers import FORMATS

# the commands: `@commands.command()` registers one (not `@app.command()`), built into a click
# command (Typer reads its signature and makes a pydantic TypeAdapter per option: about 2 ms a
# command) only when it is looked up
commands = typer.Typer()


class _Commands(Mapping):
    """The registered commands by name, each built on its first look-up: `twin sites` builds
    one command, `twin --help` all of them (Typer's group would build them all at start-up)."""

    def __init__(self, group: TyperGroup):
        self.group, self.built = group, {}
        self.infos = {info.name or typer.main.get_command_name(info.callback.__name__): info
                      for info in commands.registered_commands}

    def __getitem__(self, name: str):
        if name not in self.built:
            self.built[name] = typer.main.get_command_from_info(
                command_info=self.infos[name], pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=self.group.rich_markup_mode)
        return self.built[name]

    def __iter__(self):
        return iter(self.infos)

    def __len__(self):
        return len(self.infos)


class _LazyGroup(TyperGroup):
    """The `twin` group, whose commands are :class:`_Commands`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.commands = _Commands(self)


app = typer.Typer(cls=_LazyGroup, no_args_is_help=True, add_completion=False,
                  help="Hourly energy-and-cooling digital twin of AI data centers in deserts.")
# piped or captured output is not a terminal: do not squeeze tables to 80 columns
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

SitesDir = Annotated[Optional[list[Path]], typer.Option(
    "--sites-dir", help="Extra directory of site TOML files (also: env TWIN_SITES_DIR).")]
# the calendar years pandas can hold with room for a year's hours, and numpy's seeds
YEAR_MIN, YEAR_MAX = 1900, 2200
Year = Annotated[int, typer.Option(min=YEAR_MIN, max=YEAR_MAX,
                                   help="Calendar year of the synthetic weather.")]
Seed = Annotated[int, typer.Option(min=0, help="Random seed of the synthetic weather (>= 0).")]


# the commands that simulate: their process keeps freed memory for reuse (twin.allocator)
COMPUTING = ("run", "simulate", "study", "fleet", "size", "serve")


@app.callback()
def _start(ctx: typer.Context):
    if ctx.invoked_subcommand in COMPUTING:
        from twin.allocator import keep_freed_memory

        keep_freed_memory()


def _bad_input() -> tuple[type[Exception], ...]:
    """What a command reports in one line: bad sites, weather and values (an ``except`` clause
    evaluates this only when something was raised: ``sites`` is imported then)."""
    from sites import SiteError

    return SiteError, WeatherError, ValueError


def _print(renderables):
    for r in renderables:
        console.print(r)


def fail(err: Exception) -> typer.Exit:
    from rich.markup import escape

    # one line, never wrapped; "[sizing]" in a message is text, not Rich markup
    err_console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
    return typer.Exit(code=2)


def _check_out(path: Path | None, what: str = "--out", result: bool = False) -> None:
    """Refuse an output path that cannot be written, before any work: ValueError naming it.
    ``result``: a Dataset's path, whose suffix names its format (twin.output.SUFFIXES)."""
    if path is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    if result:
        from twin.output import check_suffix

        check_suffix(path, what)
    elif path.is_dir():
        raise ValueError(f"{what} {path}: is a directory; give a file name")
    if not folder.is_dir():
        raise ValueError(f"{what} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"{what} {path}: not writable")


def _write_out(ds, path: Path) -> None:
    """``ds`` written to ``path`` in its suffix's format, and a line saying so (and what a
    table leaves out)."""
    from twin.output import write

    with console.status(f"writing {path}"):
        left_out = write(ds, path)
    console.print(f"wrote {path}" + (f" (not in the table, on other dimensions: "
                                     f"{', '.join(left_out)}; in .nc and .zarr)"
                                     if left_out else ""), markup=False, soft_wrap=True)


OUT_HELP = ("Write the {what} Dataset: .nc (NetCDF), .zarr (Zarr), .csv or .parquet (a table, "
           "one row per {row}, units in the column names).")


def _simulate_with_progress(weather_in, sites, **kwargs):
    from rich.progress import Progress

    from twin.simulate import simulate
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("simulating", total=None)  # the steps run by blocks of sites

        def report(step: str):
            progress.update(task, description=step)

        return simulate(weather_in, sites, progress=report, **kwargs)


BatteryPolicy = Annotated[str, typer.Option(
    help=f"{' | '.join(BATTERY_POLICIES)}: whether the available IT power counts what the battery "
         "could deliver.")]


@commands.command()
def run(year: Year = 2025, seed: Seed = 0, sites_dir: SitesDir = None,
        battery_policy: BatteryPolicy = "none",
        out: Annotated[Optional[Path],
                       typer.Option(help=OUT_HELP.format(what="results", row="site-hour"))] = None,
        plots: Annotated[Optional[Path], typer.Option(
            help="Also write a one-page picture of the fleet (renewable fraction, PUE, "
                 "available IT power by site) into this folder: fleet.png.")] = None):
    """The main job on the embedded defaults: a synthetic year of every catalog site: PV and
    wind, facility power, PUE and water (baseline against optimised cooling control), the power
    balance and the IT power renewables carry."""
    from sites import load_catalog
    from twin import cli_tables
    from twin.simulate import simulate

    try:
        _check_out(out, result=True)
        if plots is not None:  # a folder, made if its parent exists
            if plots.exists() and not plots.is_dir():
                raise ValueError(f"--plots {plots}: is a file; give a folder")
            _check_out(plots / "fleet.png" if plots.is_dir() else plots, "--plots")
        catalog = load_catalog(sites_dir)
        ds = _simulate_with_progress(None, list(catalog.values()), year=year, seed=seed,
                                     battery_policy=battery_policy)
        # the same year with every site under each cooling control, to the facility step (the
        # run itself where every site has that control): what optimised control would save
        by_control = {}
        for control in ("baseline", "optimised"):
            if all(s.cooling.control == control for s in catalog.values()):
                by_control[control] = ds
                continue
            with console.status(f"{control} cooling control"):
                by_control[control] = simulate(
                    None, [_with_control(s, control) for s in catalog.values()], year=year,
                    seed=seed, until="facility")
        _print(cli_tables.results(
            ds, f"Renewable generation {year} (synthetic weather, seed {seed}), "
                f"{len(catalog)} sites", sites=list(catalog.values()), by_control=by_control))
    except _bad_input() as err:
        raise fail(err) from None
    if out:
        _write_out(ds, out)
    written = []
    if plots:
        from twin.report import plot_fleet

        with console.status("plotting"):
            written.append(plot_fleet(ds, by_control, {s.id: s.it.capacity_w
                                                       for s in catalog.values()},
                                      plots / "fleet.png",
                                      f"{len(catalog)} sites, synthetic year {year} (seed "
                                      f"{seed})", cli_tables.WESTERN_HUB_PUE,
                                      cli_tables.MOSTLY_RENEWABLE))
    if written:
        console.print("wrote " + ", ".join(str(w) for w in written))


def _with_control(site, control: str):
    """The site with that cooling control."""
    return site.model_copy(update={"cooling": site.cooling.model_copy(
        update={"control": control})})


AllowMissing = Annotated[bool, typer.Option(
    help="Keep hours with missing or QC-rejected weather as NaN (NaN results for them) instead "
    "of filling gaps or refusing.")]
AllowDistant = Annotated[bool, typer.Option(
    help="Use a --weather file farther than 100 km or 500 m (altitude) from its site, or outside "
    "the site's climate (mean temperature 10 K, mean wind 3x from its normals), instead of "
    "refusing it; the site is then simulated at the file's location.")]


@commands.command("simulate")
def simulate_cmd(
    site: Annotated[list[str], typer.Argument(help="Catalog site ids or names.")],
    weather_files: Annotated[Optional[list[Path]], typer.Option(
        "--weather", help=f"Weather file, one per SITE in order ({FORMATS}); default: synthetic "
        "years.")] = None,
    year: Year = 2025, seed: Seed = 0,
    wind_scaling: Annotated[str, typer.Option(help="normals | weather | none: how station wind "
                                              "is scaled to the wind-farm mean.")] = "normals",
    allow_missing: AllowMissing = False,
    allow_distant_weather: AllowDistant = False,
    battery_policy: BatteryPolicy = "none",
    out: Annotated[Optional[Path], typer.Option(
        help=OUT_HELP.format(what="results", row="site-hour"))] = None,
    sites_dir: SitesDir = None,
):
    """One or more sites, every hour: tables of annual energy, PUE and WUE, and the power
    balance with the IT power renewables can carry."""
    from sites import get_site
    from twin import cli_tables
    from weather.readers import read as read_weather

    try:
        _check_out(out, result=True)
        chosen = [get_site(s, sites_dir) for s in site]
        if weather_files and len(weather_files) != len(chosen):
            raise ValueError(f"{len(weather_files)} --weather file(s) for {len(chosen)} site(s): "
                             "give one per site, in the same order")
        weather_in = None
        if weather_files:
            with console.status("reading weather"):
                # --allow-missing: what the file lacks stays NaN (NaN results for those hours)
                weather_in = [read_weather(f, year=year, latitude=s.latitude, longitude=s.longitude,
                                           altitude=s.altitude_m, fill_missing=not allow_missing)
                              for f, s in zip(weather_files, chosen)]
        ds = _simulate_with_progress(weather_in, chosen, year=year, seed=seed,
                                     wind_scaling=wind_scaling, allow_missing=allow_missing,
                                     battery_policy=battery_policy,
                                     allow_distant_weather=allow_distant_weather)
        source = "weather files" if weather_files else f"synthetic weather {year}, seed {seed}"
        if weather_in:
            qc = {s.id: cli_tables.weather_qc_summary(w) for s, w in zip(chosen, weather_in)}
            ds.attrs["weather_qc"] = json.dumps(qc)
            for site_id, q in qc.items():
                console.print(f"{site_id}: {cli_tables.weather_qc_line(q)}")
        for sid, loc in json.loads(ds.attrs.get("weather_location", "{}")).items():
            _show_location(sid, loc, "simulated")
        _print(cli_tables.results(ds, f"Renewable generation ({source})"))
    except _bad_input() as err:
        raise fail(err) from None
    if out:
        _write_out(ds, out)


def _show_location(site_id: str, loc: dict, what: str):
    """A line when weather is not at its site (twin.simulate.weather_locations)."""
    if loc.get("distance_km", 0) > 1 or abs(loc.get("altitude_difference_m", 0)) > 50:
        console.print(f"{site_id}: {what} at the weather's location {loc['latitude']:.2f}, "
                      f"{loc['longitude']:.2f}, {loc['altitude']:.0f} m "
                      f"({loc['distance_km']:,.0f} km, {loc['altitude_difference_m']:+,.0f} m "
                      "from the site)")


@commands.command()
def sites(sites_dir: SitesDir = None):
    """The site catalog as a table."""
    from rich.table import Table
    from rich.text import Text

    from sites import load_catalog
    from twin.variables import to_mw

    try:
        catalog = load_catalog(sites_dir)
    except _bad_input() as err:
        raise fail(err) from None
    # plain text throughout: Rich would read "[m]" as markup, and its markup and emoji codes
    # (":name:") in every cell take as long as drawing the table
    table = Table(title=Text(f"{len(catalog)} sites", style="table.title"))
    numbers = {"lat [°N]", "lon [°E]", "alt [m]", "IT [MW]", "GPUs", "PV [MWp]"}
    for column in ("id", "role", "lat [°N]", "lon [°E]", "alt [m]", "IT [MW]", "GPUs",
                   "PV [MWp]", "wind", "cooling", "weather from"):
        table.add_column(Text(column), no_wrap=True,
                         justify="right" if column in numbers else "left")
    for site_id, s in catalog.items():
        # CHN_Ningxia.Hui.Yinchuan.536140_CSWD
        station = Path(s.weather_station).stem.split(".")[-2]
        table.add_row(*map(Text, (
            site_id, s.role, f"{s.latitude:.2f}", f"{s.longitude:.2f}", f"{s.altitude_m:,.0f}",
            f"{to_mw(s.it.capacity_w):,.2f}", f"{s.it.gpu_count:,} {s.it.gpu_model}",
            f"{to_mw(s.pv.capacity_wp):,.1f}",
            f"{s.wind.turbine_count} x {s.wind.turbine_type}" if s.wind.turbine_count else "none",
            s.cooling.topology, station)))
    console.print(table)


@commands.command("weather")
def weather_cmd(
    site: Annotated[str, typer.Argument(help="Catalog site id or name.")],
    weather_file: Annotated[Optional[Path], typer.Option(
        "--weather", help=f"Weather file instead of the synthetic year: {FORMATS}.")] = None,
    year: Year = 2025, seed: Seed = 0,
    out: Annotated[Optional[Path],
                   typer.Option(help=OUT_HELP.format(what="weather", row="hour"))] = None,
    strict: Annotated[bool,
                      typer.Option(help="Refuse a weather file that needs any repair.")] = False,
    allow_missing: AllowMissing = False,
    allow_distant_weather: AllowDistant = False,
    sites_dir: SitesDir = None,
):
    """Hourly weather of one site: its synthetic year, or a weather file read and
    quality-controlled (checked against the site's location, as `twin simulate` does)."""
    from sites import get_site
    from twin import cli_tables
    from twin.simulate import weather_locations
    from weather.readers import read as read_weather

    try:
        _check_out(out, result=True)
        s = get_site(site, sites_dir)
        with console.status("reading weather" if weather_file else "generating weather"):
            ds = (read_weather(weather_file, strict=strict, latitude=s.latitude,
                               longitude=s.longitude, altitude=s.altitude_m,
                               fill_missing=not allow_missing)
                  if weather_file else s.weather(year=year, seed=seed))
        loc = weather_locations([ds], [s], allow_distant_weather=allow_distant_weather)[0][3]
    except _bad_input() as err:
        raise fail(err) from None
    _show_location(s.id, loc, "read")
    _print(cli_tables.weather_tables(ds, s.name))
    if out:
        _write_out(ds, out)


# what `twin slurm` reads as a time: ISO 8601, UTC unless it carries a zone (Z, +08:00)
TIME_FORMATS = ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
SLURM_FORMATS = ("sh", "options")
# how often --hold searches again when another scheduler held the window in between
HOLD_ATTEMPTS = 3
PartitionMap = Annotated[Optional[str], typer.Option(
    envvar="TWIN_SLURM_PARTITIONS", show_envvar=True,
    help="Site -> Slurm partition (and cluster): 'hami=p_hami,golmud=west:p_golmud' (SITE="
         "[CLUSTER:]PARTITION, or SITE=CLUSTER: for a cluster's default partition), or a file "
         "of such entries, one per line. Only mapped sites are searched.")]


@commands.command()
def slurm(
    deadline: Annotated[datetime, typer.Option(
        formats=TIME_FORMATS, metavar="TIME",
        help="The job must end by then: UTC, or with a zone (2026-12-08T00:00:00+08:00).")],
    hours: Annotated[int, typer.Option(min=1, help="Run time, whole hours.")],
    it_power_mw: Annotated[Optional[float], typer.Option(help="IT power [MW].")] = None,
    gpus: Annotated[Optional[int], typer.Option(help="Or: a GPU count (of --gpu-model).")] = None,
    gpu_model: Annotated[str, typer.Option()] = "H100",
    earliest: Annotated[Optional[datetime], typer.Option(
        formats=TIME_FORMATS, metavar="TIME",
        help="Not before (UTC unless a zone is given; default: now).")] = None,
    site: Annotated[Optional[list[str]], typer.Option(
        help="Allowed site(s); default all (all mapped ones with --partition-map).")] = None,
    objective: Annotated[str, typer.Option(help="grid_energy | carbon | cost")] = "carbon",
    interruptible: Annotated[bool, typer.Option(
        help="The job can checkpoint and resume: one Slurm job per block of consecutive "
             "hours, each after the one before.")] = False,
    url: Annotated[Optional[str], typer.Option(
        envvar="TWIN_URL", show_envvar=True,
        help="A running `twin serve` (counts every tenant's reservations); default: compute "
             "here.")] = None,
    hold: Annotated[bool, typer.Option(
        "--hold", help="Hold the window's IT power on the service (--url) until it ends, so "
                       "that other schedulers' searches count it; prints the reservation "
                       "ids.")] = False,
    api_key: Annotated[Optional[str], typer.Option(
        envvar="TWIN_API_KEY", show_envvar=True, help="The service's API key, for "
                                                      "--hold.")] = None,
    partition_map: PartitionMap = None,
    slack_min: Annotated[int, typer.Option(
        min=1, max=59, help="Minutes Slurm may take to start a job after --begin (its "
                            "scheduler's poll interval and more) and still run it in full.")] = 10,
    output: Annotated[str, typer.Option(
        "--format", help="sh: shell lines (pipe into `sh -s job.sh`); options: name=value "
                         "lines, times as Slurm's uts<Unix time>, for cli_filter.lua.")] = "sh",
    tz: Annotated[Optional[str], typer.Option(
        help="Also show the window's times in this zone (display only: sbatch is given "
             "UTC whatever the zone).")] = None,
    sites_dir: SitesDir = None,
):
    """The sbatch jobs that run a job in its best window, found by the twin's window search (on
    a running service with --url, or computed here): --begin, --deadline, --time (and
    --time-min where the window ends at the deadline), --partition from --partition-map; with
    --interruptible one job per block, chained. The times are UTC, and `TZ=UTC` makes sbatch
    read them so whatever the submitting shell's zone."""
    import zoneinfo
    from datetime import timedelta

    from twin import slurm as slurm_jobs
    from twin.timebase import utc
    from twin.variables import W_PER_MW

    # Typer's datetimes are naive unless a zone was given: utc() takes naive ones as UTC
    deadline, earliest = utc(deadline), utc(earliest) if earliest else None
    try:
        if (it_power_mw is None) == (gpus is None):
            raise ValueError("give the job's size as --it-power-mw or as --gpus, not both and "
                             "not neither")
        if output not in SLURM_FORMATS:
            raise ValueError(f"unknown --format {output!r}; known: {', '.join(SLURM_FORMATS)}")
        if hold and not url:
            raise ValueError("--hold needs --url: the service keeps the reservations")
        if hold and not api_key:
            raise ValueError("--hold needs an API key: --api-key or env TWIN_API_KEY")
        zone = zoneinfo.ZoneInfo(tz) if tz else None
        targets = slurm_jobs.partition_map(partition_map)
        if targets and site:
            unmapped = [s for s in site if s not in targets]
            if unmapped:
                raise ValueError(f"site(s) {', '.join(unmapped)} have no Slurm partition in "
                                 f"--partition-map (mapped: {', '.join(targets)})")
        sites = site or (list(targets) or None)
        for attempt in range(1, (HOLD_ATTEMPTS if hold else 1) + 1):
            if url:
                result = slurm_jobs.search_service(url, {
                    "it_power_w": None if it_power_mw is None else it_power_mw * W_PER_MW,
                    "gpu_count": gpus, "gpu_model": gpu_model,
                    "duration_h": hours, "deadline": deadline.isoformat(), "sites": sites,
                    "earliest_start": earliest.isoformat() if earliest else None,
                    "objective": objective, "interruptible": interruptible, "limit": 1})
            else:
                with console.status("simulating the sites"):
                    result = slurm_jobs.search_here(deadline, hours, it_power_mw, gpus,
                                                    gpu_model, earliest, sites, objective,
                                                    interruptible, sites_dir)
            best = result["options"][0]
            blocks = slurm_jobs.blocks_of(best)
            if output == "options" and len(blocks) > 1:
                raise ValueError(
                    f"the best option runs in {len(blocks)} blocks and one sbatch submits one "
                    "job: submit one job per block with the shell output (twin slurm ... "
                    "--interruptible | sh -s job.sh)")
            if not hold:
                held = []
                break
            try:
                held = slurm_jobs.hold(url, api_key, best["holds"])
                break
            except slurm_jobs.ServiceError as err:
                if err.status != 409 or attempt == HOLD_ATTEMPTS:
                    raise
                err_console.print(f"another scheduler held the window first ({err}); "
                                  "searching again", markup=False, highlight=False)
    except (zoneinfo.ZoneInfoNotFoundError, *_bad_input(), OSError) as err:
        raise fail(err) from None
    jobs = [slurm_jobs.slurm_job(start, end,
                                 deadline if i == len(blocks) - 1 else blocks[i + 1][0],
                                 timedelta(minutes=slack_min))
            for i, (start, end) in enumerate(blocks)]
    for job, reservation in zip(jobs, held or [None] * len(jobs)):
        job["partition"] = targets.get(best["site"], (None, None))
        job["reservation"] = reservation and reservation["id"]
    # shell lines: no markup, no highlighting, no wrapping
    for line in slurm_jobs.summary_lines(result, objective, blocks, held, zone) + (
            slurm_jobs.sbatch_lines(jobs) if output == "sh"
            else slurm_jobs.sbatch_options(jobs[0])):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@commands.command()
def fleet(
    sites: Annotated[Optional[list[str]], typer.Option(
        "--sites", help="Catalog site ids or names of the fleet (repeatable); default all.")
    ] = None,
    workload: Annotated[Optional[Path], typer.Option(
        help="CSV trace of training jobs (columns: name, site, arrival, it_power_mw, "
             "duration_h, deadline_h, interruptible); default: a synthetic year (--preset).")
    ] = None,
    preset: Annotated[str, typer.Option(
        help="Synthetic workload: catalog (~10,000 jobs a year) | small (~1,000); its "
             "inference demand is used with --workload too.")] = "catalog",
    policy: Annotated[Optional[list[str]], typer.Option(
        help="isolated | linked | linked-forecast (repeatable); default all three.")] = None,
    year: Year = 2025, seed: Seed = 0,
    workload_seed: Annotated[int, typer.Option(min=0, help="Seed of the synthetic jobs.")] = 0,
    scale: Annotated[float, typer.Option(
        min=0.001, help="Scale every site (IT, GPUs, PV, wind, battery, grid) and the number "
                        "of jobs by this factor.")] = 1.0,
    objective: Annotated[str, typer.Option(help="grid_energy | carbon | cost: what the linked "
                                                "scheduler minimises.")] = "carbon",
    max_delay_h: Annotated[int, typer.Option(
        min=0, help="A job that cannot end within this many hours of its deadline is "
                    "refused.")] = 48,
    known_hours: Annotated[int, typer.Option(
        min=0, help="linked-forecast: hours from each decision known exactly (a perfect "
                    "short-term forecast); beyond them the climate (another synthetic "
                    "year).")] = 0,
    by_site: Annotated[bool, typer.Option(help="Also print the table per site.")] = False,
    out: Annotated[Optional[Path], typer.Option(
        help=OUT_HELP.format(what="fleet", row="policy, site and hour"))] = None,
    plots: Annotated[Optional[Path], typer.Option(
        help="Also write PNG plots into this folder (utilisation and tCO2 per site and "
             "policy, renewable fraction by month).")] = None,
    sites_dir: SitesDir = None,
):
    """A fleet over a year: training jobs and inference placed hour by hour under each policy
    (each site alone, linked, linked on a forecast), then each site's facility power, PUE and
    power balance; prints the year per policy and what linking changes."""
    from rich.progress import Progress

    from sites import get_site, load_catalog
    from twin.fleet import fleet_summary, run_fleet, scale_sites
    from twin.workload import read_trace, synthetic

    try:
        _check_out(out, result=True)
        if plots is not None and plots.exists() and not plots.is_dir():
            raise ValueError(f"--plots {plots}: is a file; give a folder")
        chosen = [get_site(s, sites_dir) for s in sites] if sites else \
            list(load_catalog(sites_dir).values())
        chosen = scale_sites(chosen, scale)
        if workload is not None:
            work = read_trace(workload, chosen, year, preset)
        else:
            work = synthetic(chosen, year, preset, seed=workload_seed, scale=scale)
        with Progress(console=err_console, transient=True) as progress:
            task = progress.add_task("fleet", total=None)
            ds = run_fleet(chosen, work, year=year, seed=seed,
                           policies=tuple(policy or ("isolated", "linked", "linked-forecast")),
                           objective=objective, max_delay_h=max_delay_h,
                           known_h=known_hours,
                           progress=lambda step: progress.update(task, description=step))
    except _bad_input() as err:
        raise fail(err) from None
    summary = fleet_summary(ds)
    console.print(_fleet_table(summary, f"{len(chosen)} sites, {len(work.training)} training "
                               f"jobs, {year} (synthetic weather, seed {seed}; objective "
                               f"{objective}; cost in {ds['grid_cost'].attrs['currency']})"))
    if "isolated" in summary.index and len(summary) > 1:
        console.print(_fleet_table(summary.drop("isolated") - summary.loc["isolated"],
                                   "change against isolated"))
    if by_site:
        console.print(_fleet_table(fleet_summary(ds, by_site=True), "per site"))
    if out:
        _write_out(ds, out)
    if plots:
        from twin.report import write_fleet_plots

        with console.status("plotting"):
            written = write_fleet_plots(ds, plots)
        console.print(f"wrote {len(written)} PNG in {plots}")


def _fleet_table(frame, title: str):
    from rich.table import Table

    from twin.variables import fmt

    columns = {"it_energy_mwh": ("IT MWh", ",.0f"), "utilisation": ("util.", ".3f"),
               "renewable_fraction": ("RE frac.", ".3f"), "grid_mwh": ("grid MWh", ",.0f"),
               "emissions_t": ("tCO2", ",.0f"), "cost": ("cost", ",.0f"),
               "curtailed_mwh": ("curtailed MWh", ",.0f"), "mean_pue": ("PUE", ".3f"),
               "jobs_on_time": ("on time", ",.0f"), "jobs_late": ("late", ",.0f"),
               "jobs_refused": ("refused", ",.0f"),
               "inference_unserved_mwh": ("infer. unserved MWh", ",.1f"),
               "inference_rtt_ms": ("infer. RTT ms", ".1f")}
    table = Table(title=title)
    names = list(frame.index.names)
    for i, n in enumerate(names):  # the labels in full (linked-forecast), the figures may wrap
        table.add_column(n, no_wrap=True,
                         min_width=max(len(str(k[i] if isinstance(k, tuple) else k))
                                       for k in frame.index))
    shown = [c for c in columns if c in frame.columns]
    for c in shown:
        table.add_column(columns[c][0], justify="right")
    for key, row in frame.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        table.add_row(*map(str, key), *(fmt(float(row[c]), columns[c][1]) for c in shown))
    return table


@commands.command()
def study(
    out: Annotated[Path, typer.Option(help="The study's Zarr store (resumed if it exists).")],
    site: Annotated[Optional[list[str]], typer.Argument(
        help="Catalog site ids or names (or --config).")] = None,
    config: Annotated[Optional[Path], typer.Option(
        help="A study TOML file: sites, first_year, years, scenarios, [variants.NAME] tables "
             "(instead of SITE, --years, --scenario, --variant).")] = None,
    years: Annotated[int, typer.Option(min=1, help="Number of years.")] = 30,
    first_year: Annotated[int, typer.Option(
        min=0, help="First year: a synthetic year's seed, or the year of SITE_YEAR files in "
             "--weather-dir.")] = 1,
    weather_dir: Annotated[Optional[Path], typer.Option(
        help="Real weather files named SITE_YEAR.epw|.nc|.csv; default: synthetic years.")] = None,
    scenario: Annotated[Optional[list[str]], typer.Option(
        help="Climate scenario: baseline or a warming such as +1.5K (repeatable).")] = None,
    variant: Annotated[Optional[list[str]], typer.Option(
        help="Design variant axis table.field=v1,v2 (repeatable; the grid of all, or "
             "--paired), or a named one 'NAME: table.field=v table.field=v'.")] = None,
    paired: Annotated[bool, typer.Option(
        help="Take the --variant axes' values together (first with first ...), not their "
             "grid.")] = False,
    battery_policy: BatteryPolicy = "none",
    workers: Annotated[int, typer.Option(min=1, help="Local Dask worker processes.")] = 2,
    scheduler: Annotated[Optional[str], typer.Option(
        help="A Dask scheduler (tcp://HOST:PORT) instead of a local cluster; its workers must "
             "see --out.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a store of another study.")] = False,
    summary_csv: Annotated[Optional[Path], typer.Option(
        "--summary", help="Also write the P10/P50/P90 table as CSV (the printed table's units, "
                          "named in its columns: renewable_fraction_pct_p50, "
                          "grid_energy_mwh_p50 ...).")] = None,
    plots: Annotated[Optional[Path], typer.Option(
        help="Also write PNG plots into this folder (supply vs demand by month, PUE heatmap, "
             "available IT duration curves).")] = None,
    report: Annotated[Optional[Path], typer.Option(
        help="Also write one self-contained HTML report.")] = None,
    sizing_csv: Annotated[Optional[Path], typer.Option(
        "--sizing-csv", help="Write the sized plants ([sizing] in --config) as CSV (SI units, "
                             "one row per site and scenario).")] = None,
    sites_dir: SitesDir = None,
):
    """A climate-year study: sites x years x scenarios x design variants through the whole twin,
    on Dask, streamed into a Zarr store; prints P10/P50/P90 of the annual figures."""
    from dataclasses import replace

    from distributed import Client
    from rich.progress import Progress

    from sites import get_site
    from twin import cli_tables
    from twin.report import display_summary, html_report, render, write_plots
    from twin.study import (
        Scenario,
        Study,
        local_cluster,
        parse_variants,
        run_study,
        size_plants,
        sizing_from_config,
        study_from_config,
        summary,
    )

    try:
        _check_out(summary_csv, "--summary")
        _check_out(report, "--report")
        _check_out(sizing_csv, "--sizing-csv")
        sizing = None
        if config is not None:
            if site or scenario or variant:
                raise ValueError("--config describes the sites, scenarios and variants: give "
                                 "no SITE, --scenario or --variant with it")
            spec = study_from_config(config)
            sizing = sizing_from_config(config)
            chosen = [get_site(s, spec.sites_dir) for s in spec.site_ids]
            spec = replace(spec, site_ids=tuple(s.id for s in chosen))
            years = len(spec.years)
        else:
            if not site:
                raise ValueError("give the sites (SITE ...) or a study file (--config)")
            chosen = [get_site(s, sites_dir) for s in site]
            spec = Study(tuple(s.id for s in chosen),
                         tuple(range(first_year, first_year + years)),
                         tuple(Scenario.parse(s) for s in (scenario or ["baseline"])),
                         tuple(parse_variants(variant or [], paired=paired)),
                         weather_dir=str(weather_dir) if weather_dir else None,
                         sites_dir=tuple(map(str, sites_dir)) if sites_dir else None,
                         battery_policy=battery_policy)
        for v in spec.variants:  # a bad variant is refused before any work starts
            [v.apply(s) for s in chosen]
        if sizing_csv and sizing is None:
            raise ValueError("--sizing-csv: the study file (--config) has no [sizing] table")
    except _bad_input() as err:
        raise fail(err) from None
    cluster = None if scheduler else local_cluster(workers)
    try:
        with Client(scheduler or cluster) as client, Progress(console=err_console) as progress:
            task = progress.add_task(f"{spec.site_years()} site-years", total=len(spec.tasks()))
            ds = run_study(spec, out, client=client, overwrite=overwrite,
                           progress=lambda done, total: progress.update(task, completed=done))
            plants = None
            if sizing is not None:
                sized = progress.add_task(
                    f"sizing for {100 * sizing.renewable_fraction:g} % renewable",
                    total=len(spec.site_ids) * len(spec.scenarios))
                plants = size_plants(spec, sizing, client=client, progress=lambda done, total:
                                     progress.update(sized, completed=done))
    except KeyboardInterrupt:
        err_console.print(f"interrupted: finished tasks are kept in {out}; run the same command "
                          "again to resume")
        raise typer.Exit(code=130) from None
    except _bad_input() as err:
        raise fail(err) from None
    finally:
        if cluster is not None:
            cluster.close()
    table = summary(ds)
    console.print(cli_tables.study_table(
        table, f"{spec.site_years()} site-years: P10 / P50 / P90 over {years} "
               + (f"calendar years {spec.years[0]}-{spec.years[-1]}" if spec.weather_dir else
                  f"synthetic years (seeds {spec.years[0]}-{spec.years[-1]})")))
    if plants is not None:
        from twin.report import sizing_caption

        console.print(cli_tables.study_sizing_table(
            plants, sizing_caption(sizing, json.loads(spec.config()))))
    written = [out]
    if summary_csv:
        display_summary(table).to_csv(summary_csv)
        written.append(summary_csv)
    if sizing_csv:
        plants.to_csv(sizing_csv)
        written.append(sizing_csv)
    if plots or report:
        with console.status("plotting"):
            pngs = render(ds)  # once for both
    if plots:
        written.append(f"{len(write_plots(ds, plots, pngs, table))} PNG in {plots}")
    if report:
        import shlex

        written.append(html_report(ds, report, pngs, table,
                                   command=shlex.join(["twin", *sys.argv[1:]]), plants=plants,
                                   sizing=sizing))
    console.print("wrote " + ", ".join(str(w) for w in written))


@commands.command("size")
def size_cmd(
    site: Annotated[str, typer.Argument(help="Catalog site id or name.")],
    renewable_fraction: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Share of the facility's energy from renewables (0..1).")] = 0.9,
    objective: Annotated[str, typer.Option(
        help="cost: least annual cost; carbon: least life-cycle and grid emissions.")] = "cost",
    it_mw: Annotated[Optional[float], typer.Option(
        help="IT power [MW] (servers scaled alike); default: the site's.")] = None,
    year: Year = 2025, seed: Seed = 0,
    weather_file: Annotated[Optional[Path], typer.Option(
        "--weather", help=f"A year of weather ({FORMATS}); default: synthetic.")] = None,
    curve: Annotated[Optional[bool], typer.Option(
        "--curve/--no-curve", help="Also size for 50..100 %: the cost curve (default: on, "
                                   "off with --reliability).")] = None,
    check: Annotated[bool, typer.Option(
        help="Run the twin with the sized plant and compare its renewable fraction.")] = True,
    plot: Annotated[Optional[Path], typer.Option(
        help="Write the cost curve as a PNG.")] = None,
    curve_csv: Annotated[Optional[Path], typer.Option(
        "--csv", help="Write the cost curve as CSV (SI units: W, Wh).")] = None,
    years: Annotated[int, typer.Option(
        min=0, help="Also run the sized plant through this many other synthetic years "
                    "(seeds 1..N) and print P10/P50/P90 of its renewable fraction; with "
                    "--reliability, the years to size over.")] = 0,
    reliability: Annotated[Optional[str], typer.Option(
        help="Size over the --years synthetic years (seeds 1..N) so that the target is met "
             "in at least this share of them: p90 (9 years in 10), p50, 1.0 (every year); "
             "default: the one year.")] = None,
    sites_dir: SitesDir = None,
):
    """The PV, wind, battery and grid connection that meet a renewable target at least cost
    over a climate year (or in 90 % of N years, --reliability p90): an hourly linear programme
    (HiGHS) on the twin's own demand and generation; prints the plant, its cost of energy, and
    the cost curve from 50 to 100 %."""
    from sites import get_site
    from twin import cli_tables, sizing
    from twin.variables import W_PER_MW
    from weather.readers import read as read_weather

    try:
        sizing.check_objective(objective)
        share = None
        if reliability is not None:
            share = sizing.parse_reliability(reliability)
            if years < 1:
                raise ValueError("--reliability sizes over --years N synthetic years: give N "
                                 "(10 or more for p90 to let a year go)")
            if weather_file:
                raise ValueError("--reliability sizes over synthetic years (--years): give no "
                                 "--weather")
            if curve or plot or curve_csv:
                raise ValueError("--reliability: the cost curve (--curve, --plot, --csv) is of "
                                 "one year; draw it without --reliability")
        curve = share is None if curve is None else curve
        _check_out(plot, "--plot")
        _check_out(curve_csv, "--csv")
        s = get_site(site, sites_dir)
        it_w = None if it_mw is None else it_mw * W_PER_MW
        if share is not None:
            _size_reliably(s, renewable_fraction, share, objective, it_w, year, years)
            return
        wx = None
        if weather_file:
            wx = read_weather(weather_file, year=year, latitude=s.latitude,
                              longitude=s.longitude, altitude=s.altitude_m)
        with console.status("simulating the site"):
            profiles = sizing.site_profiles(s, it_power_w=it_w, weather=wx, year=year,
                                            seed=seed)
        with console.status(f"sizing for {100 * renewable_fraction:g} %"):
            sized = sizing.size(profiles, renewable_fraction, objective=objective)
        source = f"weather {weather_file.name}" if weather_file else \
            f"synthetic year {year}, seed {seed}"
        console.print(cli_tables.sizing_table(
            sized, f"{s.name}: {100 * renewable_fraction:g} % renewable at least {objective}, "
                   f"IT {profiles.site.it.capacity_w / W_PER_MW:g} MW ({source})"))
        if check:
            with console.status("running the twin with the sized plant"):
                result = sizing.validate(profiles, sized, weather=wx)
            console.print(
                f"twin with this plant: renewable fraction "
                f"{100 * result['renewable_fraction_twin']:.2f} % (programme "
                f"{100 * result['renewable_fraction_lp']:.2f} %), unserved "
                f"{result['unserved_energy_wh_twin'] / W_PER_MW:,.0f} MWh", markup=False)
        if years:
            with console.status(f"the sized plant over {years} synthetic years"):
                spread = sizing.across_years(profiles, sized, range(1, years + 1))
            _print_spread(spread, renewable_fraction)
        if curve or plot or curve_csv:
            with console.status("the cost curve"):
                table = sizing.cost_curve(profiles, objective=objective)
            console.print(cli_tables.cost_curve_table(table, f"{s.name}: cost curve"))
            if curve_csv:
                table.to_csv(curve_csv)
                console.print(f"wrote {curve_csv}", markup=False)
            if plot:
                from twin.report import plot_cost_curve

                plot_cost_curve(table, s.name).savefig(plot, dpi=100)
                console.print(f"wrote {plot}", markup=False)
    except _bad_input() as err:
        raise fail(err) from None


def _print_spread(spread, target: float) -> None:
    """P10/P50/P90 of the renewable fraction the twin gives in other years, and how many meet
    the target."""
    years = len(spread)
    low, mid, high = (100 * spread.quantile(q) for q in (0.1, 0.5, 0.9))
    met = int((spread >= target - 1e-3).sum())
    console.print(f"the twin over {years} synthetic years (seeds {spread.index[0]}-"
                  f"{spread.index[-1]}): renewable fraction P10 {low:.1f} %, P50 {mid:.1f} %, "
                  f"P90 {high:.1f} %; {met} of {years} years meet {100 * target:g} %",
                  markup=False)


def _size_reliably(site, target: float, share: float, objective: str, it_w, year: int,
                   years: int) -> None:
    """`twin size --reliability`: the plant meeting ``target`` in ``share`` of ``years``
    synthetic years (seeds 1..N), then checked by the whole twin in every one of them."""
    from rich.progress import Progress

    from twin import cli_tables, sizing
    from twin.variables import W_PER_MW

    seeds = list(range(1, years + 1))
    profiles = []
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("simulating the years", total=years)
        for seed in seeds:
            profiles.append(sizing.site_profiles(site, it_power_w=it_w, year=year, seed=seed))
            progress.advance(task)
    with console.status("sizing") as status:
        found = sizing.size_for_reliability(
            profiles, target, share, objective=objective, labels=seeds,
            progress=lambda message: status.update(message))
    binding = ", ".join(str(seeds[i]) for i in found.binding)
    console.print(cli_tables.sizing_table(
        found.sizing, f"{site.name}: {100 * target:g} % renewable in at least "
                      f"{100 * share:g} % of {years} synthetic years (seeds 1-{years}) at least "
                      f"{objective}, IT {profiles[0].site.it.capacity_w / W_PER_MW:g} MW; "
                      f"the mean of the binding years (seeds {binding})"))
    console.print(f"the programme met {100 * target:g} % in the binding years (seeds {binding});"
                  f" the twin's balance: {found.met} of {years} years meet it (at most "
                  f"{found.allowed_misses} may miss)", markup=False)
    with console.status(f"the twin with this plant over {years} years"):
        spread = sizing.across_years(profiles[0], found.sizing, seeds)
    _print_spread(spread, target)
