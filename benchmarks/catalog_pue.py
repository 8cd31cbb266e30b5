"""Annual PUE and WUE of every catalog site on its weather station's typical year, baseline and
optimised control side by side.

    python benchmarks/catalog_pue.py [--weather-dir ../shared/weather]

Each site as its TOML file configures it (cooling topology, IT, setpoints), simulated once with
``control = "baseline"`` and once with ``control = "optimised"``. PUE and WUE are energy weighted;
the saving is the optimised control's cut in annual cooling electricity against the baseline.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import weather  # noqa: E402
from benchmarks import parser_with_weather_dir  # noqa: E402
from sites import load_catalog  # noqa: E402
from twin.facility import facility_summary  # noqa: E402
from twin.simulate import simulate  # noqa: E402


def main(argv=None) -> int:
    args = parser_with_weather_dir(__doc__).parse_args(argv)
    sites = list(load_catalog().values())
    missing = [s.weather_station for s in sites
               if not (args.weather_dir / s.weather_station).is_file()]
    if missing:
        print(f"station files not found in {args.weather_dir}: {', '.join(missing)}",
              file=sys.stderr)
        return 1
    wx = {s.id: weather.read_epw(args.weather_dir / s.weather_station, year=2019) for s in sites}
    runs = {control: facility_summary(simulate(wx, [s.model_copy(update={
        "cooling": s.cooling.model_copy(update={"control": control})}) for s in sites]))
        for control in ("baseline", "optimised")}
    base, opt = runs["baseline"], runs["optimised"]
    table = pd.DataFrame({
        "topology": base.topology, "PUE baseline": base.pue, "PUE optimised": opt.pue,
        "WUE baseline L/kWh": base.wue_l_per_kwh, "WUE optimised L/kWh": opt.wue_l_per_kwh,
        "cooling saving %": opt.cooling_saving_pct,
        "h > allowable": opt.hours_outside_allowable})
    with pd.option_context("display.width", 200):
        print("Annual PUE and WUE of the catalog sites on their stations' typical years (EPW)")
        print(table.round(3).to_string())
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
