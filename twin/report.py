"""Plots and a one-file HTML report of a climate-year study store (:mod:`twin.study`).

Three plots per (site, scenario, variant), over the study's years:

- supply and demand by month: monthly mean renewable and facility power [MW], the median year
  as a line and the P10-P90 range of the years as a band;
- a PUE heatmap: hourly PUE [1] averaged over the years, by day of year and hour of day;
- duration curves of the IT power renewables can carry [MW], one per year and their median.

Calendar days, months and hours are those of China Standard Time (UTC+8, no daylight saving),
so that the heatmap's rows are local hours: Xinjiang's solar noon falls near 14:00. The stored
year is a cyclic climate year, so the last 8 UTC hours of 31 December, which fall on 1 January
in CST, fill 1 January's first 8 hours.

The store holds SI units (W, W h); figures here show MW and MWh, converted by
:func:`twin.variables.to_mw` only where they are drawn or written.

Figures are :class:`matplotlib.figure.Figure` objects rendered by the Agg backend when saved:
no pyplot, so no global figure registry to fill or close.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from twin.study import ANNUAL, QUANTILES, summary, summary_column
from twin.timebase import CST_OFFSET
from twin.variables import fmt, to_mw

DPI = 100
FIGSIZE_IN = (8.0, 4.0)
PLOTTED = ("renewable_power", "facility_power", "pue", "it_available_power", "grid_import")


def _percent(fraction):
    return 100.0 * fraction


def _as_stored(value):
    return value


# annual figure -> (header, display unit, conversion from the stored (SI) unit, format)
SUMMARY_COLUMNS = {
    "renewable_fraction": ("renewable fraction", "%", _percent, ".1f"),
    "annual_pue": ("PUE", "1", _as_stored, ".3f"),
    "wue": ("WUE", "L/kWh", _as_stored, ".3f"),
    "hours_over_allowable": ("hours over allowable", "h", _as_stored, ",.0f"),
    "curtailed_energy": ("curtailed energy", "MWh", to_mw, ",.0f"),
    "grid_energy": ("grid energy", "MWh", to_mw, ",.0f"),
    "emissions": ("CO2 emissions", "t", _as_stored, ",.0f"),
    "it_available_mean": ("mean available IT power", "MW", to_mw, ".2f"),
}
# a display unit as part of a column name (display_summary)
UNIT_NAMES = {"%": "pct", "1": "", "L/kWh": "l_per_kwh", "h": "h", "MWh": "mwh", "t": "t",
              "MW": "mw"}


def display_summary(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`twin.study.summary` in the units of the printed table and the report (%, MWh,
    MW ...), each column named with that unit (``grid_energy_mwh_p50``,
    ``renewable_fraction_pct_p50``): what ``twin study --summary`` writes."""
    out = {}
    for key in ANNUAL:
        _, unit, convert, _ = SUMMARY_COLUMNS[key]
        name = "_".join(p for p in (key, UNIT_NAMES[unit]) if p)
        for q in QUANTILES:
            p = round(100 * q)
            out[f"{name}_p{p}"] = convert(table[summary_column(key, p)])
    return pd.DataFrame(out, index=table.index)


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def cst_times(time) -> pd.DatetimeIndex:
    """The hour starts ``time`` (UTC, naive) as naive China Standard Time hour starts."""
    return pd.DatetimeIndex(time) + CST_OFFSET


