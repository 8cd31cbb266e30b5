"""Climate-year studies: many sites x years x climate scenarios x design variants, on Dask.

A study runs the whole twin (:func:`twin.simulate`) for every (year, scenario, variant) on all
its sites at once: one task each, on a Dask cluster (a local one by default). Each task writes
its results straight into its own chunks of a Zarr store and then leaves a marker (the size and
digest of each of its chunk files) in the folder beside the store (``STORE.tasks``, outside the
Zarr hierarchy), so memory stays bounded whatever the study's size, and a study
interrupted (Ctrl-C, a killed worker) resumes without redoing finished tasks; a finished task whose
chunks were deleted, cut short or changed since is run again, never left out of the summary.

- Years: real weather where the user has it (``weather_dir``: a folder of files
  ``SITE_YEAR.epw|.nc|.csv``, or one multi-year ERA5-style NetCDF covering the sites), otherwise
  synthetic years from each site's normals, one seed per year. Every year is
  stored on the hours of a non-leap year (29 February dropped) so that years line up.
- Scenarios: the hourly weather morphed for a warmer climate (Belcher, Hacker and Powell 2005,
  Building Serv. Eng. Res. Technol. 26(1) 49-61): dry bulb shifted by the month's mean change
  and stretched by the change of its daily range, T = T0 + dT_m + a_m (T0 - <T0>_m) with
  a_m = d(range)_m / <range0>_m; relative humidity shifted by the month's change (default 0,
  i.e. kept), so humidity matches the new temperature; the dew point follows from both.
- Variants: a grid of site settings (``cooling.topology=chilled_water``, ``pv.capacity_wp=2e7``,
  ...), validated as the site files are.

Store (Zarr): hourly variables of :data:`STORED` ``(site, year, scenario, variant, time)`` and
annual figures of :data:`ANNUAL` ``(site, year, scenario, variant)``, in SI units (power in W,
energy in W h) with CF attributes from :mod:`twin.variables`, labels as byte strings (``|S``,
which netCDF-C's NCZarr reads) and Zarr format 2 with consolidated metadata; its attribute
``store_format`` (:data:`STORE_FORMAT`) records the layout and units, so that a store of another
format is refused rather than misread. :func:`summary` gives P10/P50/P90 over years.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import shutil
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from twin._version import __version__
from twin.facility import facility_summary
from twin.psychrometrics import dew_point, humidity_ratio_from_rh
from twin.simulate import simulate
from twin.storage import balance_summary
from twin.timebase import without_leap_day
from twin.variables import CONVENTIONS, VARIABLES, annotate, hourly_time

BASE_YEAR = 2025  # the non-leap calendar every year is stored on
HOURS = 8760
STORED = ("renewable_power", "pv_power", "wind_power", "it_power", "facility_power", "pue",
          "water_use", "it_available_power", "grid_import", "curtailment", "battery_soc",
          "temp_air")
ANNUAL = ("renewable_fraction", "annual_pue", "wue", "hours_over_allowable", "curtailed_energy",
          "grid_energy", "emissions", "it_available_mean")  # units: twin.variables
# summary() columns are scalars, so their names say their unit (as the keys of facility_summary
# and balance_summary do); the store's arrays carry theirs in attributes
SUMMARY_NAMES = {"renewable_fraction": "renewable_fraction", "annual_pue": "annual_pue",
                 "wue": "wue_l_per_kwh", "hours_over_allowable": "hours_over_allowable",
                 "curtailed_energy": "curtailed_energy_wh", "grid_energy": "grid_energy_wh",
                 "emissions": "emissions_t", "it_available_mean": "it_available_mean_w"}
# the store's layout and units: 1 (no attribute) held annual energies in MW h and the mean
# available IT power in MW; 2 holds them in W h and W; 3 (the same numbers) has labels as byte
# strings, time bounds and its task markers beside the store, not in it
STORE_FORMAT = 3
STORE_FORMATS = {1: "annual energies in MW h, mean available IT power in MW",
                 2: "energies in W h, powers in W, unicode labels and task markers inside",
                 3: "energies in W h, powers in W, byte-string labels, task markers beside it"}
QUANTILES = (0.1, 0.5, 0.9)


def markers(store: Path) -> Path:
    """The folder of task markers of ``store``: beside it (``STORE.tasks``), so that the store
    holds nothing but Zarr arrays (zarr and netCDF-C's NCZarr open it as it is)."""
    store = Path(store)
    return store.with_name(store.name + ".tasks")


# the changes a scenario may make [K, K, %]: the morphing shifts and stretches observed weather,
# which stays meaningful for the warmings climate projections give (a few K), not for +999 K
SCENARIO_LIMITS = {"temperature_shift_k": (-10.0, 10.0, "K"),
                   "daily_range_change_k": (-10.0, 10.0, "K"),
                   "relative_humidity_shift_pct": (-50.0, 50.0, "%")}


def _monthly(value, name: str) -> tuple[float, ...]:
    values = np.broadcast_to(np.asarray(value, dtype=float), (12,))
    if not np.isfinite(values).all():
        raise ValueError(f"{name} must be finite (one value or 12 monthly values)")
    return tuple(float(v) for v in values)


def _bounded(values: tuple[float, ...], scenario: str, name: str) -> tuple[float, ...]:
    low, high, unit = SCENARIO_LIMITS[name]
    if not all(low <= v <= high for v in values):
        worst = max(values, key=lambda v: max(low - v, v - high))
        raise ValueError(f"scenario {scenario}: {name} {worst:+g} {unit} is outside "
                         f"{low:+g}..{high:+g} {unit}")
    return values


@dataclass(frozen=True)
class Scenario:
    """Monthly changes of the climate [K, K, %]: mean dry bulb, its daily range, and relative
    humidity. One value applies to every month."""

    name: str
    temperature_shift_k: tuple[float, ...] = (0.0,) * 12
    daily_range_change_k: tuple[float, ...] = (0.0,) * 12
    relative_humidity_shift_pct: tuple[float, ...] = (0.0,) * 12

    def __post_init__(self):
        for f in ("temperature_shift_k", "daily_range_change_k", "relative_humidity_shift_pct"):
            object.__setattr__(self, f, _bounded(_monthly(getattr(self, f), f"{self.name}: {f}"),
                                                 self.name, f))

    @classmethod
    def parse(cls, text: str) -> Scenario:
        """``baseline`` or a uniform warming such as ``+1.5K`` or ``+2`` (within
        :data:`SCENARIO_LIMITS`: -10..+10 K)."""
        if text.strip().lower() in ("baseline", "0", "+0k"):
            return cls("baseline")
        try:
            delta = float(text.strip().upper().removesuffix("K"))
        except ValueError:
            raise ValueError(f"scenario {text!r}: give a warming such as +1.5K (or baseline)") \
                from None
        if not np.isfinite(delta):
            raise ValueError(f"scenario {text!r}: give a warming such as +1.5K (or baseline)")
        return cls(f"{delta:+g}K", temperature_shift_k=delta)


def morph(wx: xr.Dataset, scenario: Scenario) -> xr.Dataset:
    """The weather of ``wx`` in the climate of ``scenario`` (Belcher et al. 2005, see module)."""
    if scenario.name == "baseline" or not any(
            any(getattr(scenario, f)) for f in ("temperature_shift_k", "daily_range_change_k",
                                                "relative_humidity_shift_pct")):
        return wx
    t0 = wx["temp_air"].to_series()
    month = t0.index.month.to_numpy() - 1
    day = t0.index.floor("D")
    daily = t0.groupby(day).agg(["max", "min"])
    mean_range = (daily["max"] - daily["min"]).groupby(daily.index.month).mean()
    mean_t = t0.groupby(t0.index.month).transform("mean").to_numpy()
    shift = np.array(scenario.temperature_shift_k)[month]
    stretch = (np.array(scenario.daily_range_change_k) / mean_range.reindex(
        range(1, 13)).to_numpy())[month]
    t = t0.to_numpy() + shift + np.nan_to_num(stretch) * (t0.to_numpy() - mean_t)
    rh = np.clip(wx["relative_humidity"].to_numpy()
                 + np.array(scenario.relative_humidity_shift_pct)[month], 1.0, 100.0)
    p = wx["pressure"].to_numpy()
    out = wx.copy()
    out["temp_air"] = (wx["temp_air"].dims, t, wx["temp_air"].attrs)
    out["relative_humidity"] = (wx["relative_humidity"].dims, rh, wx["relative_humidity"].attrs)
    out["temp_dew"] = (wx["temp_dew"].dims, np.minimum(dew_point(humidity_ratio_from_rh(
        t, rh, p), p), t), wx["temp_dew"].attrs)
    out.attrs["climate_scenario"] = f"{scenario.name} (Belcher et al. 2005 morphing)"
    return out


@dataclass(frozen=True)
class Variant:
    """A design variant: site settings by dotted name (``cooling.topology``) -> value."""

    name: str
    updates: dict = field(default_factory=dict)

    def apply(self, site):
        """``site`` with the updates, validated as a site file is (SiteError naming the
        variant, the site and the field)."""
        from sites.catalog import validate_site

        data = site.model_dump(by_alias=True)
        for key, value in self.updates.items():
            table, _, name = key.partition(".")
            if not name or table not in data or not isinstance(data[table], dict):
                raise ValueError(f"variant {self.name}: {key!r} is not a setting (table.field, "
                                 "e.g. cooling.topology)")
            data[table][name] = value
        return validate_site(data, f"variant {self.name} at site {site.id}")


def _value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _named(spec: str) -> Variant:
    """``NAME: table.field=value table.field=value``: one variant with its name."""
    name, _, settings = spec.partition(":")
    updates = {}
    for item in settings.split():
        key, sep, value = item.partition("=")
        if not sep or not value or "." not in key:
            raise ValueError(f"variant {spec!r}: write NAME: table.field=value "
                             "[table.field=value ...]")
        updates[key.strip()] = _value(value.strip())
    if not name.strip() or not updates:
        raise ValueError(f"variant {spec!r}: write NAME: table.field=value [table.field=value ...]")
    return Variant(name.strip(), updates)


def parse_variants(specs: Sequence[str], paired: bool = False) -> list[Variant]:
    """Variants from their specifications: named ones, ``NAME: table.field=value
    table.field=value`` (each one variant, e.g. ``no_battery: battery.energy_wh=0
    battery.power_w=0``), or axes ``table.field=value1,value2``: their grid (every
    combination), or with ``paired`` their values taken together (the axes' first values, then
    their second ...; the axes must have as many values). No spec gives the one variant
    ``as_configured``."""
    named = [s for s in specs if ":" in s.partition("=")[0]]
    if named:
        if len(named) != len(specs):
            raise ValueError("give either named variants (NAME: table.field=value ...) or axes "
                             "(table.field=v1,v2), not both")
        variants = [_named(s) for s in named]
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must differ: {', '.join(names)}")
        return variants
    axes = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        if not sep or not values:
            raise ValueError(f"variant {spec!r}: write table.field=value[,value...]")
        axes.append([(key.strip(), _value(v.strip())) for v in values.split(",")])
    if not axes:
        return [Variant("as_configured")]
    if paired:
        if len({len(a) for a in axes}) != 1:
            raise ValueError("paired variants: every axis needs as many values (got "
                             f"{', '.join(str(len(a)) for a in axes)})")
        combos = list(zip(*axes))
    else:
        combos = list(itertools.product(*axes))
    return [Variant(" ".join(f"{k}={json.dumps(v) if isinstance(v, bool) else v}"
                             for k, v in combo), dict(combo))
            for combo in combos]


def _flat(table: dict, prefix: str = "") -> dict:
    """A TOML table of tables as dotted keys: ``{"battery": {"power_w": 0}}`` ->
    ``{"battery.power_w": 0}``."""
    out = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


CONFIG_KEYS = ("sites", "years", "first_year", "scenarios", "variants", "weather_dir",
               "sites_dir", "battery_policy", "sizing")


def _read_config(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"{path}: cannot read the study ({err})") from None


def study_from_config(path) -> Study:
    """The study a TOML file describes::

        sites = ["hami", "golmud", "zhongwei"]
        first_year = 1            # a synthetic year's seed, or a calendar year of weather_dir
        years = 10
        scenarios = ["baseline", "+2K"]
        battery_policy = "none"   # optional; weather_dir, sites_dir (list) too
        [variants.no_battery]
        battery = {energy_wh = 0, power_w = 0}
        [variants.battery_40mwh]
        battery = {energy_wh = 4e7, power_w = 1e7}

    Relative folders are taken from the file's folder. ValueError naming the file and the key.
    A ``[sizing]`` table is read by :func:`sizing_from_config`."""
    path = Path(path)
    data = _read_config(path)
    if unknown := [k for k in data if k not in CONFIG_KEYS]:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}; known: "
                         f"{', '.join(CONFIG_KEYS)}")
    sites = data.get("sites")
    if not isinstance(sites, list) or not sites or not all(isinstance(s, str) for s in sites):
        raise ValueError(f"{path}: sites must be a list of site ids")
    years, first = data.get("years", 30), data.get("first_year", 1)
    if not (isinstance(years, int) and years >= 1 and isinstance(first, int) and first >= 0):
        raise ValueError(f"{path}: years must be a whole number >= 1 and first_year >= 0")
    variants = data.get("variants", {})
    if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
        raise ValueError(f"{path}: variants must be tables [variants.NAME] of site settings")
    scenarios = data.get("scenarios", ["baseline"])
    if not isinstance(scenarios, list) or not all(isinstance(s, str) for s in scenarios):
        raise ValueError(f"{path}: scenarios must be a list such as [\"baseline\", \"+2K\"]")

    def folder(value):
        return str(path.parent / value)

    sites_dir = data.get("sites_dir")
    try:
        return Study(tuple(sites), tuple(range(first, first + years)),
                     tuple(Scenario.parse(s) for s in scenarios),
                     tuple(Variant(name, _flat(v)) for name, v in variants.items())
                     or (Variant("as_configured"),),
                     weather_dir=folder(data["weather_dir"]) if "weather_dir" in data else None,
                     sites_dir=tuple(folder(d) for d in ([sites_dir] if isinstance(
                         sites_dir, str) else sites_dir)) if sites_dir else None,
                     battery_policy=str(data.get("battery_policy", "none")))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


