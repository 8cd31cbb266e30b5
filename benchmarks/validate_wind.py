"""The wind model against numbers it was not built from: published provincial wind-fleet hours
and a measured two-height wind record. Prints two tables and ``target ...: met|missed`` lines;
exits 1 when a target is missed.

    python benchmarks/validate_wind.py [--weather-dir ../shared/weather]

1. Full-load hours of every catalog wind plant (``turbine_count > 0``) from January to September,
   the twin run on the site's station EPW (or, where the file is absent, on the synthetic year of
   its embedded normals; the ``weather`` column says which), against the provincial fleet's hours
   of January-September 2017 published by the National Energy Administration.
2. The twin's vertical profile (``twin.wind.hub_wind_speed``, log law, the catalog's roughness
   length) carrying a cup-anemometer record measured at 40 m up to 80 m, against the 80 m record
   of the same mast (brightwind's demo met-mast data; needs ``brightwind`` installed, read as a
   file without importing the package).

Unlike the NREL SAM comparison (``benchmarks/sam.py``), which gives SAM the twin's own hub-height
wind and so checks only the power-curve step, both checks here can fail on the inputs: the first
on the catalog's assumed wind-farm means and the whole chain from station wind to power, the
second on the shear law.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import weather  # noqa: E402
from benchmarks import parser_with_weather_dir  # noqa: E402
from sites import load_catalog  # noqa: E402
from sites.catalog import WindConfig  # noqa: E402
from twin.simulate import simulate  # noqa: E402
from twin.timebase import CST_OFFSET  # noqa: E402
from twin.wind import WindArrays, hub_wind_speed  # noqa: E402

# --- 1. provincial wind-fleet hours -------------------------------------------------------------
# National Energy Administration, "2017年前三季度风电并网运行情况" (wind power grid operation,
# January-September 2017), data of the China Electricity Council and the grid companies, table
# "前三季度风电利用及弃风率统计表" as reprinted by China Power News (chinapower.com.cn, 2017-11-15):
# province -> (utilisation hours January-September 2017 [h], curtailment rate [%]; 0 where the
# table gives none). Utilisation hours are energy fed to the grid over grid-connected capacity,
# i.e. AFTER curtailment. No full-year provincial table could be found to cite; the nine months
# are compared with the same nine months of the twin's typical year.
NEA_2017_JAN_SEP = {
    "Inner Mongolia": (1432, 14), "Gansu": (1068, 33), "Qinghai": (1453, 0),
    "Ningxia": (1210, 3), "Xinjiang": (1377, 29), "Chongqing": (1755, 0),
    "Guizhou": (1385, 0), "Anhui": (1484, 0),
}
NEA_SOURCE = ("NEA, wind grid operation Jan-Sep 2017 (CEC data), via chinapower.com.cn "
              "2017-11-15")
MONTHS = range(1, 10)  # January to September, China Standard Time
# The accepted band of the twin's hours over the fleet's curtailment-free hours (published hours
# / (1 - curtailment)), set before running the comparison:
# - below 0.9: the twin's plant (no curtailment; wakes and 97 % availability counted) would yield
#   less than the province's 2017 fleet would have without curtailment, beyond the +-10 % a
#   single year's wind energy departs from the long-term mean (ASSUMPTION: a common rule of
#   thumb for the interannual variability of annual wind energy);
# - above 1.5: more than newer, larger-rotor turbines on taller towers at a wind-base site can
#   explain (ASSUMPTION: the 2017 fleets were mostly 1.5-2 MW turbines on 65-80 m towers; the
#   catalog uses 2-4.2 MW turbines on 80-140 m towers, worth some tens of percent, not 1.5x).
HOURS_BAND = (0.9, 1.5)


def plant_hours(weather_dir: Path | None) -> pd.DataFrame:
    """Per catalog wind plant: weather used, annual capacity factor and full-load hours, and the
    January-September hours against the province's published hours (see NEA_2017_JAN_SEP)."""
    sites = [s for s in load_catalog().values() if s.wind.turbine_count > 0]
    rows = []
    for site in sites:
        path = None if weather_dir is None else Path(weather_dir) / site.weather_station
        if path is not None and path.is_file():
            wx, source = weather.read_epw(path, year=2019), "EPW"
        else:
            wx, source = None, "normals (synthetic year, seed 0)"
        out = simulate(wx, site, year=2019, until="generation").isel(site=0)
        power, capacity = out.wind_power.values, float(out.wind_capacity)
        local = pd.DatetimeIndex(out.time.values) + CST_OFFSET
        hours = float(power[local.month.isin(list(MONTHS))].sum() / capacity)
        # a province without a cited figure gets none (NaN, verdict "no figure"), not a guess
        published, curtailment = NEA_2017_JAN_SEP.get(site.province, (np.nan, np.nan))
        potential = published / (1 - curtailment / 100)
        rows.append({"site": site.id, "province": site.province, "weather": source,
                     "hub_mean_m_s": site.wind.hub_mean_wind_speed_m_s,
                     "cf_annual": float(power.mean() / capacity),
                     "flh_annual_h": float(power.sum() / capacity),
                     "twin_jan_sep_h": hours, "nea_jan_sep_h": published,
                     "curtailment_pct": curtailment, "nea_uncurtailed_h": potential,
                     "ratio": hours / potential})
    table = pd.DataFrame(rows)
    low, high = HOURS_BAND
    table["verdict"] = np.select([table.ratio.isna(), table.ratio < low, table.ratio > high],
                                 ["no figure", "low", "high"], "ok")
    return table