def safe_name(text: str) -> str:
    """``text`` as a file-name part: ``+`` spelled ``plus`` (so ``+1.5K`` and ``-1.5K`` stay
    apart) and every run of other characters than letters, digits, ``.``, ``_`` and ``-`` one
    ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.replace("+", "plus"))


def _hourly(ds: xr.Dataset, site: str, scenario: str, variant: str,
            names: Sequence[str]) -> xr.Dataset:
    """The hourly ``names`` of one (site, scenario, variant), ``(year, time)``, loaded; a year
    the study has not run yet (all NaN) raises ValueError."""
    part = ds[list(names)].sel(site=site, scenario=scenario, variant=variant).load()
    for name in names:
        missing = part[name].isnull().all("time")
        if missing.any():
            years = part["year"].values[missing.values].tolist()
            raise ValueError(f"{name} of {site}/{scenario}/{variant} is missing for years "
                             f"{years}: finish the study (run it again to resume) first")
    return part


def _title(site: str, scenario: str, variant: str) -> str:
    return f"{site}, {scenario}, {variant}"


def monthly_means_mw(power: xr.DataArray) -> xr.DataArray:
    """Mean power [MW] of each CST month ``(year, month)`` of ``power`` [W] ``(year, time)``."""
    month = cst_times(power["time"].values).month
    return to_mw(power.assign_coords(month=("time", month)).groupby("month").mean("time"))


def plot_supply_demand_by_month(ds: xr.Dataset, site: str, scenario: str,
                                variant: str) -> Figure:
    """Monthly mean renewable and facility power [MW] of one site, scenario and variant: the
    P50 over the study's years as a line, their P10-P90 range as a band."""
    part = _hourly(ds, site, scenario, variant,
                   ("renewable_power", "facility_power", "grid_import"))
    fig = Figure(figsize=FIGSIZE_IN)
    ax = fig.add_subplot()
    # what monthly means hide: the hours the grid supplies, and its energy, month by month
    grid = part["grid_import"]
    month = cst_times(grid["time"].values).month
    by_month = grid.assign_coords(month=("time", month)).groupby("month")
    grid_mwh = to_mw(by_month.sum("time")).median("year")  # 1 h steps: W -> W h
    grid_hours = (grid > 0).assign_coords(month=("time", month)).groupby("month").sum(
        "time").median("year")
    bars = ax.twinx()
    bars.bar(grid_mwh["month"].values, grid_mwh.values, color="tab:gray", alpha=0.3, width=0.6)
    for m, energy, hours in zip(grid_mwh["month"].values, grid_mwh.values, grid_hours.values):
        bars.annotate(f"{hours:.0f} h", (m, energy), ha="center", va="bottom", fontsize=6)
    bars.set_ylabel("grid energy, P50 [MWh] (bars: hours)")
    bars.set_ylim(bottom=0)
    for name, label, colour in (("renewable_power", "renewable (PV + wind)", "tab:green"),
                                ("facility_power", "facility", "tab:red")):
        q = monthly_means_mw(part[name]).quantile(list(QUANTILES), dim="year")
        months = q["month"].values
        ax.fill_between(months, q.sel(quantile=QUANTILES[0]).values,
                        q.sel(quantile=QUANTILES[-1]).values,
                        color=colour, alpha=0.25, linewidth=0)
        ax.plot(months, q.sel(quantile=0.5).values, marker="o", color=colour,
                label=f"{label}, P50 (band P10-P90)")
    ax.set_xticks(range(1, 13), MONTHS)
    ax.set_xlabel("month (China Standard Time)")
    ax.set_ylabel("monthly mean power [MW]")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Supply and demand by month: {_title(site, scenario, variant)}")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def day_hour_grid(values: np.ndarray, time) -> np.ndarray:
    """``values`` ``(time,)`` at hour starts ``time`` (UTC) laid out ``(CST hour, CST day of
    year - 1)``; 1 January's first 8 hours are the last 8 of the cyclic year (see the module)."""
    local = cst_times(time)
    grid = np.full((24, local.dayofyear.max()), np.nan)
    grid[local.hour, local.dayofyear - 1] = values
    return grid


def pue_limits(ds: xr.Dataset) -> tuple[float, float]:
    """The lowest and highest hourly PUE [1] (mean over years) of every (site, scenario,
    variant) of the study: the one colour scale of its heatmaps, so that a colour is the same
    PUE in all of them."""
    pue = ds["pue"].mean("year")
    return float(pue.min()), float(pue.max())


