"""What the ``twin`` command shows: its tables, built from results (Rich renderables, printed by
:mod:`twin.cli`). Apart from the command so that ``twin --help`` and ``twin sites`` start without
importing the numerical stack (issue 22)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

import weather
from twin.facility import facility_summary
from twin.simulate import generation_summary
from twin.storage import balance_summary
from twin.variables import fmt, to_mw

# summary cells that may be NaN, and when: a capacity factor of a plant with no capacity
# (wind_capacity 0: no turbines), the cooling saving where the baseline uses no cooling energy;
# they show as "–" (twin.variables.fmt). Any other NaN is refused (refuse_nan).
_MEANINGFUL_NAN = {
    "pv_capacity_factor": lambda ds: ds["pv_capacity"].values == 0,
    "wind_capacity_factor": lambda ds: ds["wind_capacity"].values == 0,
    "renewable_capacity_factor":
        lambda ds: (ds["pv_capacity"] + ds["wind_capacity"]).values == 0,
    "cooling_saving_pct": lambda ds: ds["cooling_power_baseline"].sum("time").values == 0,
}


def refuse_nan(ds: xr.Dataset, *frames) -> None:
    """ValueError naming the first site and figure that is NaN where a number is due (never a
    "nan" table cell), unless that NaN is meaningful (:data:`_MEANINGFUL_NAN`)."""
    for frame in frames:
        for column in frame.columns:
            values = frame[column]
            if values.dtype.kind != "f":
                continue
            bad = ~np.isfinite(values.to_numpy())
            if column in _MEANINGFUL_NAN:
                bad &= ~np.asarray(_MEANINGFUL_NAN[column](ds), dtype=bool)
            if bad.any():
                site = frame.index[np.flatnonzero(bad)[0]]
                raise ValueError(f"site {site}: {column} is {values[site]} (not a number): the "
                                 "inputs gave no valid result; check the site file and weather")


# the PUE the "East Data, West Computing" approvals set for the western hub clusters (NDRC et
# al., February 2022: Qingyang, Gansu "PUE < 1.2"; Inner Mongolia, Guizhou, Ningxia alike;
# ../shared/reference/cooling.md, section 10), held here against the sites of the western
# provinces
WESTERN_HUB_PUE = 1.2
WESTERN_PROVINCES = ("Xinjiang", "Qinghai", "Gansu", "Ningxia", "Inner Mongolia", "Guizhou")
# "mostly renewable": more than half the facility's energy from PV, wind and the battery
MOSTLY_RENEWABLE = 0.5


def _table(title: str, columns: dict[str, str], caption: str | None = None) -> Table:
    """A table whose headers are plain text: units in brackets ("[MWh]", "[h]") are not Rich
    markup (Rich swallows "[h]" as a style tag). ``columns``: header -> "l" (text) or "r"
    (numbers, right-aligned)."""
    table = Table(title=title, caption=caption and Text(caption), caption_justify="left",
                  box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for header, align in columns.items():
        table.add_column(Text(header), justify="left" if align == "l" else "right",
                         no_wrap=align == "l")
    return table


def _names(ds: xr.Dataset, ids) -> str:
    """Site names for a sentence: "Hami, Golmud and Turpan" (or "none")."""
    names = [str(ds["name"].sel(site=s).item()) for s in ids]
    if not names:
        return "none"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _verb(ids, verb: str) -> str:
    """"meet" for several sites, "meets" for one."""
    return verb if len(ids) != 1 else verb + ("es" if verb.endswith("s") else "s")


def results(ds: xr.Dataset, title: str, sites=None, by_control: dict | None = None) -> list:
    """The tables of a run (generation; facility and balance when computed), each followed by
    a line saying what it means; ValueError first when a figure is NaN where a number is due.
    sites: the catalog Site objects simulated (then the IT capacity is a column and the PUE is
    held against the western hubs' target at the western sites). by_control: "baseline" and
    "optimised" -> the same run's facility step with every site under that cooling control (the
    facility table then shows baseline against optimised control and the saving). Each PUE is
    that run's own facility over its own IT energy: the IT power itself changes with the
    setpoints (server fans), so a baseline facility power over the optimised run's IT power
    would be neither."""
    summary = generation_summary(ds)
    summary["wind_speed_scale"] = ds["wind_speed_scale"].sel(site=summary.index).values
    frames = [summary]
    if "facility_power" in ds:
        frames.append(facility_summary(ds))
    controls = {k: facility_summary(v) for k, v in (by_control or {}).items()}
    frames.extend(controls.values())
    if "grid_import" in ds:
        frames.append(balance_summary(ds))
    refuse_nan(ds, *frames)  # before any table: a refusal is the only output
    out = [_generation(ds, summary, title)]
    if "wind_warning" in ds.attrs:
        out.append(f"[yellow]note:[/] {escape(ds.attrs['wind_warning'])}")
    if "facility_power" in ds:
        out.extend(_facility(ds, frames[1], {s.id: s for s in sites or []}, controls))
    if "grid_import" in ds:
        out.extend(_balance(ds, frames[-1]))
    return out


def _generation(ds: xr.Dataset, summary, title: str) -> Table:
    best = summary.renewable_capacity_factor.dropna().sort_values(ascending=False)
    no_wind = summary.index[summary.wind_capacity_factor.isna()]
    top = best.iloc[:3]
    meaning = (f"what this means: per MW installed, {_names(ds, top.index)} generate the most "
               f"(capacity factor {100 * top.min():.0f} to {100 * top.max():.0f} %)"
               if len(best) else
               "what this means: no site has a renewable plant")
    if len(no_wind):
        meaning += (f"; {_names(ds, no_wind)} {'has' if len(no_wind) == 1 else 'have'} no wind "
                    "turbines")
    table = _table(title, {"site": "l", "PV [MWh/yr]": "r", "wind [MWh/yr]": "r",
                           "total [MWh/yr]": "r", "PV CF [%]": "r", "wind CF [%]": "r",
                           "total CF [%]": "r", "peak [MW]": "r", "zero output [h]": "r",
                           "wind scale [1]": "r"}, caption=meaning)
    for site_id, row in summary.iterrows():
        table.add_row(
            Text(row["name"]), f"{to_mw(row.pv_energy_wh):,.0f}",
            f"{to_mw(row.wind_energy_wh):,.0f}",
            f"{to_mw(row.renewable_energy_wh):,.0f}", fmt(100 * row.pv_capacity_factor, ".1f"),
            fmt(100 * row.wind_capacity_factor, ".1f"),
            fmt(100 * row.renewable_capacity_factor, ".1f"),
            f"{to_mw(row.peak_renewable_w):,.1f}", f"{row.zero_renewable_hours:,}"
            + (f" (+{row.missing_hours} NaN)" if row.missing_hours else ""),
            f"{float(ds.wind_speed_scale.sel(site=site_id)):.2f}")
    return table


def _facility(ds: xr.Dataset, summary, sites: dict, controls: dict) -> list:
    title = ("Facility over the year: PUE and WUE energy weighted, hours of IT inlet air outside "
             "ASHRAE's allowable envelope; the sites' control: "
             + ", ".join(sorted(set(summary.control))))
    columns = {"site": "l", "cooling": "l"}
    if sites:
        columns["IT [MW]"] = "r"
    columns["IT [MWh/yr]"] = "r"
    compared = {"baseline", "optimised"} <= set(controls)
    if compared:
        base, opt = controls["baseline"], controls["optimised"]
        saved = 100 * (1 - opt.cooling_energy_wh / base.cooling_energy_wh)
    if not compared:
        columns["PUE [1]"] = "r"
    else:  # cooling control: baseline setpoints, or optimised each hour (twin.facility)
        columns |= {"PUE base [1]": "r", "PUE opt [1]": "r", "saved [%]": "r"}
    columns |= {"WUE [L/kWh]": "r", "PUE max [1]": "r", "mechanical [h]": "r",
                "> allowable [h]": "r"}
    meaning = "what this means: "
    if compared:
        saving = saved[np.isfinite(saved)]
        meaning += ("optimised control (PUE opt) would save "
                    f"{saving.min():.0f} to {saving.max():.0f} % of the baseline's cooling "
                    "energy (saved); " if len(saving) else "")
    western = [s for s in summary.index if s in sites and sites[s].province in WESTERN_PROVINCES]
    if western:
        pue = (base.pue if compared else summary.pue)[western]
        meets = pue.index[pue < WESTERN_HUB_PUE]
        misses = pue.index[pue >= WESTERN_HUB_PUE]
        meaning += (f"of the western sites, {_names(ds, meets)} meet the western hubs' PUE "
                    f"target (< {WESTERN_HUB_PUE}, NDRC 2022)"
                    + (" with baseline control" if compared else ""))
        if compared:
            rescued = [s for s in misses if opt.pue[s] < WESTERN_HUB_PUE]
            if rescued:
                meaning += (f"; {_names(ds, rescued)} {_verb(rescued, 'meet')} it only with "
                            "optimised control")
            misses = [s for s in misses if s not in rescued]
        if len(misses):
            meaning += f"; {_names(ds, misses)} {_verb(misses, 'miss')} it"
    table = _table(title, columns, caption=meaning.rstrip("; "))
    for site_id, r in summary.iterrows():
        cells = [Text(r["name"]), r.topology]
        if sites:
            cells.append(f"{to_mw(sites[site_id].it.capacity_w):,.2f}")
        cells.append(f"{to_mw(r.it_energy_wh):,.0f}")
        if compared:
            cells += [fmt(base.pue[site_id], ".3f"), fmt(opt.pue[site_id], ".3f"),
                      fmt(saved[site_id], ".1f")]
        else:
            cells.append(fmt(r.pue, ".3f"))
        cells += [fmt(r.wue_l_per_kwh, ".2f"), fmt(r.peak_pue, ".2f"),
                  f"{r.hours_mechanical:,}", f"{r.hours_outside_allowable:,}"]
        table.add_row(*cells)
    return [table]


def _balance(ds: xr.Dataset, summary) -> list:
    currency = ds["grid_cost"].attrs["currency"]
    policy = ds["it_available_power"].attrs["battery_policy"]
    mostly = summary.index[summary.renewable_fraction > MOSTLY_RENEWABLE]
    best = summary.it_available_mean_w.sort_values(ascending=False)
    meaning = (f"what this means: {_names(ds, mostly)} {_verb(mostly, 'run')} mostly on "
               "renewables "
               f"(> {MOSTLY_RENEWABLE:.0%} of the facility's energy); renewables carry the most "
               f"IT on average at {_names(ds, best.index[:3])}")
    table = _table("Power balance over the year (RE: renewable energy) and the IT power "
                   f"renewables can carry (battery policy: {policy})",
                   {"site": "l", "renewable [%]": "r", "fully RE [h]": "r",
                    "grid [MWh]": "r", "CO2 [t]": "r", f"cost [{currency}]": "r",
                    "curtailed [MWh]": "r", "unserved [MWh]": "r",
                    "battery cycles": "r", "IT mean [MW]": "r",
                    "IT P10 [MW]": "r"}, caption=meaning)
    for _, r in summary.iterrows():
        table.add_row(Text(r["name"]), fmt(100 * r.renewable_fraction, ".1f"),
                      f"{r.hours_fully_renewable:,}", f"{to_mw(r.grid_energy_wh):,.0f}",
                      f"{r.emissions_t:,.0f}", f"{r.cost:,.0f}",
                      f"{to_mw(r.curtailed_energy_wh):,.0f}", f"{to_mw(r.unserved_energy_wh):,.1f}",
                      f"{r.battery_cycles:,.0f}", f"{to_mw(r.it_available_mean_w):,.2f}",
                      f"{to_mw(r.it_available_p10_w):,.2f}")
    return [table]


def weather_qc_summary(ds: xr.Dataset) -> dict:
    """What QC did to a weather file: values missing in it (filled, or left NaN) and repairs."""
    report = weather.qc_report(ds.attrs)
    missing = report[report.check.isin(["hour missing from the time axis", "missing value (NaN)"])]
    absent = report[report.check == "hour missing from the time axis"]
    return {"source": ds.attrs.get("source_file") or ds.attrs.get("source", ""),
            "missing_values": int(missing["count"].sum()),
            "missing_hours": int(absent["count"].sum()),
            "missing_action": str(missing["action"].iloc[0]) if len(missing) else "",
            "qc_repaired_values": int(ds.attrs.get("qc_repaired_values", 0))}


def weather_qc_line(q: dict) -> str:
    if not q["missing_values"]:
        return f"{q['source']}: no missing values; {q['qc_repaired_values']:,} QC repair(s)"
    done = ("left NaN (--allow-missing)" if q["missing_action"].startswith("left")
            else "filled (TMY3 method; --allow-missing leaves them NaN)")
    return (f"{q['source']}: {q['missing_values']:,} missing value(s) ({q['missing_hours']:,} "
            f"absent hour(s)) {done}; {q['qc_repaired_values']:,} QC repair(s) in all")


def weather_tables(ds: xr.Dataset, name: str) -> list[Table]:
    """One site's weather: a summary, and QC's repairs when there are any."""
    hours = ds.sizes["time"]
    table = Table(title=f"{name}: {ds.attrs.get('source_file') or ds.attrs['source']}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for k, v in {
        "GHI kWh/m2/yr": f"{float(ds.ghi.sum()) / 1000 * 8760 / hours:,.0f}",
        "T mean °C": f"{float(ds.temp_air.mean()):.1f}",
        "T p1 °C": f"{float(np.nanpercentile(ds.temp_air, 1)):.1f}",
        "T p99 °C": f"{float(np.nanpercentile(ds.temp_air, 99)):.1f}",
        "RH %": f"{float(ds.relative_humidity.mean()):.0f}",
        "wind m/s": f"{float(ds.wind_speed.mean()):.1f}",
        "QC repairs": f"{int(ds.attrs.get('qc_repaired_values', 0)):,}",
    }.items():
        table.add_row(k, v)
    out = [table]
    report = weather.qc_report(ds.attrs)
    if len(report):
        qc = Table(title="quality control: repairs")
        for column in ("variable", "check", "count", "action", "first_row", "first_time"):
            qc.add_column(column)
        for row in report.itertuples(index=False):
            qc.add_row(*(str(v) for v in row))
        out.append(qc)
    return out


def study_table(table, title: str) -> Table:
    from twin.report import SUMMARY_COLUMNS, summary_cell
    from twin.study import QUANTILES

    shown = ("renewable_fraction", "annual_pue", "wue", "hours_over_allowable",
             "curtailed_energy", "emissions")

    out = Table(title=title)
    for col in ("site", "scenario"):
        out.add_column(col)
    out.add_column("variant", overflow="fold")  # the whole name, folded, never cut
    for k in shown:
        header, unit, _, _ = SUMMARY_COLUMNS[k]
        # Text: "[h]" and "[t]" are units, not Rich markup
        out.add_column(Text(header if unit == "1" else f"{header} [{unit}]"), justify="right")
    for (s, scen, var), row in table.iterrows():
        out.add_row(s, scen, var, *(" / ".join(summary_cell(row, k, round(100 * q))
                                              for q in QUANTILES) for k in shown))
    return out


def study_sizing_table(plants, title: str) -> Table:
    """A study's sized plants (:func:`twin.study.size_plants`), one row per site and scenario,
    in the report's units (:data:`twin.report.SIZING_COLUMNS`)."""

    from twin.report import sizing_cells, sizing_headers

    out = Table(title=title)
    out.add_column("site")
    out.add_column("scenario")
    for header in sizing_headers(plants):
        out.add_column(Text(header), justify="right")  # "[MWh]" is a unit, not markup
    for (site, scenario), row in plants.iterrows():
        out.add_row(site, scenario, *sizing_cells(row))
    return out


