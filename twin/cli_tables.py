"""What the ``twin`` command shows: its tables, built from results (Rich renderables, printed by
:mod:`twin.cli`). Apart from the command so that ``twin --help`` and ``twin sites`` start without
importing the numerical stack (issue 22)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from rich.table import Table

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


def results(ds: xr.Dataset, title: str) -> list:
    """The tables of a run (generation; facility and balance when computed) and its notes;
    ValueError first when a figure is NaN where a number is due."""
    summary = generation_summary(ds)
    summary["wind_speed_scale"] = ds["wind_speed_scale"].sel(site=summary.index).values
    frames = [summary]
    if "facility_power" in ds:
        frames.append(facility_summary(ds))
    if "grid_import" in ds:
        frames.append(balance_summary(ds))
    refuse_nan(ds, *frames)  # before any table: a refusal is the only output
    table = Table(title=title)
    for column in ("site", "PV MWh/yr", "wind MWh/yr", "total MWh/yr", "PV CF", "wind CF",
                   "total CF", "peak MW", "zero-output h", "wind scale"):
        table.add_column(column, justify="left" if column == "site" else "right", no_wrap=True)
    for site_id, row in summary.iterrows():
        table.add_row(
            row["name"], f"{to_mw(row.pv_energy_wh):,.0f}", f"{to_mw(row.wind_energy_wh):,.0f}",
            f"{to_mw(row.renewable_energy_wh):,.0f}", fmt(row.pv_capacity_factor, ".1%"),
            fmt(row.wind_capacity_factor, ".1%"), fmt(row.renewable_capacity_factor, ".1%"),
            f"{to_mw(row.peak_renewable_w):,.1f}", f"{row.zero_renewable_hours:,}"
            + (f" (+{row.missing_hours} NaN)" if row.missing_hours else ""),
            f"{float(ds.wind_speed_scale.sel(site=site_id)):.2f}")
    out = [table]
    if "wind_warning" in ds.attrs:
        out.append(f"[yellow]note:[/] {ds.attrs['wind_warning']}")
    if "facility_power" in ds:
        out.append(_facility(frames[1]))
    if "grid_import" in ds:
        out.append(_balance(ds, frames[-1]))
    return out


def _facility(summary) -> Table:
    table = Table(title="Facility: annual PUE and WUE (energy weighted)")
    for col in ("site", "cooling", "control", "IT MWh", "PUE", "PUE baseline", "cooling saving",
                "WUE L/kWh", "peak PUE", "h free", "h mechanical", "h > allowable"):
        table.add_column(col, justify="left" if col in ("site", "cooling", "control") else "right")
    for site_id, r in summary.iterrows():
        table.add_row(site_id, r.topology, r.control, f"{to_mw(r.it_energy_wh):,.0f}",
                      fmt(r.pue, ".3f"), fmt(r.pue_baseline, ".3f"),
                      fmt(r.cooling_saving_pct / 100, ".1%"), fmt(r.wue_l_per_kwh, ".2f"),
                      fmt(r.peak_pue, ".2f"), f"{r.hours_economizer + r.hours_evaporative:,}",
                      f"{r.hours_mechanical:,}", f"{r.hours_outside_allowable:,}")
    return table


def _balance(ds: xr.Dataset, summary) -> Table:
    currency = ds["grid_cost"].attrs["currency"]
    policy = ds["it_available_power"].attrs["battery_policy"]
    table = Table(title="Power balance and IT power renewables can carry "
                        f"(battery policy: {policy})")
    for col in ("site", "renewable", "h fully renewable", "grid MWh", "tCO2", f"cost {currency}",
                "curtailed MWh", "unserved MWh", "battery cycles", "IT avail. mean MW",
                "IT avail. P10 MW"):
        table.add_column(col, justify="left" if col == "site" else "right")
    for site_id, r in summary.iterrows():
        table.add_row(site_id, fmt(r.renewable_fraction, ".1%"), f"{r.hours_fully_renewable:,}",
                      f"{to_mw(r.grid_energy_wh):,.0f}", f"{r.emissions_t:,.0f}", f"{r.cost:,.0f}",
                      f"{to_mw(r.curtailed_energy_wh):,.0f}", f"{to_mw(r.unserved_energy_wh):,.1f}",
                      f"{r.battery_cycles:,.0f}", f"{to_mw(r.it_available_mean_w):,.2f}",
                      f"{to_mw(r.it_available_p10_w):,.2f}")
    return table


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
    from rich.text import Text

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


def sizing_table(s, title: str) -> Table:
    """A sized plant (:class:`twin.sizing.Sizing`): capacities, energies, cost, land and water,
    units in brackets (shown as text, not read as Rich markup)."""
    from rich.text import Text

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
    from rich.text import Text

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