@dataclass(frozen=True)
class Study:
    """What a study computes: sites x years x scenarios x variants (see the module)."""

    site_ids: tuple[str, ...]
    years: tuple[int, ...]
    scenarios: tuple[Scenario, ...] = (Scenario("baseline"),)
    variants: tuple[Variant, ...] = (Variant("as_configured"),)
    weather_dir: str | None = None
    sites_dir: tuple[str, ...] | None = None  # folders of site TOML files besides the catalog
    battery_policy: str = "none"

    def tasks(self) -> list[tuple[int, int, int]]:
        return list(itertools.product(range(len(self.years)), range(len(self.scenarios)),
                                      range(len(self.variants))))

    def config(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)

    def site_years(self) -> int:
        return len(self.site_ids) * len(self.tasks())


@functools.lru_cache(maxsize=8)
def _catalog(sites_dir: tuple[str, ...] | None) -> dict:
    """The site catalog, read once per worker process."""
    from sites import load_catalog

    return load_catalog(list(sites_dir) if sites_dir else None)


def _sites(study: Study):
    catalog = _catalog(study.sites_dir)
    if unknown := [s for s in study.site_ids if s not in catalog]:
        raise ValueError(f"unknown site id(s) {', '.join(unknown)}; known: {', '.join(catalog)}")
    return [catalog[s] for s in study.site_ids]


