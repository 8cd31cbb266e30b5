"""The twin's PV and wind against NREL SAM (PySAM) for every EPW in a directory. Prints the table;
exits 1 when a tolerance is missed (see benchmarks/sam.py for the systems and the traps).

    python benchmarks/validate_generation.py [--weather-dir ../shared/weather]

Columns: SAM annual energy [MWh], twin minus SAM [%] and hourly correlation r for a 1 MWdc system
(DC/AC 1.2) fixed at 30 deg and on a single-axis backtracking tracker, configured like PVWatts v5
(v5_pct, v5_r), with the twin's own row-shading, diffuse-IAM and spectral steps against PVWatts v8
(v8_pct), and the v5 configuration against v8 (v5cfg_vs_v8_pct, no tolerance: it shows what v8
adds); one turbine of the catalog's Golmud type at hub height against SAM Windpower (wind_pct).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

if __package__ in (None, ""):  # run as a script from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import epw_files, parser_with_weather_dir  # noqa: E402
from benchmarks.sam import TOLERANCES, misses, validate_epw  # noqa: E402


def main(argv=None) -> int:
    parser = parser_with_weather_dir(__doc__)
    args = parser.parse_args(argv)
    files = epw_files(args.weather_dir)
    if not files:
        return 2
    rows = []
    for path in files:
        row = validate_epw(path)
        row["file"] = row["file"][:30]
        row["missed"] = ", ".join(misses(row)) or "ok"
        rows.append(row)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.round({c: 5 if c.endswith("_r") else 2 for c in table.columns
                           if c != "file"}).to_string(index=False))
    print("\ntolerance:", ", ".join(f"{k} {'>=' if k.endswith('_r') else '<='} {v}"
                                    for k, v in TOLERANCES.items()))
    worst = {c: table[c].abs().max() for c in table.columns if c.endswith("_pct")}
    print("worst |%|:", ", ".join(f"{k} {v:.2f}" for k, v in worst.items()))
    print("lowest r: ", ", ".join(f"{c} {table[c].min():.5f}" for c in table.columns
                                  if c.endswith("_r")))
    missed = int((table["missed"] != "ok").sum())
    print(f"{len(table) - missed} of {len(table)} weather files within every tolerance")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
