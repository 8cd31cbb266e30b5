"""The twin's results the service answers from: every catalog site simulated once at start-up for
a synthetic climate year, mapped onto calendar dates (typical-year mode: a calendar hour takes
the climate year's hour with the same month, day and time; 29 February takes 28 February)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

import twin
from sites import load_catalog
from twin.schedule import Timeline

DATA_MODE = "typical_year"
# hourly variables of GET /v1/sites/{id}/timeseries: API name (units in it) -> Dataset variable
TIMESERIES = {"renewable_power_w": "renewable_power", "pv_power_w": "pv_power",
              "wind_power_w": "wind_power", "facility_power_w": "facility_power",
              "it_power_w": "it_power", "it_available_power_w": "it_available_power",
              "pue": "pue", "marginal_pue": "marginal_pue",
              "facility_power_intercept_w": "facility_power_intercept",
              "carbon_intensity_g_per_kwh": "carbon_intensity",
              "electricity_price_per_kwh": "electricity_price", "battery_soc": "battery_soc",
              "grid_import_w": "grid_import", "temp_air_degc": "temp_air"}


def hours(start: datetime, end: datetime) -> pd.DatetimeIndex:
    """The UTC hour starts of [start, end)."""
    return pd.date_range(start, end, freq="h", inclusive="left", tz=UTC)


class TwinData:
    """Every catalog site's hourly results for one climate year (``twin.simulate``)."""

    def __init__(self, year: int, seed: int, battery_policy: str, sites_dir=None):
        self.catalog = load_catalog(sites_dir)
        self.ds = twin.simulate(None, list(self.catalog.values()), year=year, seed=seed,
                                battery_policy=battery_policy)
        self.year, self.battery_policy = year, battery_policy
        self.currency = self.ds["grid_cost"].attrs["currency"]
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

    def climate_hours(self, calendar: pd.DatetimeIndex) -> np.ndarray:
        """Index into the climate year of each calendar hour (typical-year mode)."""
        return self._hour_of[calendar.month, calendar.day, calendar.hour]

    def values(self, variable: str, site_ids: list[str], calendar: pd.DatetimeIndex):
        """``(site, hour)`` values of a Dataset variable on calendar hours."""
        rows = [self._rows[s] for s in site_ids]
        return self._arrays[variable][np.ix_(rows, self.climate_hours(calendar))]

    def timeline(self, site_ids: list[str], calendar: pd.DatetimeIndex,
                 held_w: np.ndarray) -> Timeline:
        """The scheduling timeline of ``site_ids`` on calendar hours, with ``held_w``
        ``(site, hour)`` [W] of reserved IT power committed."""
        def get(v):
            return self.values(v, site_ids, calendar)

        capacity = np.array([self.catalog[s].it.capacity_w for s in site_ids])
        return Timeline(site_ids=tuple(site_ids), time=calendar, it_capacity_w=capacity,
                        it_headroom_w=np.maximum(get("it_available_power") - held_w, 0.0),
                        it_committed_w=held_w, marginal_pue=get("marginal_pue"), pue=get("pue"),
                        carbon_intensity_g_per_kwh=get("carbon_intensity"),
                        price_per_kwh=get("electricity_price"), currency=self.currency)

    def site_summary(self, site_id: str) -> dict:
        """The site's annual figures (floats, ints and names), units in the keys; None where a
        figure is undefined (the wind capacity factor of a site without wind turbines)."""
        row = self.summary.loc[site_id]
        values = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        return {k: None if isinstance(v, float) and not np.isfinite(v) else v
                for k, v in values.items()}

    def configuration(self, site_id: str) -> dict:
        return json.loads(self.ds.attrs["site_configuration"])[site_id]


def utc(t: datetime) -> datetime:
    """A timestamp as an aware UTC datetime (naive ones are taken as UTC)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def ceil_hour(t: datetime) -> datetime:
    t = utc(t)
    floor = t.replace(minute=0, second=0, microsecond=0)
    return floor if floor == t else floor + timedelta(hours=1)
