"""The twin's results the service answers from: every catalog site simulated once at start-up for
a synthetic climate year, mapped onto calendar dates (typical-year mode: a calendar hour takes
the climate year's hour with the same month, day and time; 29 February takes 28 February); and,
where a weather forecast file is given for a site, that site simulated on the forecast, which
answers for the hours it covers (forecast mode). Every answer says which it used."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

import twin
import weather
from sites import load_catalog
from twin.schedule import Timeline

TYPICAL_YEAR, FORECAST = "typical_year", "forecast"
# hourly variables of GET /v1/sites/{id}/timeseries: API name (units in it) -> Dataset variable
TIMESERIES = {"renewable_power_w": "renewable_power", "pv_power_w": "pv_power",
              "wind_power_w": "wind_power", "facility_power_w": "facility_power",
              "it_power_w": "it_power", "it_available_power_w": "it_available_power",
              "pue": "pue", "marginal_pue": "marginal_pue",
              "facility_power_intercept_w": "facility_power_intercept",
              "carbon_intensity_g_per_kwh": "carbon_intensity",
              "electricity_price_per_kwh": "electricity_price", "battery_soc": "battery_soc",
              "battery_power_w": "battery_power", "grid_import_w": "grid_import",
              "temp_air_degc": "temp_air"}


def hours(start: datetime, end: datetime) -> pd.DatetimeIndex:
    """The UTC hour starts of [start, end)."""
    return pd.date_range(start, end, freq="h", inclusive="left", tz=UTC)


class TwinData:
    """Every catalog site's hourly results for one climate year (``twin.simulate``)."""

    def __init__(self, year: int, seed: int, battery_policy: str, sites_dir=None,
                 forecast_dir=None):
        self.catalog = load_catalog(sites_dir)
        self.ds = twin.simulate(None, list(self.catalog.values()), year=year, seed=seed,
                                battery_policy=battery_policy)
        self.year, self.battery_policy = year, battery_policy
        self.currency = self.ds["grid_cost"].attrs["currency"]
        self._configuration = json.loads(self.ds.attrs["site_configuration"])
        self.summary = twin.facility_summary(self.ds).join(
            twin.balance_summary(self.ds).drop(columns="name")).join(
            twin.generation_summary(self.ds).drop(columns="name"))
        # answers read numpy arrays, not the Dataset: a request costs microseconds, not xarray's
        # milliseconds of indexing
        self._arrays = {v: self.ds[v].values for v in self.ds.data_vars
                        if self.ds[v].dims == ("site", "time")}
        self._rows = {s: i for i, s in enumerate(self.ds["site"].values)}
        climate = pd.DatetimeIndex(self.ds["time"].values)
        self._hour_of = np.full((13, 32, 24), -1)  # [month, day, hour] -> climate-year hour
        self._hour_of[climate.month, climate.day, climate.hour] = np.arange(len(climate))
        self._hour_of[2, 29] = self._hour_of[2, 28]
        self.forecasts = {} if forecast_dir is None else self._forecasts(Path(forecast_dir))

    def _forecasts(self, folder: Path) -> dict[str, tuple[pd.DatetimeIndex, dict]]:
        """Each ``SITE.nc`` in ``folder`` (ERA5-style NetCDF, weather.read) simulated: the
        site's forecast hours and its ``(time,)`` arrays."""
        if not folder.is_dir():
            raise ValueError(f"forecast directory {folder} does not exist")
        out = {}
        for path in sorted(folder.glob("*.nc")):
            site = self.catalog.get(path.stem)
            if site is None:
                raise ValueError(f"forecast file {path}: no catalog site {path.stem!r} (name "
                                 f"files SITE.nc; sites: {', '.join(self.catalog)})")
            wx = weather.read(path, latitude=site.latitude, longitude=site.longitude,
                              altitude=site.altitude_m)
            ds = twin.simulate(wx, site, battery_policy=self.battery_policy).isel(site=0)
            out[site.id] = (pd.DatetimeIndex(ds["time"].values).tz_localize(UTC),
                            {v: ds[v].values for v in self._arrays})
        return out

    def mode(self, site_ids: list[str], calendar: pd.DatetimeIndex) -> str:
        """Which data answer for these sites and hours: typical_year, forecast, or both."""
        covered = [self.forecasts[s][0].get_indexer(calendar) >= 0 for s in site_ids
                   if s in self.forecasts]
        hits = sum(int(c.sum()) for c in covered)
        if hits == 0:
            return TYPICAL_YEAR
        return FORECAST if hits == len(site_ids) * len(calendar) else f"{FORECAST}+{TYPICAL_YEAR}"

    def climate_hours(self, calendar: pd.DatetimeIndex) -> np.ndarray:
        """Index into the climate year of each calendar hour (typical-year mode)."""
        return self._hour_of[calendar.month, calendar.day, calendar.hour]

    def values(self, variable: str, site_ids: list[str], calendar: pd.DatetimeIndex):
        """``(site, hour)`` values of a Dataset variable on calendar hours."""
        rows = [self._rows[s] for s in site_ids]
        out = self._arrays[variable][np.ix_(rows, self.climate_hours(calendar))]
        for i, s in enumerate(site_ids):
            if s in self.forecasts:
                times, arrays = self.forecasts[s]
                position = times.get_indexer(calendar)
                hit = position >= 0
                out[i, hit] = arrays[variable][position[hit]]
        return out

    def timeline(self, site_ids: list[str], calendar: pd.DatetimeIndex,
                 held_w: np.ndarray) -> Timeline:
        """The scheduling timeline of ``site_ids`` on calendar hours, with ``held_w``
        ``(site, hour)`` [W] of reserved IT power committed."""
        def get(v):
            return self.values(v, site_ids, calendar)

        capacity = np.array([self.catalog[s].it.capacity_w for s in site_ids])
        available = get("it_available_power")
        return Timeline(site_ids=tuple(site_ids), time=calendar, it_capacity_w=capacity,
                        it_headroom_w=available, it_committed_w=np.zeros_like(available),
                        marginal_pue=get("marginal_pue"), pue=get("pue"),
                        carbon_intensity_g_per_kwh=get("carbon_intensity"),
                        price_per_kwh=get("electricity_price"),
                        currency=self.currency).with_committed(held_w)

    def site_summary(self, site_id: str) -> dict:
        """The site's annual figures (floats, ints and names), units in the keys; None where a
        figure is undefined (the wind capacity factor of a site without wind turbines)."""
        row = self.summary.loc[site_id]
        values = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        return {k: None if isinstance(v, float) and not np.isfinite(v) else v
                for k, v in values.items()}

    def configuration(self, site_id: str) -> dict:
        return self._configuration[site_id]


def utc(t: datetime) -> datetime:
    """A timestamp as an aware UTC datetime (naive ones are taken as UTC)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def ceil_hour(t: datetime) -> datetime:
    t = utc(t)
    floor = t.replace(minute=0, second=0, microsecond=0)
    return floor if floor == t else floor + timedelta(hours=1)