# --- 2. shear on a measured two-height record ---------------------------------------------------
MAST_COLUMNS = {40: ("Spd40mN", "Spd40mS"), 80: ("Spd80mN", "Spd80mS")}
DIRECTION = "Dir38mS"  # the vane valid over the whole record (the cleaning file voids the others)
# one Davenport-Wieringa roughness class either side of the catalog's 0.03 m ("open"): 0.005 m
# ("smooth") and 0.10 m ("roughly open") (Wieringa 1992; the table in WMO-No. 8, part I, chapter 5,
# "Measurement of surface wind").
# The measured 80 m mean must lie between the log-law predictions with those two lengths: a
# roughness error of less than one terrain class.
ROUGHNESS_BOUNDS_M = (0.005, 0.10)


def brightwind_demo_dir() -> Path | None:
    """The ``demo_datasets`` folder of an installed ``brightwind`` (found without importing it:
    the package pins pandas < 3 and is installed without its dependencies, as a data package)."""
    spec = find_spec("brightwind")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "demo_datasets"
    return folder if (folder / "demo_data.csv").is_file() else None


def mast_record(folder: Path) -> pd.DataFrame:
    """brightwind's demo mast (10-min means, 2016-01-09 to 2017-11-23; cup anemometers on north
    (360 deg) and south (180 deg) booms at 40, 60 and 80 m; a real mast's record that brightwind
    describes as "modified", at an undisclosed site): the periods in the package's own cleaning
    file removed (installation, icing, a failed 80 m south anemometer), and at each height the
    anemometer on the boom facing the wind (north boom for wind from 270-90 deg, south boom
    otherwise), so that neither height is read in the mast's wake. Columns 40 and 80 [m s-1]."""
    data = pd.read_csv(folder / "demo_data.csv", index_col=0, parse_dates=True,
                       encoding="utf-8-sig")
    cleaning = pd.read_csv(folder / "demo_cleaning_file.csv", parse_dates=["Start", "Stop"])
    for sensor, start, stop in cleaning[["Sensor", "Start", "Stop"]].itertuples(index=False):
        columns = [c for c in data.columns if sensor == "All" or c.startswith(sensor)]
        data.loc[(data.index >= start) & (data.index < stop), columns] = np.nan
    direction = data[DIRECTION]
    from_north = (direction >= 270) | (direction < 90)
    out = pd.DataFrame({height: data[north].where(from_north, data[south])
                        for height, (north, south) in MAST_COLUMNS.items()})
    return out[direction.notna()].dropna()


