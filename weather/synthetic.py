"""Synthetic hourly climate years from monthly normals: the catalog's default weather, offline.

Methods (each a published model; constants in :mod:`weather.aguiar` and below):

* clear-sky and extraterrestrial irradiance: pvlib, Ineichen-Perez with pvlib's bundled Linke
  turbidity climatology (Remund et al. 2003), at the hour's midpoint;
* daily clearness index Kt: Markov transition matrices of Aguiar, Collares-Pereira and Conde
  (1988), the matrix chosen by the month's mean Kt; each month's sequence is constrained to the
  normal's mean (best of ``MTM_TRIES`` draws, then the residual is spread over the days), as
  Meteonorm's generator does (Remund et al., Meteonorm Theory handbook);
* hourly clearness kt: the TAG model (Aguiar and Collares-Pereira 1992): the mean profile
  kt_m(Kt, sun elevation) plus a first-order autoregressive Gaussian departure, capped at the
  clear-sky index and rescaled so each day's sum equals its Kt; DNI and DHI by the Erbs-Driesse
  decomposition (Driesse et al. 2024, pvlib);
* temperature: daily mean = the monthly normal interpolated between mid-months plus an AR(1)
  anomaly (the normals' lag-1 autocorrelation) rescaled to the month's daily standard deviation;
  the daily range is the monthly range scaled by Kt/Kt_m, the linearised form of Bristow and
  Campbell (1984): clear days have wide ranges, overcast days narrow ones; the hourly shape is
  Erbs, Klein and Beckman (1984) in local solar time; monthly means constrained to the normals;
* dew point: the same AR(1) daily process, capped at the air temperature; relative humidity from
  both (Magnus, pvlib);
* wind: a Gaussian AR(1) hourly process with the normals' lag-1 autocorrelation, mapped to the
  month's Weibull distribution, times a first-harmonic diurnal cycle, monthly mean constrained;
* pressure: monthly mean plus an AR(1) daily anomaly, scaled by the standard-atmosphere ratio
  (pvlib ``alt2pres``) when the normals come from a station at another altitude than the site
  (temperature is not lapse-rate corrected: the station is the best estimate of the site's climate).

Same (seed, year): the same year; a different seed: a different, equally plausible year.
"""

from __future__ import annotations

import bisect
import functools

import numpy as np
import pandas as pd
import pvlib
import xarray as xr
from scipy import signal, special, stats

from weather import aguiar
from weather.dataset import build_dataset, check_site
from weather.normals import solar_time_h
from weather.solar_geometry import split_ghi, sun_and_sky

MTM_TRIES = 50
KT_TOLERANCE = 0.01
RANGE_SCALE_LIMITS = (0.3, 1.8)
MAX_WIND_DIURNAL_AMPLITUDE = 0.9


def _erbs_shape(solar_hour: np.ndarray) -> np.ndarray:
    """Erbs, Klein and Beckman (1984) diurnal temperature profile, rescaled to zero mean and unit
    range; ``solar_hour`` is the local solar time of the hour's midpoint [h]."""
    def raw(t):
        ts = 2 * np.pi * (t - 1) / 24
        return (0.4632 * np.cos(ts - 3.805) + 0.0984 * np.cos(2 * ts - 0.360)
                + 0.0168 * np.cos(3 * ts - 0.822) + 0.0138 * np.cos(4 * ts - 3.513))
    fine = raw(np.linspace(0, 24, 2401))
    return (raw(solar_hour + 0.5) - fine.mean()) / (fine.max() - fine.min())


def _ar1(rng, n: int, phi: float) -> np.ndarray:
    """Stationary AR(1) series with unit variance."""
    e = rng.standard_normal(n) * np.sqrt(1 - phi ** 2)
    y, _ = signal.lfilter([1.0], [1.0, -phi], e, zi=[rng.standard_normal() * phi])
    return y


def _anomaly(rng, phi: float, std_by_month, day_month: np.ndarray) -> np.ndarray:
    """Daily AR(1) anomaly whose mean is 0 and standard deviation the normal in every month."""
    a = _ar1(rng, day_month.size, phi)
    for m in np.unique(day_month):
        sel = day_month == m
        spread = a[sel].std()
        a[sel] = (a[sel] - a[sel].mean()) * (std_by_month[m - 1] / spread if spread > 0 else 0.0)
    return a


def _monthly_to_daily(values, day_month_pos: np.ndarray) -> np.ndarray:
    """Monthly values interpolated linearly between mid-months (cyclic) at fractional month
    positions (1.5 = mid-January)."""
    v = np.asarray(values, dtype=float)
    xp = np.arange(0.5, 14.5)  # Dec(prev) .. Jan(next) at their mid-points
    return np.interp(day_month_pos, xp, np.r_[v[-1], v, v[0]])