@functools.lru_cache(maxsize=16)
def _multi_year(path: str, latitude: float, longitude: float, altitude: float) -> xr.Dataset:
    """A site's point of a multi-year weather file, read once per worker process."""
    import weather

    return weather.read(path, latitude=latitude, longitude=longitude, altitude=altitude)


def _on_base_calendar(wx: xr.Dataset, source: str) -> xr.Dataset:
    """One year of weather on the hours of the base year (29 February dropped)."""
    times = wx.indexes["time"]
    wx = wx.isel(time=np.flatnonzero(without_leap_day(times)))
    if wx.sizes["time"] != HOURS:
        raise ValueError(f"{source}: {wx.sizes['time']} hours, not one whole year")
    return wx.assign_coords(time=pd.date_range(f"{BASE_YEAR}-01-01", periods=HOURS, freq="h"))


def _weather(study: Study, site, year: int) -> xr.Dataset:
    """The site's weather of ``year``: from ``weather_dir`` (a folder of SITE_YEAR files, or one
    multi-year NetCDF), or a synthetic year (seed = year) on the base calendar."""
    if not study.weather_dir:
        return site.weather(year=BASE_YEAR, seed=year)
    source = Path(study.weather_dir)
    if source.is_file():
        wx = _multi_year(str(source), site.latitude, site.longitude, site.altitude_m)
        return _on_base_calendar(wx.sel(time=str(year)), f"{source}, year {year}")
    import weather

    files = sorted(source.glob(f"{site.id}_{year}.*"))
    if not files:
        raise ValueError(f"no weather file {site.id}_{year}.* in {source}")
    return _on_base_calendar(weather.read(files[0], latitude=site.latitude,
                                          longitude=site.longitude, altitude=site.altitude_m),
                             str(files[0]))