def predicted_upper(v_lower: np.ndarray, lower_m: float, upper_m: float,
                    roughness_m: float) -> np.ndarray:
    """The twin's profile step: wind at ``upper_m`` from wind at ``lower_m`` (log law)."""
    config = WindConfig(turbine_type="V90/2000", turbine_count=1, hub_height_m=upper_m,
                        hub_mean_wind_speed_m_s=7.0, roughness_length_m=roughness_m)
    return hub_wind_speed(WindArrays.from_configs([config]), v_lower[None, :], lower_m)[0]


def shear_check(record: pd.DataFrame) -> dict:
    """Measured 80 m mean against the twin's prediction from 40 m (catalog roughness length,
    0.03 m) and against the bounds of ROUGHNESS_BOUNDS_M; the shear exponents for reference."""
    v40, v80 = record[40].to_numpy(float), record[80].to_numpy(float)
    catalog_z0 = WindConfig.model_fields["roughness_length_m"].default
    predicted = predicted_upper(v40, 40.0, 80.0, catalog_z0)
    low, high = (float(predicted_upper(v40, 40.0, 80.0, z0).mean()) for z0 in ROUGHNESS_BOUNDS_M)
    measured = float(v80.mean())
    local_hour = record.index.hour  # the logger's clock; the site is undisclosed
    day = (local_hour >= 10) & (local_hour < 16)
    night = (local_hour >= 22) | (local_hour < 4)
    return {"records": len(record), "roughness_m": catalog_z0,
            "mean_40_m_s": float(v40.mean()), "mean_80_m_s": measured,
            "predicted_80_m_s": float(predicted.mean()),
            "bias_pct": 100 * (float(predicted.mean()) / measured - 1),
            "bound_low_m_s": low, "bound_high_m_s": high,
            "within": bool(low <= measured <= high),
            "alpha_measured": float(np.log(measured / v40.mean()) / np.log(2.0)),
            "alpha_twin": float(np.log(predicted.mean() / v40.mean()) / np.log(2.0)),
            "alpha_day": float(np.log(v80[day].mean() / v40[day].mean()) / np.log(2.0)),
            "alpha_night": float(np.log(v80[night].mean() / v40[night].mean()) / np.log(2.0)),
            "rmse_10min_m_s": float(np.sqrt(np.mean((predicted - v80) ** 2)))}


def main(argv=None) -> int:
    args = parser_with_weather_dir(__doc__).parse_args(argv)
    ok = True
    table = plant_hours(args.weather_dir)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(f"Catalog wind plants, January-September full-load hours vs {NEA_SOURCE}")
        print(table.round({"cf_annual": 3, "flh_annual_h": 0, "twin_jan_sep_h": 0,
                           "nea_uncurtailed_h": 0, "ratio": 2}).to_string(index=False))
    low, high = HOURS_BAND
    for row in table.itertuples():
        met = row.verdict == "ok"
        ok &= met
        print(f"target {row.site} hours / uncurtailed provincial hours in [{low}, {high}]: "
              f"{'met' if met else 'missed'} ({row.ratio:.2f})")
    folder = brightwind_demo_dir()
    if folder is None:
        print("shear check: brightwind's demo mast data not installed "
              "(pip install --no-deps brightwind); not run")
        return 0 if ok else 1
    shear = shear_check(mast_record(folder))
    print("\nShear: brightwind demo mast, 40 m -> 80 m, twin log law")
    for key, value in shear.items():
        print(f"  {key:18s} {value:.4f}" if isinstance(value, float) else
              f"  {key:18s} {value}")
    ok &= shear["within"]
    print(f"target measured 80 m mean within the log-law predictions for roughness "
          f"{ROUGHNESS_BOUNDS_M[0]}-{ROUGHNESS_BOUNDS_M[1]} m: "
          f"{'met' if shear['within'] else 'missed'} (bias of the twin's prediction "
          f"{shear['bias_pct']:+.2f} %)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
