"""The ``twin`` command: thin over the library, the only place that prints or draws progress."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
import xarray as xr
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import weather
from sites import SiteError, get_site, load_catalog
from weather.readers import FORMATS, read as read_weather

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Hourly energy-and-cooling digital twin of AI data centers in deserts.")
# piped or captured output is not a terminal: do not squeeze tables to 80 columns
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

SitesDir = Annotated[Optional[list[Path]], typer.Option(
    "--sites-dir", help="Extra directory of site TOML files (also: env TWIN_SITES_DIR).")]
Year = Annotated[int, typer.Option(help="Calendar year of the synthetic weather.")]
Seed = Annotated[int, typer.Option(help="Random seed of the synthetic weather.")]


def _fail(err: Exception) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {err}")
    return typer.Exit(code=2)


def _weather_summary(ds: xr.Dataset) -> dict[str, str]:
    hours = ds.sizes["time"]
    return {
        "GHI kWh/m2/yr": f"{float(ds.ghi.sum()) / 1000 * 8760 / hours:,.0f}",
        "T mean °C": f"{float(ds.temp_air.mean()):.1f}",
        "T p1 °C": f"{float(np.percentile(ds.temp_air, 1)):.1f}",
        "T p99 °C": f"{float(np.percentile(ds.temp_air, 99)):.1f}",
        "RH %": f"{float(ds.relative_humidity.mean()):.0f}",
        "wind m/s": f"{float(ds.wind_speed.mean()):.1f}",
    }


@app.command()
def run(year: Year = 2025, seed: Seed = 0, sites_dir: SitesDir = None,
        out_dir: Annotated[Optional[Path], typer.Option(help="Write SITE.nc per site here.")] = None):
    """The main job on the embedded defaults: hourly weather of every catalog site, summarised."""
    try:
        catalog = load_catalog(sites_dir)
    except SiteError as err:
        raise _fail(err) from None
    table = Table(title=f"Hourly weather {year} (synthetic, seed {seed}) of {len(catalog)} sites")
    table.add_column("site", no_wrap=True)
    table.add_column("role", no_wrap=True)
    rows = []
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("building weather", total=len(catalog))
        for site_id, site in catalog.items():
            ds = site.weather(year=year, seed=seed)
            if out_dir:
                out_dir.mkdir(parents=True, exist_ok=True)
                ds.to_netcdf(out_dir / f"{site_id}.nc")
            rows.append((site.name, site.role, _weather_summary(ds)))
            progress.advance(task)
    for column in rows[0][2]:
        table.add_column(column, justify="right")
    for name, role, summary in rows:
        table.add_row(name, role, *summary.values())
    console.print(table)


@app.command()
def sites(sites_dir: SitesDir = None):
    """The site catalog as a table."""
    try:
        catalog = load_catalog(sites_dir)
    except SiteError as err:
        raise _fail(err) from None
    table = Table(title=f"{len(catalog)} sites")
    for column in ("id", "role", "lat", "lon", "alt m", "IT MW", "GPUs", "PV MWp", "wind",
                   "cooling", "weather from"):
        table.add_column(column, no_wrap=True)
    for site_id, s in catalog.items():
        station = Path(s.weather_station).stem.split(".")[-2]  # CHN_Ningxia.Hui.Yinchuan.536140_CSWD
        table.add_row(site_id, s.role, f"{s.latitude:.2f}", f"{s.longitude:.2f}",
                      f"{s.altitude_m:,.0f}", f"{s.it.capacity_w / 1e6:,.1f}",
                      f"{s.it.gpu_count:,} {s.it.gpu_model}", f"{s.pv.capacity_wp / 1e6:,.0f}",
                      f"{s.wind.turbine_count} x {s.wind.turbine_type}", s.cooling.topology, station)
    console.print(table)


@app.command("weather")
def weather_cmd(
    site: Annotated[str, typer.Argument(help="Catalog site id or name.")],
    weather_file: Annotated[Optional[Path], typer.Option(
        "--weather", help=f"Weather file instead of the synthetic year: {FORMATS}.")] = None,
    year: Year = 2025, seed: Seed = 0,
    out: Annotated[Optional[Path], typer.Option(help="Write the Dataset to this NetCDF file.")] = None,
    strict: Annotated[bool, typer.Option(help="Refuse a weather file that needs any repair.")] = False,
    sites_dir: SitesDir = None,
):
    """Hourly weather of one site: its synthetic year, or a weather file read and quality-controlled."""
    try:
        s = get_site(site, sites_dir)
        with console.status("reading weather" if weather_file else "generating weather"):
            ds = (read_weather(weather_file, strict=strict, latitude=s.latitude,
                               longitude=s.longitude, altitude=s.altitude_m)
                  if weather_file else s.weather(year=year, seed=seed))
    except (SiteError, weather.WeatherError) as err:
        raise _fail(err) from None
    table = Table(title=f"{s.name}: {ds.attrs.get('source_file') or ds.attrs['source']}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for k, v in _weather_summary(ds).items():
        table.add_row(k, v)
    table.add_row("QC repairs", f"{int(ds.attrs.get('qc_repaired_values', 0)):,}")
    console.print(table)
    report = weather.qc_report(ds.attrs)
    if len(report):
        qc = Table(title="quality control: repairs")
        for column in ("variable", "check", "count", "action", "first_row", "first_time"):
            qc.add_column(column)
        for row in report.itertuples(index=False):
            qc.add_row(*(str(v) for v in row))
        console.print(qc)
    if out:
        ds.to_netcdf(out)
        console.print(f"wrote {out}")