def annual_figures(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """The :data:`ANNUAL` figures ``(site,)`` of one simulated year."""
    facility, balance = facility_summary(ds), balance_summary(ds)
    return {"renewable_fraction": balance["renewable_fraction"].to_numpy(),
            "annual_pue": facility["pue"].to_numpy(),
            "wue": facility["wue_l_per_kwh"].to_numpy(),
            "hours_over_allowable": facility["hours_outside_allowable"].to_numpy(float),
            "curtailed_energy": balance["curtailed_energy_wh"].to_numpy(),
            "grid_energy": balance["grid_energy_wh"].to_numpy(),
            "emissions": balance["emissions_t"].to_numpy(),
            "it_available_mean": balance["it_available_mean_w"].to_numpy()}


def run_task(study: Study, store: str, task: tuple[int, int, int]) -> tuple[int, int, int]:
    """One (year, scenario, variant) of ``study``: simulate every site, write the results into
    their region of ``store``, then leave the task's marker. Runs on a Dask worker."""
    i, j, k = task
    sites = [study.variants[k].apply(s) for s in _sites(study)]
    wx = {s.id: morph(_weather(study, s, study.years[i]), study.scenarios[j]) for s in sites}
    # one thread: a study's tasks run at once on Dask's workers
    ds = simulate(wx, sites, battery_policy=study.battery_policy, threads=1)
    dims = ("site", "year", "scenario", "variant")
    out = xr.Dataset(
        {**{v: ((*dims, "time"), ds[v].values.astype(np.float32)[:, None, None, None, :])
            for v in STORED},
         **{v: (dims, a[:, None, None, None]) for v, a in annual_figures(ds).items()}})
    region = {"site": slice(None), "year": slice(i, i + 1), "scenario": slice(j, j + 1),
              "variant": slice(k, k + 1), "time": slice(None)}
    out.to_zarr(store, region=region, zarr_format=2)
    _mark_done(Path(store), task)
    return task


def _task_chunks(store: Path, task: tuple[int, int, int]) -> dict[str, Path]:
    """The chunk file of every variable that ``task`` writes (one chunk each), by store key."""
    i, j, k = task
    out = {}
    for v in STORED + ANNUAL:
        separator = json.loads((store / v / ".zarray").read_text()).get(
            "dimension_separator") or "."
        key = separator.join(map(str, (0, i, j, k) + ((0,) if v in STORED else ())))
        out[f"{v}/{key}"] = store / v / key
    return out


def _fingerprint(path: Path) -> list | None:
    """Size and BLAKE2 digest of a chunk file; None where the chunk is absent (Zarr does not
    write a chunk that is all fill value)."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    return [len(data), hashlib.blake2b(data, digest_size=16).hexdigest()]


def _mark_done(store: Path, task: tuple[int, int, int]) -> None:
    """The task's marker: the fingerprints of its chunks, written atomically after them."""
    marker = markers(store) / "_".join(map(str, task))
    partial = marker.with_name(marker.name + ".partial")
    partial.write_text(json.dumps({key: _fingerprint(path)
                                   for key, path in _task_chunks(store, task).items()}))
    partial.replace(marker)


def damage(store: Path, task: tuple[int, int, int]) -> str | None:
    """What is wrong with the chunks of a finished ``task`` (a chunk file deleted, cut short or
    changed since its marker was written), or None when they are as written. A marker of an
    earlier version (empty) can only show a chunk file that is missing."""
    store = Path(store)
    text = (markers(store) / "_".join(map(str, task))).read_text()
    chunks = _task_chunks(store, task)
    if not text:
        missing = [key for key, path in chunks.items() if not path.is_file()]
        return f"chunk {missing[0]} is missing" if missing else None
    try:
        recorded = json.loads(text)
    except ValueError:
        return "its marker is unreadable"
    for key, path in chunks.items():
        if key not in recorded:
            return f"its marker does not record chunk {key}"
        found = _fingerprint(path)
        if found != recorded[key]:
            what = ("is missing" if found is None else "is new" if recorded[key] is None
                    else "was cut short" if found[0] < recorded[key][0] else "has changed")
            return f"chunk {key} {what}"
    return None


def open_study(store: Path) -> xr.Dataset:
    """A study store opened for reading, every finished task's chunks checked against its
    marker first (:func:`damage`): zarr reads a chunk file cut short without an error, part of
    it from uninitialised memory, so a damaged store must never be read unchecked. ValueError
    names the first damaged task."""
    store = Path(store)
    folder = markers(store)
    if not store.is_dir():
        raise ValueError(f"{store}: no study store there")
    for marker in sorted(folder.iterdir()) if folder.is_dir() else []:
        if marker.name.endswith(".partial"):
            continue
        task = tuple(int(x) for x in marker.name.split("_"))
        reason = damage(store, task)
        if reason is not None:
            raise ValueError(f"{store}: task {marker.name} (site, year, scenario/variant index) "
                             f"is damaged ({reason}): run the study again to recompute it")
    return xr.open_zarr(store)


def _template(study: Study) -> xr.Dataset:
    """The store's layout: every variable as a lazy array chunked one task per chunk."""
    import dask.array as da

    dims = ("site", "year", "scenario", "variant")
    shape = (len(study.site_ids), len(study.years), len(study.scenarios), len(study.variants))
    chunks = (len(study.site_ids), 1, 1, 1)
    ds = xr.Dataset(
        {**{v: ((*dims, "time"), da.full((*shape, HOURS), np.nan, chunks=(*chunks, HOURS),
                                         dtype=np.float32)) for v in STORED},
         **{v: (dims, da.full(shape, np.nan, chunks=chunks)) for v in ANNUAL}},
        coords={"site": list(study.site_ids), "year": list(study.years),
                "scenario": [s.name for s in study.scenarios],
                "variant": [v.name for v in study.variants],
                "time": pd.date_range(f"{BASE_YEAR}-01-01", periods=HOURS, freq="h")})
    ds = annotate(hourly_time(ds))
    calendar = (f"every year of the study is stored on the hours of {BASE_YEAR} (a non-leap "
                "year; 29 February of a leap year dropped), so that years line up hour by hour")
    ds["time"].attrs["comment"] = ds["year"].attrs["comment"] = calendar
    ds["year"].encoding["dtype"] = "int32"  # cfchecker 4.1 takes no int64 for numbers
    ds.attrs.update({"Conventions": CONVENTIONS, "title": "desert-twin climate-year study",
                     "history": f"twin.study, desert-twin {__version__}",
                     "store_format": STORE_FORMAT, "study": study.config(),
                     "time_convention": f"UTC hour starts on the {BASE_YEAR} calendar for every "
                                        "year (29 February dropped)"})
    return ds


def open_store(study: Study, store: Path, overwrite: bool = False) -> list[tuple[int, int, int]]:
    """Create ``store`` for ``study`` (or reuse it when it holds the same study in this
    :data:`STORE_FORMAT`) and return the tasks still to run. A store of another study, or of
    another format, raises ValueError unless ``overwrite``."""
    store = Path(store)
    done_dir = markers(store)
    if store.exists() and overwrite:
        shutil.rmtree(store)
    if store.exists():
        attrs = xr.open_zarr(store).attrs
        found = attrs.get("store_format", 1)  # format 1 did not record itself
        if "study" in attrs and found != STORE_FORMAT:
            raise ValueError(
                f"{store} is a study store of format {found} "
                f"({STORE_FORMATS.get(found, 'unknown to this version')}), not {STORE_FORMAT} "
                f"({STORE_FORMATS[STORE_FORMAT]}): give a new --out path, or --overwrite it")
        if attrs.get("study") != study.config():
            raise ValueError(f"{store} holds another study: give a new path, or overwrite it")
    else:
        if done_dir.exists():  # the markers of a store deleted since: none of them holds
            shutil.rmtree(done_dir)
        _template(study).to_zarr(store, compute=False, zarr_format=2)
    # a store copied without its markers: every task runs again (and rewrites the same numbers)
    done_dir.mkdir(exist_ok=True)
    done = {p.name for p in done_dir.iterdir()}
    todo = []
    for task in study.tasks():
        name = "_".join(map(str, task))
        if name in done and damage(store, task) is not None:  # recomputed, never dropped
            (done_dir / name).unlink()
            done.discard(name)
        if name not in done:
            todo.append(task)
    return todo


def local_cluster(workers: int, **options):
    """A local Dask cluster of ``workers`` single-threaded worker processes for a study, their
    memory allocator set to keep freed arrays for reuse and numpy's huge pages off
    (twin.allocator)."""
    import dask
    from distributed import LocalCluster

    from twin.allocator import KEEP_FREED_MEMORY, NO_HUGE_PAGES

    environ = {f"distributed.nanny.pre-spawn-environ.{k}": v
               for k, v in {**KEEP_FREED_MEMORY, **NO_HUGE_PAGES}.items()}
    with dask.config.set(environ):  # read once by each nanny, for every (re)start
        return LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None,
                            **options)