def _daily_kt(rng, ktm_by_month, day_month: np.ndarray) -> np.ndarray:
    """Daily clearness by the Aguiar et al. (1988) MTM library, each month constrained to Kt_m."""
    matrices = aguiar.MTM / aguiar.MTM.sum(axis=-1, keepdims=True)
    kt = np.empty(day_month.size)
    state = 5
    run_starts = np.flatnonzero(np.diff(np.r_[0, day_month]))
    for start, end in zip(run_starts, np.r_[run_starts[1:], day_month.size]):  # months, in order
        days = np.arange(start, end)
        target = ktm_by_month[day_month[start] - 1]
        cls = int(np.searchsorted(aguiar.MTM_KTM_CLASS_LIMITS, target))
        edges = aguiar.MTM_KT_BIN_EDGES[cls]
        # the chain steps day by day: on Python floats (bisect is np.searchsorted's "left")
        cumulative = np.cumsum(matrices[cls], axis=1).tolist()
        bins = np.asarray(edges, dtype=float).tolist()
        best, best_err, best_state = None, np.inf, state
        for _ in range(MTM_TRIES):
            s, values = state, np.empty(days.size)
            u = rng.random((days.size, 2))
            for i, (u_state, u_value) in enumerate(u.tolist()):
                s = min(bisect.bisect_left(cumulative[s], u_state), 9)
                values[i] = bins[s] + u_value * (bins[s + 1] - bins[s])
            err = abs(values.mean() - target)
            if err < best_err:
                best, best_err, best_state = values, err, s
            if err <= KT_TOLERANCE:
                break
        best = np.clip(best + (target - best.mean()), aguiar.MTM_KT_MIN[cls],
                       aguiar.MTM_KT_MAX[cls])
        kt[days], state = best, best_state
    return kt