def plot_pue_heatmap(ds: xr.Dataset, site: str, scenario: str, variant: str,
                     limits: tuple[float, float] | None = None) -> Figure:
    """Hourly PUE [1] averaged over the study's years, by day of year (x) and hour of day in
    China Standard Time (y), of one site, scenario and variant; ``limits`` the colour scale
    (:func:`pue_limits`, shared by a study's heatmaps), else this heatmap's own range."""
    pue = _hourly(ds, site, scenario, variant, ("pue",))["pue"].mean("year")
    grid = day_hour_grid(pue.values, pue["time"].values)
    fig = Figure(figsize=FIGSIZE_IN)
    ax = fig.add_subplot()
    vmin, vmax = limits or (None, None)
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", interpolation="nearest",
                      extent=(0.5, grid.shape[1] + 0.5, -0.5, 23.5), vmin=vmin, vmax=vmax)
    fig.colorbar(image, ax=ax, label="PUE [1], mean over years")
    ax.set_xlabel("day of year (China Standard Time)")
    ax.set_ylabel("hour of day, CST (UTC+8)")
    ax.set_yticks(range(0, 24, 3))
    ax.set_title(f"Hourly PUE: {_title(site, scenario, variant)}")
    fig.tight_layout()
    return fig


def duration_curves_mw(power: xr.DataArray) -> np.ndarray:
    """Each year's hourly ``power`` [W] ``(year, time)`` sorted from the highest [MW]."""
    return to_mw(-np.sort(-power.values, axis=-1))


def plot_available_duration(ds: xr.Dataset, site: str, scenario: str, variant: str) -> Figure:
    """Duration curves of the IT power renewables can carry [MW] of one site, scenario and
    variant: one faint curve per year, and their median at each rank in bold."""
    power = _hourly(ds, site, scenario, variant, ("it_available_power",))["it_available_power"]
    curves = duration_curves_mw(power)
    hours = np.arange(1, curves.shape[-1] + 1)
    fig = Figure(figsize=FIGSIZE_IN)
    ax = fig.add_subplot()
    for curve in curves:
        ax.plot(hours, curve, color="tab:blue", alpha=0.25, linewidth=0.8)
    ax.plot(hours, np.median(curves, axis=0), color="tab:blue", linewidth=2.2,
            label=f"median of {curves.shape[0]} years (faint: each year)")
    ax.set_xlim(0, hours[-1])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("hours of the year at or above [h]")
    ax.set_ylabel("available IT power [MW]")
    ax.set_title(f"Available IT power duration: {_title(site, scenario, variant)}")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


PLOTS = {"supply_demand": plot_supply_demand_by_month, "pue_heatmap": plot_pue_heatmap,
         "available_duration": plot_available_duration}
KINDS = tuple(PLOTS)


def _combinations(ds: xr.Dataset) -> list[tuple[str, str, str]]:
    return [(str(s), str(c), str(v)) for s in ds["site"].values for c in ds["scenario"].values
            for v in ds["variant"].values]


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _pngs(ds: xr.Dataset, site: str, scenario: str, variant: str,
          limits: tuple[float, float]) -> dict[str, bytes]:
    """The PNG of each plot kind of one (site, scenario, variant), its data loaded once; the
    PUE heatmap on the colour scale ``limits``."""
    part = ds[list(PLOTTED)].sel(site=[site], scenario=[scenario], variant=[variant]).load()
    out = {}
    for kind, plot in PLOTS.items():
        extra = {"limits": limits} if kind == "pue_heatmap" else {}
        out[kind] = _png(plot(part, site, scenario, variant, **extra))
    return out


def plot_file_name(site: str, scenario: str, variant: str, kind: str) -> str:
    """``{site}_{scenario}_{variant}_{kind}.png``, each part made safe by :func:`safe_name`."""
    return "_".join(safe_name(p) for p in (site, scenario, variant, kind)) + ".png"


def render(ds: xr.Dataset) -> dict[tuple[str, str, str], dict[str, bytes]]:
    """The three plots of every (site, scenario, variant) of the study ``ds`` as PNG bytes, the
    PUE heatmaps on one colour scale (:func:`pue_limits`)."""
    limits = pue_limits(ds)
    return {combo: _pngs(ds, *combo, limits) for combo in _combinations(ds)}


# the figures compared side by side (plot_comparison, deltas)
COMPARED = ("renewable_fraction", "annual_pue", "wue", "grid_energy", "emissions",
            "it_available_mean")


def _label(key) -> str:
    return " / ".join(str(k) for k in key)