def run_study(study: Study, store: Path, client=None, overwrite: bool = False,
              progress: Callable[[int, int], None] | None = None) -> xr.Dataset:
    """Run the tasks of ``study`` not yet in ``store`` on the Dask ``client`` (None: one after
    the other in this process), reporting ``progress(done, total)``; returns the store, opened
    lazily."""
    store = Path(store)
    todo = open_store(study, store, overwrite)
    total = len(study.tasks())
    finished = total - len(todo)
    report = progress or (lambda done, all_: None)
    report(finished, total)
    if client is None:
        for task in todo:
            run_task(study, str(store), task)
            finished += 1
            report(finished, total)
    else:
        from distributed import as_completed

        futures = [client.submit(run_task, study, str(store), t, pure=False) for t in todo]
        for future in as_completed(futures):
            future.result()  # a failed task raises here, with its own error
            finished += 1
            report(finished, total)
    return xr.open_zarr(store)


def summary_column(name: str, percentile: int) -> str:
    """The :func:`summary` column of the annual figure ``name`` at ``percentile``: its name with
    its unit (:data:`SUMMARY_NAMES`), e.g. ``grid_energy_wh_p50``."""
    return f"{SUMMARY_NAMES[name]}_p{percentile}"


def summary(ds: xr.Dataset) -> pd.DataFrame:
    """P10, P50 and P90 over the years of every annual figure, per site, scenario and variant,
    in the store's units (power in W, energy in W h), each column named by
    :func:`summary_column`. A figure whose
    ``units`` attribute is not the registry's (a store of an older format) raises ValueError."""
    for name in ANNUAL:
        units, expected = ds[name].attrs.get("units"), VARIABLES[name].units
        if units is not None and units != expected:
            raise ValueError(f"{name} is in {units!r}, not {expected!r}: a study store of an "
                             "older format; run the study again (a new --out, or --overwrite)")
    figures = ds[list(ANNUAL)].load()
    for name in ANNUAL:  # a hole would silently leave its year out of the quantiles
        missing = figures[name].isnull()
        if missing.any():
            first = dict(zip(missing.dims, np.argwhere(missing.values)[0], strict=True))
            at = missing[first]
            raise ValueError(
                f"{name} is missing for site {at.site.item()}, year {at.year.item()}, "
                f"scenario {at.scenario.item()}, variant {at.variant.item()}: the store "
                "is damaged or unfinished; run the study again to recompute that task")
    q = figures.quantile(list(QUANTILES), dim="year")
    frame = q.to_dataframe().drop(columns=[c for c in q.coords if c not in q.dims],
                                  errors="ignore")
    frame = frame.unstack("quantile")
    frame.columns = [summary_column(v, round(100 * p)) for v, p in frame.columns]
    return frame


