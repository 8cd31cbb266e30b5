"""Fidelity of synthetic climate years: normals from each real EPW year, a synthetic year from
those normals, compared back with the real year. Prints a table; exits 1 when a tolerance is missed.

    python benchmarks/validate_weather.py [--weather-dir ../shared/weather] [--seeds 0 1 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import weather  # noqa: E402
from benchmarks import epw_files, parser_with_weather_dir  # noqa: E402
from weather.synthetic import synthetic_year  # noqa: E402

TOLERANCES = {  # issue 2: monthly T 0.7 K, monthly GHI 7 %, annual GHI 3 %, P1/P99 T 2 K, wind 5 %
    "monthly_temp_K": 0.7, "monthly_ghi_pct": 7.0, "annual_ghi_pct": 3.0,
    "temp_p01_K": 2.0, "temp_p99_K": 2.0, "wind_mean_pct": 5.0,
}


def fidelity(real, synthetic) -> dict[str, float]:
    """Largest departures of a synthetic year from the real one, in the tolerances' terms."""
    month_r, month_s = real.time.dt.month, synthetic.time.dt.month
    t_r, t_s = real.temp_air.groupby(month_r).mean(), synthetic.temp_air.groupby(month_s).mean()
    g_r, g_s = real.ghi.groupby(month_r).mean(), synthetic.ghi.groupby(month_s).mean()
    pct = lambda a, b: 100 * abs(float(b) / float(a) - 1)  # noqa: E731
    return {
        "monthly_temp_K": float(abs(t_s - t_r).max()),
        "monthly_ghi_pct": float((100 * abs(g_s / g_r - 1)).max()),
        "annual_ghi_pct": pct(real.ghi.mean(), synthetic.ghi.mean()),
        "temp_p01_K": abs(float(np.percentile(synthetic.temp_air, 1)
                                - np.percentile(real.temp_air, 1))),
        "temp_p99_K": abs(float(np.percentile(synthetic.temp_air, 99)
                                - np.percentile(real.temp_air, 99))),
        "wind_mean_pct": pct(real.wind_speed.mean(), synthetic.wind_speed.mean()),
    }


def validate_file(path: Path, seed: int) -> dict[str, float]:
    real = weather.read_epw(path)
    n = weather.normals(real)
    year = int(real.time.dt.year[0])
    synthetic = synthetic_year(n, float(real.latitude), float(real.longitude),
                               float(real.altitude), year=year, seed=seed)
    return fidelity(real, synthetic)


def main(argv=None) -> int:
    parser = parser_with_weather_dir(__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args(argv)
    files = epw_files(args.weather_dir)
    if not files:
        return 2
    rows = []
    for path in files:
        for seed in args.seeds:
            rows.append({"file": path.stem[:34], "seed": seed, **validate_file(path, seed)})
    table = pd.DataFrame(rows)
    misses = pd.DataFrame({k: table[k] > tol for k, tol in TOLERANCES.items()})
    table["ok"] = np.where(misses.any(axis=1), "MISS", "ok")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(2).to_string(index=False))
        print("\ntolerance:", ", ".join(f"{k} <= {v}" for k, v in TOLERANCES.items()))
        print("median:   ", ", ".join(f"{k} {table[k].median():.2f}" for k in TOLERANCES))
    missed = int(misses.any(axis=1).sum())
    print(f"{len(table) - missed} of {len(table)} synthetic years within every tolerance")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