def sizing_table(s, title: str) -> Table:
    """A sized plant (:class:`twin.sizing.Sizing`): capacities, energies, cost, land and water,
    units in brackets (shown as text, not read as Rich markup)."""

    cur = s.currency
    rows = [("PV", f"{to_mw(s.pv_wp):,.2f}", "MWp"),
            ("wind", f"{to_mw(s.wind_w):,.2f} ({s.turbines} turbines)", "MW"),
            ("battery energy", f"{to_mw(s.battery_wh):,.2f}", "MWh"),
            ("battery power", f"{to_mw(s.battery_w):,.2f}", "MW"),
            ("grid connection", f"{to_mw(s.grid_w):,.2f}", "MW"),
            ("renewable fraction", f"{100 * s.renewable_fraction:.1f}", "%"),
            ("facility energy", f"{to_mw(s.facility_energy_wh):,.0f}", "MWh/yr"),
            ("grid energy", f"{to_mw(s.grid_energy_wh):,.0f}", "MWh/yr"),
            ("curtailed + battery losses", f"{to_mw(s.unused_energy_wh):,.0f}", "MWh/yr"),
            ("annual cost", f"{s.annual_cost / 1e6:,.2f}", f"M{cur}/yr"),
            ("cost of IT energy", f"{s.cost_per_mwh_it:,.0f}", f"{cur}/MWh IT"),
            ("emissions", f"{s.emissions_t:,.0f}", "t CO2eq/yr"),
            ("land", f"{s.land_ha:,.1f} ({s.wind_direct_ha:,.1f} disturbed by wind)", "ha"),
            ("water", f"{s.water_l / 1000:,.0f}", "m3/yr")]
    out = Table(title=title)
    for column, justify in (("", "left"), ("value", "right"), ("unit", "left")):
        out.add_column(column, justify=justify)
    for name, value, unit in rows:
        out.add_row(name, value, Text(unit))
    return out