def _hourly_kt(rng, kt_day, sin_elevation, kt_clear, extra):
    """TAG hourly clearness on a (days, 24) grid, rescaled to each day's Kt."""
    up = sin_elevation > 0
    kt_d = np.broadcast_to(kt_day[:, None], sin_elevation.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(up, aguiar.tag_mean_kt(kt_d, np.where(up, sin_elevation, 1.0)), 0.0)
        sigma = np.where(up, aguiar.tag_sigma(kt_d, np.where(up, sin_elevation, 1.0)), 0.0)
    phi = aguiar.tag_phi1(kt_day)
    y = np.empty(sin_elevation.shape)
    y[:, 0] = rng.standard_normal(kt_day.size)
    noise = rng.standard_normal(sin_elevation.shape) * np.sqrt(1 - phi ** 2)[:, None]
    for h in range(1, 24):  # the AR(1) recursion runs over the 24 hours of all days at once
        y[:, h] = phi * y[:, h - 1] + noise[:, h]
    cap = np.where(up, kt_clear * 1.05, 0.0)
    kt = np.clip(mean + sigma * y, 0.0, cap)
    target = kt_day * extra.sum(axis=1)
    for _ in range(3):  # rescale to the day's total; re-cap what the scaling pushed over
        total = (kt * extra).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(total > 0, target / total, 0.0)
        kt = np.clip(kt * scale[:, None], 0.0, cap)
    return kt


def _constrain(values: np.ndarray, month: np.ndarray, target_by_month, *, scale=False):
    """Shift (or scale) each month's values so their mean equals the normal."""
    out = values.copy()
    for m in np.unique(month[month > 0]):
        sel = month == m
        goal = target_by_month[m - 1]
        if scale:
            mean = out[sel].mean()
            out[sel] *= goal / mean if mean > 0 else 0.0
        else:
            out[sel] += goal - out[sel].mean()
    return out


def _hours(year: int, longitude: float) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """The year's UTC hours, and the whole days of 24 UTC hours starting near local solar
    midnight that the generator works on (the year is cut out of them)."""
    times = pd.date_range(pd.Timestamp(year, 1, 1), pd.Timestamp(year + 1, 1, 1), freq="h",
                          inclusive="left")
    day_start = pd.Timedelta(hours=(-round(longitude / 15.0)) % 24)
    n_days = len(times) // 24 + 2
    return times, pd.date_range(times[0] - pd.Timedelta(days=1) + day_start,
                                periods=n_days * 24, freq="h")


@functools.lru_cache(maxsize=64)
def _sky(year: int, latitude: float, longitude: float, altitude: float) -> pd.DataFrame:
    """Sun and clear sky over the generator's hours: the same for every seed, so computed once
    per site and year (climate-year studies draw many seeds of one calendar year). Read only."""
    return sun_and_sky(_hours(year, longitude)[1], latitude, longitude, altitude)


def synthetic_year(normals: xr.Dataset, latitude: float, longitude: float, altitude: float,
                   year: int, seed: int = 0, *, name: str = "") -> xr.Dataset:
    """A synthetic hourly year (UTC, interval-start labels) with the statistics of ``normals``.

    normals: from :func:`weather.normals` (or a site TOML). Returns the twin's weather Dataset,
    its attributes naming the generator, year and seed.
    """
    source = f"synthetic year {year} seed {seed}{' for ' + name if name else ''}"
    check_site(source, latitude, longitude, altitude)
    n = {k: normals[k].to_numpy() for k in normals.data_vars}
    rng = np.random.default_rng([int(seed), int(year)])
    times, grid = _hours(year, longitude)
    n_days = len(grid) // 24
    grid_solar = solar_time_h(grid, longitude) % 24  # at each hour's midpoint
    in_year = np.asarray((grid >= times[0]) & (grid <= times[-1]))
    sky = _sky(year, latitude, longitude, altitude)
    noon = grid[12::24]
    day_month = np.asarray(noon.month)
    day_pos = day_month + (np.asarray(noon.day) - 0.5) / np.asarray(noon.days_in_month)
    hour_month = np.where(in_year, grid.month, 0)  # hours outside the year are not constrained

    # irradiance
    extra = sky["ghi_extra"].to_numpy().reshape(n_days, 24)
    sin_el = np.sin(np.radians(sky["elevation"].to_numpy())).reshape(n_days, 24)
    with np.errstate(invalid="ignore", divide="ignore"):
        kt_clear = np.where(extra > 0, sky["ghi_clear"].to_numpy().reshape(n_days, 24) / extra, 0)
    kt_day = _daily_kt(rng, n["clearness_index_mean"], day_month)
    ghi = (_hourly_kt(rng, kt_day, sin_el, kt_clear, extra) * extra).ravel()
    dni, dhi = split_ghi(ghi, sky)

    # temperature, humidity, pressure: daily processes interpolated to the hours
    phi_t = float(n["temp_air_daily_autocorrelation"])
    day_hours = np.arange(n_days) * 24 + 12.0
    hours = np.arange(n_days * 24) + 0.5
    to_hours = lambda daily: np.interp(hours, day_hours, daily)  # noqa: E731
    ktm_day = _monthly_to_daily(n["clearness_index_mean"], day_pos)
    t_mean = _monthly_to_daily(n["temp_air_mean"], day_pos) + \
        _anomaly(rng, phi_t, n["temp_air_daily_std"], day_month)
    t_range = _monthly_to_daily(n["temp_air_daily_range"], day_pos) * \
        np.clip(kt_day / ktm_day, *RANGE_SCALE_LIMITS)
    temp_air = to_hours(t_mean) + to_hours(t_range) * _erbs_shape(grid_solar)
    temp_air = _constrain(temp_air, hour_month, n["temp_air_mean"])
    dew = to_hours(_monthly_to_daily(n["temp_dew_mean"], day_pos) +
                   _anomaly(rng, phi_t, n["temp_dew_daily_std"], day_month))
    for _ in range(3):  # the cap at saturation lowers the mean: constrain, cap, repeat
        dew = np.minimum(_constrain(dew, hour_month, n["temp_dew_mean"]), temp_air)
    # normals measured at a station at another altitude: scale pressure by the standard atmosphere
    station_altitude = float(normals.attrs.get("station_altitude_m", altitude))
    pressure = to_hours(_monthly_to_daily(n["pressure_mean"], day_pos) +
                        _anomaly(rng, phi_t, n["pressure_daily_std"], day_month)) * \
        pvlib.atmosphere.alt2pres(altitude) / pvlib.atmosphere.alt2pres(station_altitude)

    # wind: Gaussian AR(1) -> Weibull, diurnal cycle, monthly mean
    month_index = np.asarray(grid.month) - 1
    k = n["wind_speed_weibull_k"][month_index]
    z = _ar1(rng, n_days * 24, float(n["wind_speed_hourly_autocorrelation"]))
    unit_wind = stats.weibull_min.ppf(stats.norm.cdf(z), k, scale=1 / special.gamma(1 + 1 / k))
    amplitude = np.minimum(n["wind_speed_diurnal_amplitude"][month_index],
                           MAX_WIND_DIURNAL_AMPLITUDE)
    peak = n["wind_speed_peak_hour"][month_index]
    diurnal = 1 + amplitude * np.cos(2 * np.pi * (grid_solar - peak) / 24)
    wind = _constrain(unit_wind * diurnal, hour_month, n["wind_speed_mean"], scale=True)

    frame = pd.DataFrame({
        "ghi": ghi, "dni": dni, "dhi": dhi, "temp_air": temp_air, "temp_dew": dew,
        "relative_humidity": np.clip(pvlib.atmosphere.rh_from_tdew(temp_air, dew), 0, 100),
        "pressure": pressure, "wind_speed": wind,
    }, index=grid)[in_year]
    return build_dataset(
        frame, latitude, longitude, altitude, name=name,
        wind_height_m=float(normals.attrs.get("wind_height_m", 10.0)), source=source,
        notes=[f"synthetic year {year}, seed {seed}"],
        attrs={"source_format": "synthetic", "synthetic_year": int(year),
               "synthetic_seed": int(seed),
               "normals_source": str(normals.attrs.get("source", "")),
               "generator": "MTM (Aguiar et al. 1988) + TAG (Aguiar and Collares-Pereira 1992) "
                            "+ Erbs-Driesse; temperature Erbs et al. 1984 with Bristow-Campbell "
                            "range; AR(1) Weibull wind"})
