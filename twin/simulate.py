"""simulate(weather, sites) -> one xarray Dataset (site, time): the twin's steps, in order.

1. sites: catalog Site objects (or ids), their locations and plant configuration;
2. weather: one CF weather Dataset per site (or synthetic years), each checked against its
   site's location, then stacked on (site, time) and checked against its site's climate: a
   missing value is an error unless ``allow_missing`` (then only those hours are NaN);
3. PV (twin.solar) and wind (twin.wind), vectorised over (site, time); the weather's stacking
   and the checks of its values, this and the next three steps run on blocks of about
   BLOCK_ELEMENTS site-hours, one block through all of them at a time on each thread (the
   facility's load curves never leave their block), written into outputs allocated once
   (by_site_block), so that working memory and cost per site-year do not grow with the number
   of sites;
4. the facility (twin.facility): IT load, losses and cooling at each site's control -> facility
   power, PUE, water use, cooling mode and ASHRAE envelope hours;
5. the power balance (twin.storage): renewables, battery, grid import, curtailment, unserved
   power, grid carbon and cost;
6. availability (twin.facility): the IT power renewables (and the battery, by policy) can carry
   each hour, headroom after committed load, and the linear form facility ~= a + b IT;
7. the Dataset: results, the inputs used, CF attributes (twin.variables), provenance.
"""

from __future__ import annotations

import calendar
import collections
import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import xarray as xr

from twin._version import __version__
from twin.allocator import OUTPUTS, output_array
from twin.arrays import first_bad
from twin.cooling import MODES, CoolingArrays
from twin.facility import LOAD_LEVELS, Facility, invert_and_fit
from twin.it_load import ITArrays, check_utilisation
from twin.latency import great_circle_km
from twin.model_names import BATTERY_POLICIES
from twin.solar import PVArrays, pv_power
from twin.storage import BatteryArrays, non_negative_profile, power_balance
from twin.timebase import china_hour_of_day
from twin.variables import (
    CONVENTIONS,
    WEATHER_OPTIONAL,
    WEATHER_REQUIRED,
    annotate,
    hourly_time,
)
from twin.wind import WindArrays, long_term_scale, wind_power
from weather.errors import WeatherError

WIND_SCALINGS = ("normals", "weather", "none")
STEPS = ("generation", "facility", "balance", "availability")
# A station whose wind must be scaled by more than this to meet the wind farms' mean is sheltered:
# its hourly shape (calms, gusts) is unlike the farms'; the Dataset says so.
SHELTERED_SCALE = 3.0
DEFAULT_WIND_HEIGHT_M = 10.0
# simulate()'s default threads: blocks run at once while numba's and numpy's loops release
# Python's lock; the Python between them holds it, so more threads mostly wait (2 threads on 2
# cores: 1.4x, benchmarks/generation.py), and each holds a block's temporaries
MAX_DEFAULT_THREADS = 4
# site-hours per block of sites (about 30 site-years), each block taken through every step by
# one thread: each numpy step of the glue between the compiled loops then runs long enough,
# without Python's lock, for the other threads' blocks to hold it (on the plant's former blocks
# of 2^15 the threads mostly handed the lock back and forth; README, "Speed of the whole twin")
BLOCK_ELEMENTS = 2**18


def _sites(sites) -> list:
    from sites import Site, get_site

    if isinstance(sites, (Site, str)):
        sites = [sites]
    elif isinstance(sites, Mapping):
        sites = list(sites.values())
    out = [get_site(s) if isinstance(s, str) else s for s in sites]
    if not out:
        raise ValueError("no sites to simulate")
    ids = [s.id for s in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"a site is given twice: {', '.join(ids)}")
    return out


def _per_site_weather(weather, sites, year: int, seed: int) -> list[xr.Dataset]:
    ids = [s.id for s in sites]
    if weather is None:
        return [s.weather(year=year, seed=seed) for s in sites]
    if isinstance(weather, xr.Dataset):
        if "site" not in weather.dims:
            if len(sites) != 1:
                raise ValueError(f"one weather Dataset without a site dimension for {len(sites)} "
                                 "sites: give one Dataset per site (a mapping by site id)")
            return [weather]
        have = [str(v) for v in weather["site"].values]
        if missing := [i for i in ids if i not in have]:
            raise ValueError(f"weather has no site {', '.join(missing)} (it has {', '.join(have)})")
        return [weather.sel(site=i) for i in ids]
    if isinstance(weather, Mapping):
        if missing := [i for i in ids if i not in weather]:
            raise ValueError(f"no weather for site {', '.join(missing)}")
        return [weather[i] for i in ids]
    weather = list(weather)
    if len(weather) != len(sites):
        raise ValueError(f"{len(weather)} weather Datasets for {len(sites)} sites")
    return weather