# ---- the plant that meets a renewable target, per site and scenario (twin.sizing) ----

SIZING_KEYS = ("renewable_fraction", "objective", "reliability", "it_mw")


@dataclass(frozen=True)
class StudySizing:
    """What a study sizes (:func:`size_plants`): the target share of renewable energy, the
    objective (cost or carbon), the share of the study's years that must meet it (None: size
    on the study's first year alone) and the IT power [W] (None: each site's)."""

    renewable_fraction: float
    objective: str = "cost"
    reliability: float | None = None
    it_power_w: float | None = None

    def __post_init__(self):
        from twin.sizing import check_objective

        check_objective(self.objective)
        if not (isinstance(self.renewable_fraction, int | float)
                and 0.0 <= self.renewable_fraction <= 1.0):
            raise ValueError(f"renewable_fraction must be within 0..1, got "
                             f"{self.renewable_fraction!r}")


def sizing_from_config(path) -> StudySizing | None:
    """The ``[sizing]`` table of a study file, or None without one::

        [sizing]
        renewable_fraction = 0.9
        objective = "cost"        # or "carbon"
        reliability = "p90"       # optional: met in 90 % of the study's years (default: the
                                  # first year alone)
        it_mw = 50                # optional: IT power of every site [MW] (default: each site's)
    """
    from twin.sizing import parse_reliability
    from twin.variables import W_PER_MW

    path = Path(path)
    table = _read_config(path).get("sizing")
    if table is None:
        return None
    if not isinstance(table, dict) or "renewable_fraction" not in table:
        raise ValueError(f"{path}: [sizing] needs renewable_fraction (and optionally "
                         f"{', '.join(SIZING_KEYS[1:])})")
    if unknown := [k for k in table if k not in SIZING_KEYS]:
        raise ValueError(f"{path}: [sizing]: unknown key(s) {', '.join(unknown)}; known: "
                         f"{', '.join(SIZING_KEYS)}")
    try:
        it_mw = table.get("it_mw")
        if it_mw is not None and not (isinstance(it_mw, int | float) and it_mw > 0):
            raise ValueError(f"it_mw must be a number > 0, got {it_mw!r}")
        return StudySizing(
            table["renewable_fraction"], str(table.get("objective", "cost")),
            parse_reliability(table["reliability"]) if "reliability" in table else None,
            None if it_mw is None else float(it_mw) * W_PER_MW)
    except ValueError as err:
        raise ValueError(f"{path}: [sizing]: {err}") from None