def plot_comparison(table: pd.DataFrame) -> Figure:
    """Every (site, scenario, variant) side by side: for each figure of COMPARED, its P50 over
    the years as a dot and its P10-P90 range as a bar, in display units."""
    labels = [_label(k) for k in table.index]
    y = np.arange(len(labels))
    fig = Figure(figsize=(12.0, 1.2 + 0.35 * len(labels)))
    axes = fig.subplots(1, len(COMPARED), sharey=True)
    for ax, key in zip(axes, COMPARED):
        header, unit, convert, _ = SUMMARY_COLUMNS[key]
        low, mid, high = (convert(table[summary_column(key, round(100 * q))].to_numpy(float))
                          for q in QUANTILES)
        ax.hlines(y, low, high, color="tab:blue", linewidth=2)
        ax.plot(mid, y, "o", color="black", markersize=4)
        ax.set_title(header if unit == "1" else f"{header}\n[{unit}]", fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.grid(alpha=0.3)
    axes[0].set_yticks(y, labels, fontsize="x-small")
    axes[0].invert_yaxis()
    fig.suptitle("P50 (dot) and P10-P90 (bar) over the years", fontsize="small")
    fig.tight_layout()
    return fig


def deltas(table: pd.DataFrame) -> pd.DataFrame:
    """The P50 of each figure of COMPARED less that of the reference at the same site: the
    study's first scenario (same variant) and its first variant (same scenario); in the
    store's units, columns ``(figure, "scenario" | "variant")``. The reference's rows are 0."""
    p50 = table[[summary_column(k, 50) for k in COMPARED]]
    p50.columns = list(COMPARED)
    scenarios = p50.index.get_level_values("scenario").unique()
    variants = p50.index.get_level_values("variant").unique()
    out = {}
    for site, scenario, variant in p50.index:
        row = p50.loc[(site, scenario, variant)]
        by_scenario = row - p50.loc[(site, scenarios[0], variant)]
        by_variant = row - p50.loc[(site, scenario, variants[0])]
        out[(site, scenario, variant)] = {**{(k, "scenario"): by_scenario[k] for k in COMPARED},
                                          **{(k, "variant"): by_variant[k] for k in COMPARED}}
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.index.names = p50.index.names
    return frame


COMPARISON_FILE = "comparison.png"


def write_plots(ds: xr.Dataset, folder: Path, pngs=None, table: pd.DataFrame | None = None
                ) -> list[Path]:
    """The three plots of every (site, scenario, variant) of the study ``ds`` as PNG files
    (100 dpi) in ``folder`` (created), named by :func:`plot_file_name`, and all of them side by
    side (:func:`plot_comparison`) in COMPARISON_FILE; returns their paths. ``pngs``:
    :func:`render` of ``ds``, ``table`` its :func:`twin.study.summary`, when already made.
    Names that clash once made safe raise ValueError."""
    folder = Path(folder)
    combos = _combinations(ds)
    names = [[plot_file_name(*combo, kind) for kind in KINDS] for combo in combos]
    flat = [n for row in names for n in row]
    if len(set(flat)) != len(flat):
        raise ValueError("scenario or variant names clash once made safe for file names: "
                         f"{sorted({n for n in flat if flat.count(n) > 1})}")
    pngs = pngs or render(ds)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for combo, row in zip(combos, names, strict=True):
        for kind, name in zip(KINDS, row, strict=True):
            path = folder / name
            path.write_bytes(pngs[combo][kind])
            paths.append(path)
    path = folder / COMPARISON_FILE
    path.write_bytes(_png(plot_comparison(summary(ds) if table is None else table)))
    return [*paths, path]


FLEET_FIGSIZE_IN = (12.0, 8.0)  # with DPI: 1200 x 800 px


def plot_fleet(ds: xr.Dataset, by_control: dict, it_capacity_w: dict, path: Path, title: str,
               pue_target: float, mostly_renewable: float) -> Path:
    """One page of the fleet of a run (``twin run --plots``), one bar per site: the renewable
    fraction of the facility's energy [%], the annual PUE under baseline and optimised cooling
    control against the western hubs' target, and the IT power renewables can carry (annual
    mean and median hour) against the IT capacity [MW]. ``by_control``: "baseline" and
    "optimised" -> the run's facility step with every site under that control. Written as PNG
    to ``path``. pue_target and mostly_renewable [1] are drawn as dashed lines."""
    from twin.facility import facility_summary
    from twin.storage import balance_summary

    balance = balance_summary(ds)
    base, opt = (facility_summary(by_control[c]) for c in ("baseline", "optimised"))
    names = list(balance["name"])
    y = np.arange(len(names))
    fig = Figure(figsize=FLEET_FIGSIZE_IN)
    axes = fig.subplots(1, 3, sharey=True)
    ax = axes[0]
    ax.barh(y, 100 * balance.renewable_fraction, color="tab:green")
    ax.axvline(100 * mostly_renewable, color="0.4", linestyle="--", linewidth=1)
    ax.set_xlim(0, 100)
    ax.set_xlabel("renewable fraction of facility energy [%]")
    ax.set_title("renewable fraction")
    ax = axes[1]
    ax.barh(y - 0.2, base.pue, height=0.4, color="tab:red", label="baseline control")
    ax.barh(y + 0.2, opt.pue, height=0.4, color="tab:orange", label="optimised control")
    ax.axvline(pue_target, color="0.2", linestyle="--", linewidth=1,
               label=f"western hubs' target {pue_target}")
    ax.set_xlim(1.0, max(1.3, float(base.pue.max()) + 0.02))
    ax.set_xlabel("annual PUE [1]")
    ax.set_title("PUE")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize="small", ncol=2)
    ax = axes[2]
    capacity = to_mw(np.array([it_capacity_w[s] for s in balance.index]))
    ax.barh(y, capacity, color="0.85", label="IT capacity")
    ax.barh(y - 0.2, to_mw(balance.it_available_mean_w), height=0.4, color="tab:purple",
            label="mean")
    ax.barh(y + 0.2, to_mw(ds["it_available_power"].median("time").values), height=0.4,
            color="tab:blue", label="median hour")
    ax.set_xlabel("IT power renewables carry [MW]")
    ax.set_title("available IT power")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize="small", ncol=3)
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)
    return path