def _wind_height(ds: xr.Dataset) -> float:
    if "wind_height" in ds.variables:
        return float(ds.variables["wind_height"].values)
    return float(ds.variables["wind_speed"].attrs.get("height", DEFAULT_WIND_HEIGHT_M))


# A weather file farther than this from its site is refused unless allow_distant_weather: ERA5's
# nearest grid point is within ~20 km and a station typical year represents flat desert or
# plateau to a few tens of km; 100 km keeps every honest choice and refuses another city's file
# (Golmud-Hami ~690 km, Phoenix-Hami ~11,000 km, a flipped latitude sign >= 2,000 km at the hubs).
MAX_WEATHER_DISTANCE_KM = 100.0
# 500 m of altitude is ~6 % of air pressure and ~3 K of temperature (6.5 K/km standard lapse rate):
# beyond it the file's air is not the site's (cooling, air density, PV temperature).
MAX_WEATHER_ALTITUDE_DIFFERENCE_M = 500.0
# the site's own catalog station (sites/catalog/*.toml weather_station) may be farther: up to this
MAX_DECLARED_STATION_DISTANCE_KM = 200.0
# A file at its site has the site's climate: its mean air temperature over the months it covers
# within this of the site's normals. Measured on ../shared/weather against the catalog: a site's
# own station 0.1 K, neighbours 120-230 km away and up to 420 m higher 3.9-4.0 K (8 K for Urumqi
# vs Turpan, 900 m apart, refused by altitude anyway). A file in degF is 0.8 T + 32 off, at least
# 16 K wherever the mean is above -20 degC. Judged on files of at least MIN_CLIMATE_DAYS (a week's
# forecast may be a cold spell).
MAX_CLIMATE_DIFFERENCE_K = 10.0
MIN_CLIMATE_DAYS = 300
# ... and its mean wind speed over those months, brought to the normals' height (1/7 power law,
# Hellman), within this factor of the normals'. Measured on ../shared/weather against the catalog:
# a site's own station 1.00; stations 121-292 km away 0.34-2.95 (sheltered against open stations,
# refused by distance anyway). Wind in km/h is 3.6x: this catches it at a calm site, whose 99.9th
# percentile stays under weather.read's 25 m s-1 unit limit in km/h. Knots (1.94x) and mph (2.24x)
# at a calm site stay within it (README, bad input).
MAX_WIND_RATIO = 3.0


def _coord(ds: xr.Dataset, name: str) -> float | None:
    value = ds.variables.get(name)
    if value is not None and value.ndim == 0 and np.isfinite(float(value.values)):
        return float(value.values)
    return None


def _station_file(station: str) -> str:
    return station.replace("\\", "/").rsplit("/", 1)[-1]


def check_climate(values: Mapping[str, np.ndarray], time, sites, wind_heights,
                  sources) -> None:
    """WeatherError when a year of weather at its site's location is not the site's climate: mean
    air temperature more than MAX_CLIMATE_DIFFERENCE_K (degF, or another place's file with this
    place's coordinates) or mean wind more than MAX_WIND_RATIO times (km/h) from the normals,
    over the months the weather covers. ``values``: ``(site, time)`` arrays by variable name
    (``temp_air``, ``wind_speed`` where given); ``wind_heights`` [m] and ``sources`` (for the
    message) per site; a site without normals (or None) is not checked, nor weather shorter than
    MIN_CLIMATE_DAYS. Vectorised over the sites (twin.simulate runs it on each block of sites)."""
    time = np.asarray(time)
    if len(time) < 24 * MIN_CLIMATE_DAYS:
        return
    month = time.astype("datetime64[M]").astype(np.int64) % 12
    hours_in = np.bincount(month, minlength=12).astype(float)  # of each month, no value missing
    anyway = "(allow_distant_weather=True / --allow-distant-weather runs it)"
    checked = [i for i, s in enumerate(sites) if getattr(s, "normals_table", None)]

    def file_and_normal(name, rows):
        """The mean of the weather's known values at the sites ``rows``, and the normals' mean
        over the same hours' months."""
        value = values[name][rows]
        total = value.sum(axis=1)
        counts = np.broadcast_to(hours_in, (len(rows), 12)).copy()
        for i in np.flatnonzero(np.isnan(total)):  # missing hours (allow_missing)
            known = ~np.isnan(value[i])
            total[i], counts[i] = value[i][known].sum(), np.bincount(month[known], minlength=12)
        normals = np.array([sites[i].normals_table[name + "_mean"] for i in rows], dtype=float)
        n = counts.sum(axis=1)
        return total / n, (counts * normals).sum(axis=1) / n

    if "temp_air" in values and checked:
        mean, normal = file_and_normal("temp_air", checked)
        for i, m, nm in zip(checked, mean, normal):
            if abs(m - nm) > MAX_CLIMATE_DIFFERENCE_K:
                raise WeatherError(
                    sources[i], f"mean air temperature {m:.1f} degC where the normals of site "
                    f"{sites[i].id} give {nm:.1f} degC for the same months ({m - nm:+.1f} K; a "
                    f"file at its site is within {MAX_CLIMATE_DIFFERENCE_K:g} K): degF, or "
                    f"another place's weather? refused {anyway}", variable="temp_air")
    windy = [i for i in checked if "wind_speed_mean" in sites[i].normals_table]
    if "wind_speed" in values and windy:
        mean, normal = file_and_normal("wind_speed", windy)
        for i, m, nm in zip(windy, mean, normal):
            height = float(sites[i].normals_table.get("wind_height_m", DEFAULT_WIND_HEIGHT_M))
            m = m * (height / wind_heights[i]) ** (1 / 7)
            ratio = m / max(nm, 1e-3)
            if not 1 / MAX_WIND_RATIO <= ratio <= MAX_WIND_RATIO:
                raise WeatherError(
                    sources[i], f"mean wind speed {m:.2f} m s-1 at {height:g} m where the "
                    f"normals of site {sites[i].id} give {nm:.2f} m s-1 for the same months "
                    f"({ratio:.2f} times; a file at its site is within a factor "
                    f"{MAX_WIND_RATIO:g}): km/h (3.6x), or another place's wind? refused "
                    f"{anyway}", variable="wind_speed")