def cost_curve_table(curve, title: str) -> Table:
    """The cost curve (:func:`twin.sizing.cost_curve`): one row per renewable target."""

    cur = curve["currency"].iloc[0]
    columns = (("target [%]", lambda t, r: f"{100 * t:.0f}"),
               ("PV [MWp]", lambda t, r: f"{to_mw(r.pv_wp):,.1f}"),
               ("wind [MW]", lambda t, r: f"{to_mw(r.wind_w):,.1f}"),
               ("battery [MWh]", lambda t, r: f"{to_mw(r.battery_wh):,.1f}"),
               ("battery [MW]", lambda t, r: f"{to_mw(r.battery_w):,.1f}"),
               ("grid [MW]", lambda t, r: f"{to_mw(r.grid_w):,.1f}"),
               ("renewable [%]", lambda t, r: f"{100 * r.renewable_fraction:.1f}"),
               ("unused [%]", lambda t, r: f"{100 * r.unused_energy_wh / r.generation_wh:.1f}"
                if r.generation_wh > 0 else "–"),
               (f"cost [M{cur}/yr]", lambda t, r: f"{r.annual_cost / 1e6:,.2f}"),
               (f"IT energy [{cur}/MWh]", lambda t, r: f"{r.cost_per_mwh_it:,.0f}"),
               ("CO2 [t/yr]", lambda t, r: f"{r.emissions_t:,.0f}"))
    out = Table(title=title)
    for header, _ in columns:
        out.add_column(Text(header), justify="right")
    for target, row in curve.iterrows():
        out.add_row(*(show(target, row) for _, show in columns))
    return out