def _monthly_text(values: Sequence[float]) -> str:
    """One value when every month has it, else the 12 monthly values."""
    return f"{values[0]:g}" if len(set(values)) == 1 else ", ".join(f"{v:g}" for v in values)


def _study_html(config: dict) -> str:
    """The study's description (its JSON configuration) as a definition list."""
    scenarios = "".join(
        f"<li>{html.escape(s['name'])}: dry bulb {_monthly_text(s['temperature_shift_k'])} K, "
        f"daily range {_monthly_text(s['daily_range_change_k'])} K, relative humidity "
        f"{_monthly_text(s['relative_humidity_shift_pct'])} %</li>" for s in config["scenarios"])
    variants = "".join(
        f"<li>{html.escape(v['name'])}</li>" for v in config["variants"])
    weather = (f"files in {html.escape(config['weather_dir'])}" if config.get("weather_dir")
               else "synthetic years from each site's normals (seed = year)")
    items = {"sites": html.escape(", ".join(config["site_ids"])),
             "years": html.escape(", ".join(str(y) for y in config["years"])),
             "weather": weather,
             "battery policy": html.escape(str(config.get("battery_policy"))),
             "climate scenarios (monthly changes)": f"<ul>{scenarios}</ul>",
             "design variants": f"<ul>{variants}</ul>"}
    return "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items.items()) + "</dl>"


def summary_cell(row: pd.Series, key: str, percentile: int) -> str:
    """One figure of a :func:`twin.study.summary` row (SI units), the annual figure ``key`` at
    ``percentile``, in the display unit and format of SUMMARY_COLUMNS ("–" where undefined)."""
    _, _, convert, spec = SUMMARY_COLUMNS[key]
    return fmt(convert(row[summary_column(key, percentile)]), spec)