def _check_file_climate(ds: xr.Dataset, site):
    """check_climate of one site's weather Dataset."""
    check_climate({v: ds.variables[v].values[None] for v in ("temp_air", "wind_speed")
                   if v in ds}, ds.variables["time"].values, [site], [_wind_height(ds)],
                  [ds.attrs.get("source", site.id)])


def weather_locations(datasets: list[xr.Dataset], sites, *, allow_distant_weather: bool = False,
                      climate: bool = True) -> list[tuple[float, float, float, dict]]:
    """Where each site is simulated: a weather file's coordinates (where its quality control
    ran, and where its irradiance saw the sun); the site's for weather not read from a file
    (synthetic years, hand-made Datasets). A file farther than MAX_WEATHER_DISTANCE_KM or
    MAX_WEATHER_ALTITUDE_DIFFERENCE_M from its site is refused unless ``allow_distant_weather``,
    or unless it is the site's declared ``weather_station`` file within
    MAX_DECLARED_STATION_DISTANCE_KM (the catalog pairs Ulanqab, Wuhu and Zhongwei with stations
    121-142 km away). A file at its site must have the site's climate (``check_climate``),
    unless ``allow_distant_weather`` or not ``climate`` (simulate checks it block by block)."""
    out = []
    for ds, s in zip(datasets, sites):
        lat, lon, alt = (_coord(ds, n) for n in ("latitude", "longitude", "altitude"))
        if lat is None or lon is None or not ds.attrs.get("source_file"):
            # synthetic or hand-made weather (no file): the site's location, as given
            out.append((s.latitude, s.longitude, s.altitude_m,
                        {"location": "site", "reason": "weather not read from a file"}))
            continue
        alt = s.altitude_m if alt is None else alt
        distance = float(great_circle_km(s.latitude, s.longitude, lat, lon))
        rise = alt - s.altitude_m
        info = {"location": "weather", "latitude": lat, "longitude": lon, "altitude": alt,
                "distance_km": round(distance, 1), "altitude_difference_m": round(rise, 1)}
        far = distance > MAX_WEATHER_DISTANCE_KM or abs(rise) > MAX_WEATHER_ALTITUDE_DIFFERENCE_M
        # the catalog's own station for a site (Ulanqab: Huade, 121 km) is the site's weather
        declared = _station_file(getattr(s, "weather_station", "") or "")
        if far and declared and ds.attrs.get("source_file") == declared and \
                distance <= MAX_DECLARED_STATION_DISTANCE_KM and \
                abs(rise) <= MAX_WEATHER_ALTITUDE_DIFFERENCE_M:
            info["declared_station"] = declared
            far = False
        if far and not allow_distant_weather:
            raise WeatherError(
                ds.attrs.get("source", s.id), f"weather at {lat:.2f}, {lon:.2f}, {alt:.0f} m is "
                f"{distance:,.0f} km and {rise:+,.0f} m from site {s.id} ({s.latitude:.2f}, "
                f"{s.longitude:.2f}, {s.altitude_m:.0f} m); more than "
                f"{MAX_WEATHER_DISTANCE_KM:g} km or {MAX_WEATHER_ALTITUDE_DIFFERENCE_M:g} m: the "
                "wrong file? (allow_distant_weather=True / --allow-distant-weather to run it, "
                "simulated at the weather's location)", variable="latitude")
        if climate and not allow_distant_weather:
            _check_file_climate(ds, s)
        out.append((lat, lon, alt, info))
    return out


