"""Monthly climate normals of an hourly year: what the synthetic generator reproduces.

Days are local solar days (UTC + longitude/15 h), so a "daily range" is a range within one day's
sun, wherever the site is. The same statistics are computed on real and synthetic years when the
generator is validated (``benchmarks/validate_weather.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from twin.variables import NORMALS_ANNUAL, NORMALS_MONTHLY
from weather.errors import WeatherError
from weather.solar_geometry import sun_and_sky


def solar_time_h(time: pd.DatetimeIndex, longitude: float) -> np.ndarray:
    """Local mean solar time [h since the UTC epoch], for grouping hours into solar days."""
    hours = (time - pd.Timestamp("1970-01-01")) / pd.Timedelta(hours=1)
    return np.asarray(hours, dtype=float) + 0.5 + longitude / 15.0


def _lag1(x: np.ndarray) -> float:
    """Lag-1 autocorrelation of the finite values of ``x``; 0 for a series without variance (a
    year whose days are all alike has no anomaly whose persistence could be measured)."""
    x = x[np.isfinite(x)]
    if x.size < 3 or np.ptp(x[:-1]) == 0 or np.ptp(x[1:]) == 0:
        return 0.0
    return float(np.corrcoef(x[:-1], x[1:])[0, 1])


def normals(ds: xr.Dataset) -> xr.Dataset:
    """Monthly normals (dim ``month`` 1..12) and annual statistics of an hourly weather Dataset.

    The clearness index is the daily GHI sum over the daily extraterrestrial horizontal sum.
    The Weibull shape is Justus et al. (1978) k = (sigma/mean)^-1.086. The diurnal wind cycle is
    the first harmonic of the mean diurnal profile in local solar time.
    """
    if "time" not in ds.dims or ds.sizes["time"] < 24 * 28 * 12:
        raise WeatherError(ds.attrs.get("source", "dataset"), "normals need a whole hourly year")
    lat, lon, alt = (float(ds[c]) for c in ("latitude", "longitude", "altitude"))
    frame = ds[["ghi", "temp_air", "temp_dew", "relative_humidity", "wind_speed",
                "pressure"]].to_dataframe()[["ghi", "temp_air", "temp_dew", "relative_humidity",
                                             "wind_speed", "pressure"]]
    solar = solar_time_h(frame.index, lon)
    frame["day"] = np.floor(solar / 24).astype(int)
    frame["solar_hour"] = solar % 24
    frame["month"] = frame.index.month
    frame["ghi_extra"] = sun_and_sky(frame.index, lat, lon, alt)["ghi_extra"].to_numpy()
    daily = frame.groupby("day").agg(
        month=("month", lambda m: m.mode().iloc[0]), n=("ghi", "size"),
        temp_mean=("temp_air", "mean"), temp_max=("temp_air", "max"),
        temp_min=("temp_air", "min"), dew_mean=("temp_dew", "mean"),
        pressure_mean=("pressure", "mean"), ghi=("ghi", "sum"), ghi_extra=("ghi_extra", "sum"))
    daily = daily[daily["n"] == 24]  # partial days at the ends of the series
    daily["kt"] = daily["ghi"] / daily["ghi_extra"]
    daily["temp_anomaly"] = (daily["temp_mean"]
                             - daily.groupby("month")["temp_mean"].transform("mean"))
    by_month, by_day = frame.groupby("month"), daily.groupby("month")
    wind = by_month["wind_speed"]
    wind_k = (wind.std() / wind.mean()) ** -1.086
    phase = np.exp(2j * np.pi * frame["solar_hour"].to_numpy() / 24)
    first = 2 * (frame["wind_speed"] * phase).groupby(frame["month"]).mean().to_numpy()
    month_mean_wind = wind.mean().to_numpy()
    wind_anomaly = frame["wind_speed"] - wind.transform("mean")
    values = {
        "temp_air_mean": by_month["temp_air"].mean(),
        "temp_air_daily_range": by_day.apply(lambda d: (d.temp_max - d.temp_min).mean()),
        "temp_air_daily_std": by_day["temp_mean"].std(),
        "temp_dew_mean": by_month["temp_dew"].mean(),
        "temp_dew_daily_std": by_day["dew_mean"].std(),
        "relative_humidity_mean": by_month["relative_humidity"].mean(),
        "ghi_mean": by_month["ghi"].mean(),
        "clearness_index_mean": by_day["kt"].mean(),
        "clearness_index_std": by_day["kt"].std(),
        "wind_speed_mean": wind.mean(),
        "wind_speed_weibull_k": wind_k,
        "wind_speed_diurnal_amplitude": np.abs(first) / month_mean_wind,
        "wind_speed_peak_hour": (np.angle(first) * 12 / np.pi) % 24,
        "pressure_mean": by_month["pressure"].mean(),
        "pressure_daily_std": by_day["pressure_mean"].std(),
    }
    out = xr.Dataset(
        {k: ("month", np.asarray(v, dtype=float).round(4), {"units": NORMALS_MONTHLY[k][0],
                                                             "long_name": NORMALS_MONTHLY[k][1]})
         for k, v in values.items()},
        coords={"month": np.arange(1, 13), "latitude": lat, "longitude": lon, "altitude": alt})
    annual = {"temp_air_daily_autocorrelation": _lag1(daily["temp_anomaly"].to_numpy()),
              "wind_speed_hourly_autocorrelation": _lag1(wind_anomaly.to_numpy())}
    for k, v in annual.items():
        units, long_name = NORMALS_ANNUAL[k]
        out[k] = ((), round(v, 4), {"units": units, "long_name": long_name})
    out.attrs.update({"wind_height_m": float(ds["wind_speed"].attrs.get("height", 10.0)),
                      "source": ds.attrs.get("source_file", ds.attrs.get("source", ""))})
    return out


def normals_to_mapping(n: xr.Dataset) -> dict:
    """Plain numbers for a site TOML ``[normals]`` table (monthly lists, annual scalars)."""
    out = {k: [round(float(x), 4) for x in n[k].values] for k in NORMALS_MONTHLY}
    out.update({k: round(float(n[k]), 4) for k in NORMALS_ANNUAL})
    out["wind_height_m"] = float(n.attrs.get("wind_height_m", 10.0))
    out["station_altitude_m"] = float(n["altitude"])
    out["source"] = str(n.attrs.get("source", ""))
    return out


def normals_from_mapping(m: dict, latitude: float, longitude: float, altitude: float,
                         source: str = "") -> xr.Dataset:
    """The normals Dataset of a site TOML ``[normals]`` table; names what is missing or
    malformed."""
    missing = [k for k in list(NORMALS_MONTHLY) + list(NORMALS_ANNUAL) if k not in m]
    if missing:
        raise WeatherError(source or "normals", f"missing normals: {', '.join(missing)}")
    bad = [k for k in NORMALS_MONTHLY if len(m[k]) != 12 or not np.all(np.isfinite(m[k]))]
    if bad:
        raise WeatherError(source or "normals", "needs 12 finite monthly values", variable=bad[0])
    out = xr.Dataset({k: ("month", np.asarray(m[k], dtype=float), {"units": u, "long_name": ln})
                      for k, (u, ln) in NORMALS_MONTHLY.items()},
                     coords={"month": np.arange(1, 13), "latitude": float(latitude),
                             "longitude": float(longitude), "altitude": float(altitude)})
    for k, (u, ln) in NORMALS_ANNUAL.items():
        out[k] = ((), float(m[k]), {"units": u, "long_name": ln})
    out.attrs.update({"wind_height_m": float(m.get("wind_height_m", 10.0)),
                      "station_altitude_m": float(m.get("station_altitude_m", altitude)),
                      "source": m.get("source", source)})
    return out