def _summary_html(frame: pd.DataFrame) -> str:
    """The P10/P50/P90 table of :func:`twin.study.summary` in display units."""
    percentiles = [round(100 * q) for q in QUANTILES]
    head1 = "".join(f'<th colspan="{len(percentiles)}">{html.escape(h)} [{html.escape(u)}]</th>'
                    for h, u, _, _ in (SUMMARY_COLUMNS[v] for v in ANNUAL))
    head2 = "".join(f"<th>P{p}</th>" for _ in ANNUAL for p in percentiles)
    rows = []
    for (site, scenario, variant), row in frame.iterrows():
        cells = "".join(
            f"<td>{summary_cell(row, v, p)}</td>" for v in ANNUAL for p in percentiles)
        rows.append(f"<tr><th>{html.escape(str(site))}</th><th>{html.escape(str(scenario))}</th>"
                    f"<th>{html.escape(str(variant))}</th>{cells}</tr>")
    return ('<div class="wide"><table><thead>'
            f'<tr><th rowspan="2">site</th><th rowspan="2">scenario</th>'
            f'<th rowspan="2">variant</th>{head1}</tr><tr>{head2}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _deltas_html(frame: pd.DataFrame) -> str:
    """The :func:`deltas` table in display units, signed."""
    head = "".join(f'<th colspan="2">{html.escape(h)} [{html.escape(u)}]</th>'
                   for h, u, _, _ in (SUMMARY_COLUMNS[k] for k in COMPARED))
    sub = "<th>vs scenario</th><th>vs variant</th>" * len(COMPARED)
    rows = []
    for key, row in frame.iterrows():
        cells = "".join(
            f"<td>{fmt(SUMMARY_COLUMNS[k][2](row[(k, ref)]), '+' + SUMMARY_COLUMNS[k][3])}</td>"
            for k in COMPARED for ref in ("scenario", "variant"))
        rows.append("<tr>" + "".join(f"<th>{html.escape(str(x))}</th>" for x in key)
                    + cells + "</tr>")
    return ('<div class="wide"><table><thead><tr><th rowspan="2">site</th>'
            '<th rowspan="2">scenario</th><th rowspan="2">variant</th>'
            f'{head}</tr><tr>{sub}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


STYLE = """body{font-family:sans-serif;margin:1.5em;max-width:90em}
table{border-collapse:collapse;font-size:0.85em}th,td{border:1px solid #ccc;padding:0.2em 0.4em}
td{text-align:right}thead th{background:#f0f0f0}.wide{overflow-x:auto}
img{max-width:100%;height:auto;display:block;margin:0.5em 0}dd ul{margin:0;padding-left:1.2em}"""


# the sized plants of a study (twin.study.size_plants) as shown: field -> (header, unit, scale
# from the SI value, format)
SIZING_COLUMNS = {
    "pv_wp": ("PV", "MWp", to_mw, ",.1f"),
    "turbines": ("turbines", "1", _as_stored, ",.0f"),
    "battery_wh": ("battery", "MWh", to_mw, ",.0f"),
    "battery_w": ("battery", "MW", to_mw, ",.1f"),
    "grid_w": ("grid", "MW", to_mw, ",.1f"),
    "renewable_fraction": ("renewable", "%", _percent, ".1f"),
    "annual_cost": ("cost", "M{currency}/yr", lambda v: v / 1e6, ",.1f"),
    "cost_per_mwh_it": ("IT energy", "{currency}/MWh", _as_stored, ",.0f"),
    "years_met": ("years met", "1", _as_stored, ",.0f"),
}


def sizing_headers(plants: pd.DataFrame) -> list[str]:
    """The headers of :data:`SIZING_COLUMNS` with their units (currency from ``plants``)."""
    currency = str(plants["currency"].iloc[0]) if len(plants) else "CNY"
    return [h if u == "1" else f"{h} [{u.format(currency=currency)}]"
            for h, u, _, _ in SIZING_COLUMNS.values()]


def sizing_cells(row) -> list[str]:
    """One sized plant's cells in :data:`SIZING_COLUMNS`' units; years met as 'met of sized'."""
    cells = [fmt(scale(float(row[k])), spec) for k, (_, _, scale, spec) in
             SIZING_COLUMNS.items()]
    cells[-1] = f"{int(row['years_met'])} of {int(row['years_sized'])}"
    return cells


def sizing_caption(spec, study: dict) -> str:
    """What the sized plants are: the target, objective and the years they meet it in."""
    years = study["years"]
    over = (f"in at least {100 * spec.reliability:g} % of the {len(years)} years"
            if spec.reliability is not None else f"in the study's first year ({years[0]})")
    return (f"The plant (PV, wind, battery, grid connection) meeting "
            f"{100 * spec.renewable_fraction:g} % renewable {over} at least {spec.objective}, "
            f"per site and scenario, for the first variant "
            f"({study['variants'][0]['name']}); figures of the mean sized year "
            "(twin.sizing).")


def _sizing_html(plants: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in sizing_headers(plants))
    rows = "".join(
        "<tr>" + "".join(f"<th>{html.escape(str(x))}</th>" for x in key)
        + "".join(f"<td>{c}</td>" for c in sizing_cells(row)) + "</tr>"
        for key, row in plants.iterrows())
    return ('<div class="wide"><table><thead><tr><th>site</th><th>scenario</th>'
            f"{head}</tr></thead><tbody>{rows}</tbody></table></div>")


def html_report(ds: xr.Dataset, path: Path, pngs=None, table: pd.DataFrame | None = None,
                command: str | None = None, plants: pd.DataFrame | None = None,
                sizing=None) -> Path:
    """One self-contained HTML file at ``path`` for the study ``ds``: its description, the
    P10/P50/P90 table over years of the annual figures, and the three plots of every (site,
    scenario, variant) embedded as PNG data URIs. ``pngs`` (:func:`render`) and ``table``
    (:func:`twin.study.summary`) of ``ds`` when already made; ``plants``
    (:func:`twin.study.size_plants` for the :class:`twin.study.StudySizing` ``sizing``): the
    sized plants, a section after the differences. Returns ``path``."""
    path = Path(path)
    pngs = pngs or render(ds)
    table = summary(ds) if table is None else table
    config = json.loads(ds.attrs["study"])
    title = str(ds.attrs.get("title", "climate-year study"))
    sections = []
    for combo in _combinations(ds):
        heading = html.escape(_title(*combo))
        images = "".join(
            f'<img alt="{html.escape(kind.replace("_", " "))}: {heading}" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
            for kind, png in pngs[combo].items())
        sections.append(f"<section><h3>{heading}</h3>{images}</section>")
    import datetime as dt

    from twin._version import __version__

    scenarios, variants = config["scenarios"], config["variants"]
    provenance = {"package": f"desert-twin {__version__}",
                  "written": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
                  "command": command or "(the Python API)",
                  "weather": (f"files in {config['weather_dir']} (calendar years)"
                              if config.get("weather_dir") else
                              "synthetic years from each site's normals (year = seed)")}
    comparison = base64.b64encode(_png(plot_comparison(table))).decode("ascii")
    contents = (("study", "Study"), ("figures", "Annual figures over the years"),
                ("comparison", "Sites, scenarios and variants side by side"),
                ("deltas", "Differences from the reference"),
                *((("sizing", "The plant for a renewable target"),) if plants is not None
                  else ()), ("plots", "Plots"))
    sized = "" if plants is None else (
        '<h2 id="sizing">The plant for a renewable target</h2>'
        f"<p>{html.escape(sizing_caption(sizing, config))}</p>{_sizing_html(plants)}")
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        "<dl>" + "".join(f"<dt>{k}</dt><dd>{html.escape(v)}</dd>"
                         for k, v in provenance.items()) + "</dl>"
        "<nav><h2>Contents</h2><ol>" + "".join(f'<li><a href="#{a}">{t}</a></li>'
                                               for a, t in contents) + "</ol></nav>"
        f'<h2 id="study">Study</h2>{_study_html(config)}'
        f"<p>{html.escape(str(ds.attrs.get('time_convention', '')))}; plots in China Standard "
        "Time (UTC+8).</p>"
        '<h2 id="figures">Annual figures over the years</h2>'
        f"<p>P10, P50 and P90 over {len(config['years'])} years.</p>{_summary_html(table)}"
        '<h2 id="comparison">Sites, scenarios and variants side by side</h2>'
        f'<img alt="comparison" src="data:image/png;base64,{comparison}">'
        '<h2 id="deltas">Differences from the reference</h2>'
        f"<p>P50 less the P50 of the reference at the same site: scenario "
        f"{html.escape(scenarios[0]['name'])} (same variant) and variant "
        f"{html.escape(variants[0]['name'])} (same scenario).</p>{_deltas_html(deltas(table))}"
        f'{sized}<h2 id="plots">Plots</h2><p>The PUE heatmaps share one colour scale.</p>'
        f"{''.join(sections)}</body></html>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document, encoding="utf-8")
    return path


# ---- the fleet over a year (twin.fleet) ----

def _policy_bars(ax, frame: pd.DataFrame, ylabel: str):
    """Grouped bars: one group per site (index level ``site``), one bar per policy."""
    table = frame.unstack("policy")
    width = 0.8 / table.shape[1]
    x = np.arange(table.shape[0])
    for k, policy in enumerate(table.columns):
        ax.bar(x + (k - (table.shape[1] - 1) / 2) * width, table[policy].values, width,
               label=policy)
    ax.set_xticks(x, table.index, rotation=45, ha="right")
    ax.set_ylabel(ylabel)
    ax.legend()


def fleet_figures(ds: xr.Dataset) -> dict[str, Figure]:
    """The fleet Dataset of :func:`twin.fleet.run_fleet` as figures: per site and policy the
    utilisation of installed IT capacity and the tCO2 of the year; the fleet's renewable
    fraction by month per policy."""
    from twin.fleet import fleet_summary

    per_site = fleet_summary(ds, by_site=True)
    out = {}
    for kind, column, label in (("utilisation", "utilisation",
                                 "utilisation of installed IT capacity"),
                                ("emissions", "emissions_t", "tCO2 over the year")):
        fig = Figure(figsize=(10, 4), layout="constrained")
        _policy_bars(fig.add_subplot(), per_site[column], label)
        out[kind] = fig
    monthly = ds[["facility_power", "grid_import", "unserved_power"]].sum("site").resample(
        time="MS").sum()
    fraction = 1 - (monthly["grid_import"] + monthly["unserved_power"]) / monthly[
        "facility_power"]
    fig = Figure(figsize=(10, 3.5), layout="constrained")
    ax = fig.add_subplot()
    months = pd.DatetimeIndex(fraction["time"].values)
    for policy in fraction["policy"].values:
        ax.plot(months, fraction.sel(policy=policy).values, marker="o", label=str(policy))
    ax.set_ylabel("renewable fraction of facility energy")
    ax.legend()
    out["renewable_fraction_by_month"] = fig
    return out


def write_fleet_plots(ds: xr.Dataset, folder: Path) -> list[Path]:
    """:func:`fleet_figures` as ``fleet_{kind}.png`` files (100 dpi) in ``folder`` (created)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, fig in fleet_figures(ds).items():
        path = folder / f"fleet_{kind}.png"
        fig.savefig(path, dpi=DPI)
        paths.append(path)
    return paths


def plot_cost_curve(curve: pd.DataFrame, name: str) -> Figure:
    """The cost curve of :func:`twin.sizing.cost_curve`: the cost of IT energy and the plant
    (PV, wind, battery, grid connection) against the renewable target."""
    fig = Figure(figsize=(FIGSIZE_IN[0], 1.2 * FIGSIZE_IN[1]), dpi=DPI)
    cost_ax, plant_ax = fig.subplots(1, 2)
    target = 100 * curve.index.to_numpy()
    currency = curve["currency"].iloc[0]
    cost_ax.plot(target, curve["cost_per_mwh_it"], marker="o", color="black")
    cost_ax.set(xlabel="renewable fraction target [%]",
                ylabel=f"cost of IT energy [{currency}/MWh]", title=f"{name}: cost")
    for column, label in (("pv_wp", "PV [MWp]"), ("wind_w", "wind [MW]"),
                          ("battery_wh", "battery [MWh]"), ("grid_w", "grid connection [MW]")):
        plant_ax.plot(target, to_mw(curve[column]), marker="o", label=label)
    plant_ax.set(xlabel="renewable fraction target [%]", ylabel="capacity [MW, MWp, MWh]",
                 title=f"{name}: plant")
    plant_ax.legend(fontsize="small")
    for ax in (cost_ax, plant_ax):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