def stacked_weather(datasets: Iterable[xr.Dataset], site_ids: list[str]) -> xr.Dataset:
    """One (site, time) Dataset for per-site weather over the same hours, its variables'
    arrays allocated, not yet written: ``fill_weather`` writes them, a block of sites at a time
    (simulate: on each block's thread). Optional variables are kept where every site has them;
    the wind measurement height becomes ``wind_height(site)``."""
    datasets = list(datasets)
    time = datasets[0].variables["time"].values
    for sid, ds in zip(site_ids, datasets):
        missing = [v for v in WEATHER_REQUIRED if v not in ds]
        if missing:
            raise WeatherError(ds.attrs.get("source", sid), f"site {sid}: required variable(s) "
                               f"missing: {', '.join(missing)}", variable=missing[0])
        if text := [v for v in WEATHER_REQUIRED + WEATHER_OPTIONAL
                    if v in ds and ds.variables[v].dtype.kind not in "biuf"]:
            raise WeatherError(ds.attrs.get("source", sid), f"site {sid}: {text[0]} is not "
                               f"numbers ({ds.variables[text[0]].dtype})", variable=text[0])
        hours = ds.variables["time"].values
        if len(hours) != len(time) or not np.array_equal(hours, time):
            raise ValueError(f"weather of {site_ids[0]} and {sid} cover different hours "
                             f"({pd.Timestamp(time[0])}.. vs {pd.Timestamp(ds.time.values[0])}..):"
                             " simulate them separately or put them on the same year")
    names = list(WEATHER_REQUIRED) + [v for v in WEATHER_OPTIONAL if all(v in d for d in datasets)]
    stacked = xr.Dataset(
        {v: (("site", "time"), output_array((len(datasets), len(time)))) for v in names},
        coords={"site": site_ids, "time": time,
                "wind_height": ("site", [_wind_height(d) for d in datasets])})
    stacked.attrs["weather_source"] = json.dumps(
        {sid: d.attrs.get("source_file") or d.attrs.get("source", "") for sid, d in
         zip(site_ids, datasets)})
    return annotate(stacked)


def fill_weather(stacked: xr.Dataset, datasets: list[xr.Dataset], rows: slice
                 ) -> dict[str, np.ndarray]:
    """Writes the weather of the sites ``rows`` (a slice of ``datasets``) into the arrays of
    ``stacked`` (stacked_weather); returns those rows' arrays by variable name."""
    out = {}
    for v, var in stacked.data_vars.items():
        out[v] = var.values[rows]
        np.stack([d.variables[v].values for d in datasets[rows]], out=out[v])
    return out


def _check_missing(values: Mapping[str, np.ndarray], ids: list[str], time):
    """WeatherError at the first missing value of the ``(site, time)`` arrays ``values``."""
    for v, a in values.items():
        bad = np.isnan(a)
        if bad.any():
            i, t = first_bad(bad)
            raise WeatherError(
                ids[i], f"{int(bad.sum())} missing value(s), first at "
                f"{pd.Timestamp(time[t])} UTC; repair the weather (weather.read does) or "
                "pass allow_missing=True to get NaN output for those hours", variable=v,
                time=str(pd.Timestamp(time[t])))


def _site_time(value, ids: list[str], time, name: str) -> np.ndarray:
    """A user's ``(site, time)`` series (array, or DataArray with a site dimension) as floats."""
    if isinstance(value, xr.DataArray) and "site" in value.dims:
        value = value.sel(site=ids).transpose("site", "time")
    a = np.asarray(value, dtype=float)
    if a.shape != (len(ids), len(time)):
        raise ValueError(f"{name} has shape {a.shape}; expected (site, time) = "
                         f"({len(ids)}, {len(time)})")
    return a


def _utilisation(utilisation, ids: list[str], time):
    """A user's hourly utilisation as a checked ``(site, time)`` array (or None)."""
    if utilisation is None:
        return None
    return check_utilisation(_site_time(utilisation, ids, time, "utilisation"), time)


