"""Cooling designs on every EPW: annual PUE, WUE and ASHRAE envelope hours, with invariant checks.

    python benchmarks/validate_cooling.py [--weather-dir ../shared/weather]

For every EPW file in the directory and each reference design (reference/cooling.md section 12
defaults; a 2.56 MW H100 hall at the station), one baseline year: annual PUE (energy weighted),
WUE [L per kWh of IT], hours in each cooling mode and outside the recommended and allowable
envelopes. Invariants checked on every hour: PUE >= 1, facility = IT + losses + cooling, cooling =
fans + pumps + mechanical, zero water for the dry design. Exits non-zero when an invariant fails.
These are the twin's own designs and defaults; the like-for-like comparison with Lei and Masanet's
hourly model is ``benchmarks/validate_cooling_lei.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import weather  # noqa: E402
from benchmarks import epw_files, parser_with_weather_dir  # noqa: E402
from benchmarks.sam import epw_site  # noqa: E402
from twin.facility import facility_summary  # noqa: E402
from twin.simulate import simulate  # noqa: E402

DESIGNS = {  # name: cooling settings (the rest: CoolingConfig defaults)
    "direct air + evaporative": {"topology": "airside_economizer", "air_path": "direct"},
    "indirect evaporative (IEC)": {"topology": "airside_economizer", "air_path": "indirect"},
    "chilled water + towers": {"topology": "chilled_water"},
    "liquid + dry coolers (dry)": {"topology": "liquid_dry_cooler", "evaporative_assist": False},
    "liquid + adiabatic dry coolers": {"topology": "liquid_dry_cooler"},
}
def sites_for(ds, station: str):
    base = epw_site(ds, base="hami")
    return [base.model_copy(update={
        "id": f"d{i}", "name": f"{station}: {name}",
        "cooling": base.cooling.model_copy(update={"control": "baseline", **settings})})
        for i, (name, settings) in enumerate(DESIGNS.items())]


def invariants(ds) -> list[str]:
    problems = []
    with np.errstate(invalid="ignore"):
        if (ds["pue"] < 1).any():
            problems.append("PUE < 1")
        closure = ds["it_power"] + ds["electrical_losses"] + ds["cooling_power"]
        if not np.allclose(closure, ds["facility_power"], rtol=1e-9):
            problems.append("facility != IT + losses + cooling")
        parts = ds["cooling_fan_power"] + ds["cooling_pump_power"] + \
            ds["mechanical_cooling_power"]
        if not np.allclose(parts, ds["cooling_power"], rtol=1e-9):
            problems.append("cooling != fans + pumps + mechanical")
    dry = [i for i, s in enumerate(ds["name"].values) if s.endswith("(dry)")]
    if dry and float(ds["water_use"].isel(site=dry).sum()) != 0:
        problems.append("water used by the dry design")
    return problems


def main(argv=None) -> int:
    args = parser_with_weather_dir(__doc__).parse_args(argv)
    files = epw_files(args.weather_dir)
    if not files:
        return 1
    rows, failures = [], []
    for path in files:
        station = path.stem.split(".")[-2] if path.stem.count(".") >= 2 else path.stem
        ds_w = weather.read_epw(path, year=2019)
        sites = sites_for(ds_w, station)
        ds = simulate({s.id: ds_w for s in sites}, sites)
        failures += [f"{path.name}: {p}" for p in invariants(ds)]
        summary = facility_summary(ds)
        for s, (_, r) in zip(DESIGNS, summary.iterrows()):
            rows.append({"station": station, "design": s, "pue": r.pue,
                         "wue_l_per_kwh": r.wue_l_per_kwh, "peak_pue": r.peak_pue,
                         "h_econ": r.hours_economizer, "h_evap": r.hours_evaporative,
                         "h_partial": r.hours_partial, "h_mech": r.hours_mechanical,
                         "h_out_recommended": r.hours_outside_recommended,
                         "h_out_allowable": r.hours_outside_allowable})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print("Annual PUE and WUE by design (baseline control, 2.56 MW H100 hall, defaults of "
              "reference/cooling.md 12)")
        print(table.round(3).to_string(index=False))
    for f in failures:
        print(f"INVARIANT FAILED: {f}", file=sys.stderr)
    print(f"invariants: {'all hold' if not failures else f'{len(failures)} failed'} "
          f"({len(files)} weather files x {len(DESIGNS)} designs)")
    return 1 if failures else 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