def size_plant(study: Study, spec: StudySizing, site_id: str, scenario: int) -> dict:
    """The sized plant of one site in one scenario (the study's first variant, its years'
    weather as the study simulates it): :func:`twin.sizing.size` on the first year, or
    :func:`twin.sizing.size_for_reliability` over every year. The Sizing's fields, and the
    years sized over and how many met the target. Runs on a Dask worker."""
    from twin import sizing

    site = study.variants[0].apply(next(s for s in _sites(study) if s.id == site_id))
    years = study.years if spec.reliability is not None else study.years[:1]
    profiles = [sizing.site_profiles(site, it_power_w=spec.it_power_w, weather=morph(
        _weather(study, site, year), study.scenarios[scenario])) for year in years]
    if spec.reliability is None:
        plant, met, binding = sizing.size(profiles[0], spec.renewable_fraction,
                                          objective=spec.objective), 1, years
    else:
        found = sizing.size_for_reliability(profiles, spec.renewable_fraction,
                                            spec.reliability, objective=spec.objective,
                                            labels=years)
        plant, met = found.sizing, found.met
        binding = [years[i] for i in found.binding]
    return {**asdict(plant), "years_sized": len(years), "years_met": met,
            "binding_years": " ".join(map(str, binding))}


def size_plants(study: Study, spec: StudySizing, client=None,
                progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """:func:`size_plant` for every site and scenario (on the Dask ``client``, else one after
    the other): one row each, index (site, scenario), the :class:`twin.sizing.Sizing` fields in
    SI units (``pv_wp``, ``battery_wh``, ``annual_cost``, ``cost_per_mwh_it`` ...) and
    ``years_sized``, ``years_met``, ``binding_years``."""
    keys = [(s, j) for s in study.site_ids for j in range(len(study.scenarios))]
    report = progress or (lambda done, total: None)
    report(0, len(keys))
    if client is None:
        rows = []
        for key in keys:
            rows.append(size_plant(study, spec, *key))
            report(len(rows), len(keys))
    else:
        from distributed import as_completed

        futures = {client.submit(size_plant, study, spec, *key, pure=False): key
                   for key in keys}
        done = {}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            report(len(done), len(keys))
        rows = [done[key] for key in keys]
    index = pd.MultiIndex.from_tuples([(s, study.scenarios[j].name) for s, j in keys],
                                      names=["site", "scenario"])
    return pd.DataFrame(rows, index=index).drop(columns=["site"])