def by_site_block(step, n_sites: int, n_hours: int, elements: int,
                  out: dict[str, np.ndarray] | None = None, threads: int = 1
                  ) -> dict[str, np.ndarray]:
    """``step(rows)``, a dict of arrays with a leading site axis for the sites ``rows`` (a
    slice), run on blocks of about ``elements`` site-hours, ``threads`` blocks at a time, each
    block's results written by its thread into ``out`` (a dict, new if None), each array
    allocated there once for all ``n_sites`` (twin.allocator.output_array) by the first block
    that has it. An error is raised as it is, the blocks not yet started then cancelled."""
    size = max(1, elements // max(n_hours, 1))
    out = {} if out is None else out
    blocks = [slice(start, min(start + size, n_sites)) for start in range(0, n_sites, size)]
    allocating = threading.Lock()

    def run(rows):
        for k, v in step(rows).items():
            if k not in out:
                with allocating:
                    if k not in out:
                        out[k] = output_array((n_sites, *v.shape[1:]), v.dtype)
            out[k][rows] = v

    if threads <= 1 or len(blocks) == 1:
        for rows in blocks:
            run(rows)
        return out
    pool = ThreadPoolExecutor(threads, thread_name_prefix="twin-block")
    pending = collections.deque()  # at most one block waiting beyond those running
    try:
        for rows in blocks:
            pending.append(pool.submit(run, rows))
            if len(pending) > threads:
                pending.popleft().result()
        for block in pending:
            block.result()
    finally:
        pool.shutdown(cancel_futures=True)
    return out


def default_threads() -> int:
    """The processors this process may use (its CPU affinity where the system has one), at most
    MAX_DEFAULT_THREADS."""
    affinity = getattr(os, "sched_getaffinity", None)
    return max(1, min(len(affinity(0)) if affinity else os.cpu_count() or 1,
                      MAX_DEFAULT_THREADS))


def _plant_steps(sites, time, results, utilisation, until, battery_policy, committed, report,
                 allow_missing):
    """The steps after generation for the sites ``rows`` (a slice), as a function of ``rows``,
    their weather (arrays by name, the sites' ``altitude`` among them; NaN only where
    ``allow_missing``) and their renewable power: the facility (twin.facility) under each
    site's control, then up to ``until`` the power balance (twin.storage) with the sites'
    batteries, grid limits, carbon intensity and tariff, and availability, inverting the
    facility's load curves, which never leave the block. NaN where the weather the facility
    needs is missing. ``results``: the outputs, to which the grid's hourly carbon intensity
    and price are added whole."""
    ids = [s.id for s in sites]
    cooling_arrays = CoolingArrays.from_configs([s.cooling for s in sites])
    it_arrays = ITArrays.from_configs([s.it for s in sites], ids)
    capacity = it_arrays.capacity_w[:, None]
    hour_of_day = china_hour_of_day(time)  # of the sites' daily utilisation profiles
    reached = STEPS.index(until)
    if reached >= STEPS.index("balance"):  # outputs as they are: each block reads its rows
        results["carbon_intensity"] = intensity = non_negative_profile(
            time, [s.grid.carbon_intensity_g_per_kwh for s in sites],
            "grid.carbon_intensity_g_per_kwh", output_array((len(sites), len(time))))
        results["electricity_price"] = price = non_negative_profile(
            time, [s.grid.tariff_per_kwh for s in sites], "grid.tariff_per_kwh",
            output_array((len(sites), len(time))))
        limit = np.array([s.grid.import_capacity_w for s in sites], dtype=float)

    def steps(rows, w, renewable):
        report("facility")
        it = it_arrays.subset(rows)
        model = Facility(cooling_arrays.subset(rows), it, time, w, w["altitude"],
                         utilisation=it.hourly_utilisation(time, hour_of_day)
                         if utilisation is None else utilisation[rows])
        out, setpoints = model.run()
        curves = model.load_curves(setpoints) if until == "availability" else {}
        missing = np.isnan(w["temp_air"] + w["temp_dew"] + w["pressure"]) if allow_missing \
            else None  # else checked: none missing
        if missing is not None and missing.any():
            for part in (out, curves):
                for k, v in part.items():
                    if v.dtype.kind == "f":
                        # the model's own arrays; a broadcast view (one site) is read-only
                        part[k] = v = v if v.flags.writeable else v.copy()
                        v[missing] = np.nan
        if reached < STEPS.index("balance"):
            return out
        report("balance")
        battery = BatteryArrays.from_configs([s.battery for s in sites[rows]])
        out.update(power_balance(battery, renewable, out["facility_power"], limit[rows]))
        kw = out["grid_import"] / 1000.0
        out.update(grid_emissions=kw * intensity[rows] / 1000.0, grid_cost=kw * price[rows],
                   battery_energy=battery.energy_wh, grid_import_capacity=limit[rows])
        if reached < STEPS.index("availability"):
            return out
        report("availability")
        supply = renewable + (out["battery_dischargeable_power"] if battery_policy ==
                                    "balance" else 0.0)
        available, intercept, slope, error = invert_and_fit(
            supply, curves["load_curve_it_power"], curves["load_curve_facility_power"])
        # what fits: never more than the site's IT capacity, which reservations and plans
        # respect (the servers' full-load draw may exceed it by up to 10 %)
        available = np.minimum(available, capacity[rows])
        held = np.zeros_like(available) if committed is None else committed[rows]
        out.update(it_available_power=available, it_committed_power=held,
                   it_headroom=np.maximum(available - held, 0.0),
                   facility_power_intercept=intercept, marginal_pue=slope,
                   facility_linear_max_error=np.nanmax(error, axis=1))
        return out

    return steps


def _committed(committed, ids: list[str], time) -> np.ndarray:
    """Committed IT power as a checked ``(site, time)`` array [W]."""
    c = _site_time(committed, ids, time, "it_committed_power")
    bad = ~(np.isfinite(c) & (c >= 0))
    if bad.any():
        i, t = first_bad(bad)
        raise ValueError(f"it_committed_power at site {ids[i]}, {pd.Timestamp(time[t])} UTC, is "
                         f"{c[i, t]}; it must be a power >= 0 [W], finite")
    return c


def normals_wind_mean(site) -> tuple[float, float]:
    """Long-term mean station wind [m s-1] and its height [m] from the site's normals (monthly
    means weighted by days in the month)."""
    table = site.normals_table
    days = [calendar.monthrange(2001, m)[1] for m in range(1, 13)]
    return (float(np.average(table["wind_speed_mean"], weights=days)),
            float(table.get("wind_height_m", DEFAULT_WIND_HEIGHT_M)))


def _wind_scale(w: WindArrays, sites, wind_speed, wind_height, how: str) -> np.ndarray:
    """The factor on each site's station wind (simulate's ``wind_scaling``); ``wind_speed``
    ``(site, time)`` [m s-1] measured at ``wind_height`` [m]."""
    if how == "normals":
        means, heights = zip(*(normals_wind_mean(s) for s in sites))
        return long_term_scale(w, np.array(means), np.array(heights))
    if how == "weather":
        return long_term_scale(w, np.nanmean(wind_speed, axis=1), wind_height)
    return np.ones(len(sites))  # none


def simulate(weather=None, sites=None, *, year: int = 2025, seed: int = 0,
             wind_scaling: str = "normals", allow_missing: bool = False, utilisation=None,
             until: str = "availability", battery_policy: str = "none",
             it_committed_power=None, progress: Callable[[str], None] | None = None,
             allow_distant_weather: bool = False, threads: int | None = None) -> xr.Dataset:
    """Hourly PV, wind and renewable power of every site, and every later step up to ``until``,
    vectorised over (site, time) and run by blocks of sites (the module's docstring).

    weather: ``None`` (a synthetic year per site from its normals, ``year``/``seed``), one weather
    Dataset (one site), a Dataset with a ``site`` dimension, a mapping site id -> Dataset, or a
    list in the order of ``sites``. All sites must cover the same hours. sites: a catalog Site,
    a site id or name, or a list or mapping of them.
    wind_scaling: ``normals`` scales the hub-height wind so that the station's long-term mean
    (the site's normals) meets the configured wind-farm mean (keeps year-to-year variability);
    ``weather`` uses this weather's own mean instead; ``none`` takes the wind as it is.
    utilisation: an hourly series ``(site, time)`` (array or DataArray, 0..1) replacing the sites'
    configured utilisation. until: the last step run, one of STEPS (``generation`` gives PV and
    wind only). battery_policy: what availability counts besides renewables: ``none``, or
    ``balance`` (what the battery could deliver each hour in the power balance).
    it_committed_power: IT power already committed ``(site, time)`` [W] (default 0), taken off
    the available IT power to give the headroom.
    progress: called with the name of each step as it starts ("weather", then "solar", "wind",
    "facility", "balance", "availability" for each block of sites, then "dataset").
    allow_distant_weather: run weather farther than MAX_WEATHER_DISTANCE_KM (or
    MAX_WEATHER_ALTITUDE_DIFFERENCE_M) from its site, or outside the site's climate
    (MAX_CLIMATE_DIFFERENCE_K, MAX_WIND_RATIO), instead of refusing it. Each site is
    simulated at its weather's coordinates (where the weather's QC ran), the site's when the
    weather has none; the ``weather_location`` attribute says which, and how far from the site.
    threads: blocks of sites computed at once (numba's loops and numpy's release Python's lock;
    the result does not depend on it); default: the processors this process may use, at most
    MAX_DEFAULT_THREADS. Progress is then reported from those threads; numpy's error state
    (``np.errstate``) is each thread's own.
    Returns a Dataset (site, time) with pv_power, wind_power, renewable_power [W], the facility's
    power, PUE and water, the power balance, availability, their intermediates and the weather
    used, CF attributes from :mod:`twin.variables`.
    """
    report = progress or (lambda step: None)
    if until not in STEPS:
        raise ValueError(f"unknown step {until!r}; known: {', '.join(STEPS)}")
    if battery_policy not in BATTERY_POLICIES:
        raise ValueError(f"unknown battery_policy {battery_policy!r}; known: "
                         f"{', '.join(BATTERY_POLICIES)}")
    if wind_scaling not in WIND_SCALINGS:
        raise ValueError(f"unknown wind_scaling {wind_scaling!r}; known: "
                         f"{', '.join(WIND_SCALINGS)}")
    if sites is None:
        raise ValueError("give the sites to simulate (Site objects or catalog ids)")
    sites = _sites(sites)
    ids = [s.id for s in sites]
    report("weather")
    per_site = _per_site_weather(weather, sites, year, seed)
    # the weather's values are checked and stacked block by block, on the blocks' threads
    located = weather_locations(per_site, sites, allow_distant_weather=allow_distant_weather,
                                climate=False)
    wx = stacked_weather(per_site, ids)
    location = {k: np.array([loc[i] for loc in located])
                for i, k in enumerate(("latitude", "longitude", "altitude"))}
    # a file at its site must have its climate (check_climate), unless allow_distant_weather
    climate_sites = [s if loc[3]["location"] == "weather" and not allow_distant_weather else None
                     for s, loc in zip(sites, located)]
    sources = [d.attrs.get("source", i) for d, i in zip(per_site, ids)]
    time = pd.DatetimeIndex(wx["time"].values)
    reached = STEPS.index(until)
    w = WindArrays.from_configs([s.wind for s in sites])
    u = _utilisation(utilisation, ids, time) if reached >= STEPS.index("facility") else None
    committed = None if it_committed_power is None or until != "availability" else \
        _committed(it_committed_power, ids, time)
    if reached >= STEPS.index("balance") and len({s.grid.currency for s in sites}) > 1:
        raise ValueError("sites price grid electricity in different currencies ("
                         f"{', '.join(sorted({s.grid.currency for s in sites}))}): simulate "
                         "them separately")

    wind_height = wx["wind_height"].values

    def block_weather(rows):  # the weather of the sites ``rows`` (a slice), stacked and checked
        weather_rows = fill_weather(wx, per_site, rows)
        if not allow_missing:
            _check_missing(weather_rows, ids[rows], time)
        check_climate(weather_rows, time, climate_sites[rows], wind_height[rows], sources[rows])
        weather_rows.update({k: v[rows] for k, v in location.items()})
        return weather_rows

    def generation(rows, weather_rows):  # PV, wind and renewable power of the sites ``rows``
        block = sites[rows]
        turbines = w.subset(rows)
        scale = _wind_scale(turbines, block, weather_rows["wind_speed"], wind_height[rows],
                            wind_scaling)
        report("solar")
        out = pv_power(PVArrays.from_configs([s.pv for s in block]), time, weather_rows)
        report("wind")
        out.update(wind_power(turbines, weather_rows["wind_speed"], wind_height[rows],
                              weather_rows["pressure"], weather_rows["temp_air"], scale))
        out["renewable_power"] = out["pv_power"] + out["wind_power"]
        out["wind_speed_scale"] = scale
        return out

    # each step by blocks of sites into outputs allocated once: the temporaries of a block are
    # reused from one block to the next instead of mapped afresh (README, speed)
    results = {}
    plant = _plant_steps(sites, time, results, u, until, battery_policy, committed, report,
                         allow_missing) if reached >= STEPS.index("facility") else None

    def chain(rows):  # every step of the sites ``rows``
        weather_rows = block_weather(rows)
        out = generation(rows, weather_rows)
        if plant is not None:
            out.update(plant(rows, weather_rows, out["renewable_power"]))
        return out

    by_site_block(chain, len(sites), len(time), BLOCK_ELEMENTS, out=results,
                  threads=default_threads() if threads is None else threads)

    report("dataset")
    ds = xr.Dataset(
        {**{k: (("site", "time")[:v.ndim], v) for k, v in results.items()},
         "pv_capacity": ("site", np.array([s.pv.capacity_wp for s in sites], dtype=float)),
         "wind_capacity": ("site", w.capacity_w),
         **{v: wx[v] for v in wx.data_vars}},
        coords={"site": ids, "time": wx["time"].values, "wind_height": wx["wind_height"],
                **{k: ("site", v) for k, v in location.items()},
                "name": ("site", [s.name for s in sites]),
                "cooling_topology": ("site", [s.cooling.topology for s in sites]),
                "cooling_control": ("site", [s.cooling.control for s in sites])})
    ds = annotate(hourly_time(ds))
    # CF 9: a time series at each site, the orthogonal multidimensional array representation
    ds["site"].attrs["cf_role"] = "timeseries_id"
    if "cooling_mode" in ds:
        mode = ds["cooling_mode"]
        mode.attrs.update(flag_values=np.arange(len(MODES), dtype=mode.dtype),
                          flag_meanings=" ".join(MODES))
    if "grid_cost" in ds:
        for v in ("electricity_price", "grid_cost"):  # the unit is the registry's, times this
            ds[v].attrs["currency"] = sites[0].grid.currency
    if "it_available_power" in ds:
        ds["it_available_power"].attrs["battery_policy"] = battery_policy
    ds["wind_speed_scale"].attrs["wind_scaling"] = wind_scaling
    if "precipitation" not in wx and any(s.pv.soiling != "none" for s in sites):
        ds.attrs["soiling_note"] = ("no precipitation in the weather: rain never cleans the "
                                    "panels, only manual cleaning (pv.cleaning_interval_days)")
    sheltered = [f"{i} (x{f:.1f})" for i, f in zip(ids, results["wind_speed_scale"])
                 if f > SHELTERED_SCALE]
    if sheltered:
        ds.attrs["wind_warning"] = (
            f"station wind scaled by more than {SHELTERED_SCALE:g} to meet the wind-farm mean at "
            f"{', '.join(sheltered)}: a sheltered station; the hourly shape of its wind (calms, "
            "gusts) is not the wind farms', so treat hourly wind power with care")
    ds.attrs.update({
        "Conventions": CONVENTIONS,
        "featureType": "timeSeries",
        "title": "desert-twin hourly generation, facility power, PUE, water, power balance and "
                 "available IT power",
        "time_convention": "UTC; each label is the start of its hour; powers are the hour's mean",
        "weather_source": wx.attrs["weather_source"] if weather is not None else json.dumps(
            {s.id: f"synthetic year {year}, seed {seed}, from normals of {s.weather_station}"
             for s in sites}),
        "wind_scaling": wind_scaling,
        "weather_location": json.dumps({i: loc[3] for i, loc in zip(ids, located)}),
        "models": "PV: pvlib (SPA, Perez/Hay-Davies, physical IAM, Kimber/HSU soiling, "
                  "Faiman/SAPM/Fuentes, PVWatts DC and inverter); wind: windpowerlib (log/power "
                  "profile, ideal-gas density, oedb power curves, IEC density normalisation); "
                  "facility: IT load with fans and leakage, UPS/distribution/lighting losses, "
                  "cooling plant by topology (reference/cooling.md: EnergyPlus, Lei and Masanet "
                  "2020), ASHRAE TC 9.9 envelopes; balance: load-following battery dispatch "
                  "(renewables first, battery, grid to its limit); availability: each hour's "
                  f"load curve at utilisations {', '.join(f'{u:g}' for u in LOAD_LEVELS)}, "
                  "inverted by linear interpolation",
        "site_configuration": json.dumps(
            {s.id: {k: getattr(s, k).model_dump() for k in ("pv", "wind", "it", "cooling",
                                                            "battery", "grid")} for s in sites}),
        "twin_version": __version__,
        "history": f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ} twin.simulate",
    })
    OUTPUTS.clear()  # what no output of this run took again (twin.allocator.OutputPool)
    return ds


def generation_summary(ds: xr.Dataset) -> pd.DataFrame:
    """Per site: annual energy [Wh/yr] (mean power x 8760 h), capacity factors, peak renewable
    power [W] and hours with no renewable output (NaN hours are excluded and counted)."""
    hours_per_year = 8760.0
    pv, wind, total = (ds[v] for v in ("pv_power", "wind_power", "renewable_power"))
    capacity = ds["pv_capacity"] + ds["wind_capacity"]
    with np.errstate(invalid="ignore", divide="ignore"):
        frame = pd.DataFrame({
            "name": ds["name"].values,
            "pv_energy_wh": pv.mean("time").values * hours_per_year,
            "wind_energy_wh": wind.mean("time").values * hours_per_year,
            "renewable_energy_wh": total.mean("time").values * hours_per_year,
            "pv_capacity_factor": (pv.mean("time") / ds["pv_capacity"]).values,
            "wind_capacity_factor": (wind.mean("time") / ds["wind_capacity"]).values,
            "renewable_capacity_factor": (total.mean("time") / capacity).values,
            "peak_renewable_w": total.max("time").values,
            "zero_renewable_hours": (total <= 0).sum("time").values,
            "missing_hours": total.isnull().sum("time").values,
        }, index=pd.Index(ds["site"].values, name="site"))
    return frame
