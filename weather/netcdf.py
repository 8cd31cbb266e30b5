"""CF / ERA5-style NetCDF of hourly single-level fields at a point or on a lat/lon grid (xarray).

Variables (ERA5 short names, units converted by their ``units`` attribute):

- ``t2m``, ``d2m``: 2 m temperature and dew point [K];
- ``ssrd``: surface solar radiation downwards [J m-2], accumulated over the hour ENDING at the time
  label (ERA5 hourly reanalysis convention); ``ssrd/3600`` is the mean GHI of that hour, labelled
  with the hour's start;
- ``fdir`` (optional): total-sky direct solar radiation on the horizontal [J m-2], accumulated
  likewise; DNI = fdir / (3600 cos z) with z at the hour's midpoint, DHI = GHI - fdir/3600.
  Without ``fdir`` GHI is split with the Erbs-Driesse model (pvlib);
- ``u10``, ``v10``: 10 m wind components [m s-1];
- ``sp``: surface pressure [Pa];
- ``z`` (optional): surface geopotential [m2 s-2], altitude = z / g.

The time coordinate is ``valid_time`` (CDS since 2024) or ``time`` (older files); an ``expver``
dimension (ERA5 and ERA5T in one file) is merged. The new CDS delivers instantaneous and
accumulated variables as two files: pass both paths as a list.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from weather.dataset import check_site, file_attrs, from_dataframe
from weather.errors import WeatherError
from weather.solar_geometry import split_ghi, sun_and_sky

G0 = 9.80665  # standard gravity [m s-2] (ECMWF IFS documentation; WMO)
SECONDS_PER_HOUR = 3600.0
MAX_DNI_ZENITH_DEG = 87.0  # beyond it DNI from fdir/cos z is ill-conditioned (pvlib's max_zenith)
POINT_TOLERANCE_DEG = 0.5  # a one-point file farther than this from the site is not the site's
MAX_HOURLY_GHI = 1500.0  # [W m-2] above the solar constant: not a one-hour accumulation
REQUIRED = ("t2m", "d2m", "ssrd", "u10", "v10", "sp")
TIME_NAMES = ("valid_time", "time")
LAT_NAMES = ("latitude", "lat")
LON_NAMES = ("longitude", "lon")


def _kelvin(x):
    return x - 273.15


def _same(x):
    return x


# canonical unit string -> conversion to the twin's unit (see _canonical)
UNITS = {
    "t2m": {"K": _kelvin, "degC": _same, "C": _same, "°C": _same, "degree_Celsius": _same},
    "d2m": {"K": _kelvin, "degC": _same, "C": _same, "°C": _same, "degree_Celsius": _same},
    "ssrd": {"J m-2": _same, "J/m2": _same},
    "fdir": {"J m-2": _same, "J/m2": _same},
    "u10": {"m s-1": _same, "m/s": _same},
    "v10": {"m s-1": _same, "m/s": _same},
    "sp": {"Pa": _same, "hPa": lambda x: x * 100.0, "kPa": lambda x: x * 1000.0},
    "z": {"m2 s-2": _same, "m2/s2": _same},
}


def _canonical(units: str) -> str:
    """'J m**-2' and 'J m^-2' -> 'J m-2'; 'm**2 s**-2' -> 'm2 s-2'."""
    return " ".join(str(units).replace("**", "").replace("^", "").split())


def _convert(da: xr.DataArray, var: str, source: str) -> xr.DataArray:
    units = da.attrs.get("units")
    if units is None or str(units).strip() == "":
        raise WeatherError(source, "no 'units' attribute: the unit must be stated",
                           variable=var)
    convert = UNITS[var].get(_canonical(units))
    if convert is None:
        raise WeatherError(source, f"unexpected units {units!r}; known: "
                           f"{', '.join(UNITS[var])}", variable=var)
    return convert(da.astype(float))


def _open(paths: list[Path], source: str) -> xr.Dataset:
    datasets = []
    try:
        for p in paths:
            with xr.open_dataset(p, engine="netcdf4") as ds:
                datasets.append(ds.load())
    except FileNotFoundError as err:
        raise WeatherError(source, f"cannot read file ({err.strerror or err})") from None
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as err:
        raise WeatherError(source, f"unreadable NetCDF ({type(err).__name__}: {err})") from None
    if len(datasets) == 1:
        return datasets[0]
    try:
        return xr.merge(datasets, compat="override", join="outer", combine_attrs="drop_conflicts")
    except (ValueError, KeyError) as err:
        raise WeatherError(source, f"files cannot be merged ({err})") from None


def _coord_name(ds: xr.Dataset, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in ds.variables), None)


def _select_point(ds: xr.Dataset, latitude, longitude, source: str):
    """Pick the grid point nearest the site; return (dataset at the point, its lat, its lon).

    A grid point farther from the site than the grid spacing (or ``POINT_TOLERANCE_DEG`` for a
    single point) means the site is not in the file."""
    lat_name, lon_name = _coord_name(ds, LAT_NAMES), _coord_name(ds, LON_NAMES)
    if lat_name is None or lon_name is None:
        lat = ds.attrs.get("latitude", latitude)
        lon = ds.attrs.get("longitude", longitude)
        if lat is None or lon is None:
            raise WeatherError(source, "no latitude/longitude coordinate or attribute: pass "
                               "latitude= and longitude=", variable="latitude")
        return ds, float(lat), float(lon)
    for coord, want in ((lat_name, latitude), (lon_name, longitude)):
        values = np.atleast_1d(ds[coord].to_numpy()).astype(float)
        if values.size > 1 and want is None:
            raise WeatherError(source, f"{values.size} grid values of {coord}: pass latitude= "
                               "and longitude= to pick the site's grid point", variable=coord)
        i = 0
        if want is not None:
            target = float(want)
            if coord == lon_name and values.max() > 180 and target < 0:
                target %= 360.0  # grid in 0..360 degrees east
            i = int(np.argmin(np.abs(values - target)))
            spacing = (float(np.max(np.abs(np.diff(values)))) if values.size > 1
                       else POINT_TOLERANCE_DEG)
            if abs(values[i] - target) > spacing:
                raise WeatherError(source, f"nearest grid {coord} {values[i]} is "
                                   f"{abs(values[i] - target):.2f} deg from the site's {want}: "
                                   "the site is outside the grid", variable=coord)
        if coord in ds.dims:
            ds = ds.isel({coord: i})
    lat = float(np.atleast_1d(ds[lat_name].to_numpy())[0])
    lon = float(np.atleast_1d(ds[lon_name].to_numpy())[0])
    return ds, lat, lon - 360.0 if lon > 180 else lon


def _series(ds: xr.Dataset, var: str, time_name: str, source: str) -> pd.Series:
    """A variable at the selected point as a Series over the file's times, in the twin's unit."""
    da = ds[var]
    if "expver" in da.dims:  # ERA5 (1) and ERA5T (5): each time is in one of them, NaN in the other
        da = da.max("expver", skipna=True, keep_attrs=True)
    extra = {d: n for d, n in da.sizes.items() if d != time_name}
    if any(n > 1 for n in extra.values()):
        raise WeatherError(source, f"dimensions {extra} besides {time_name}: one point, one "
                           "level and one member expected", variable=var)
    da = da.squeeze([d for d in extra], drop=True) if extra else da
    if time_name not in da.dims:
        raise WeatherError(source, f"has no {time_name} dimension", variable=var)
    converted = _convert(da, var, source)
    return pd.Series(converted.to_numpy(), index=pd.DatetimeIndex(ds[time_name].to_numpy()))


def _altitude(ds: xr.Dataset, altitude, source: str) -> tuple[float, str]:
    if altitude is not None:
        return float(altitude), "argument"
    if "z" in ds:
        da = ds["z"]
        if "expver" in da.dims:
            da = da.max("expver", skipna=True, keep_attrs=True)
        z = _convert(da, "z", source)
        value = float(z.mean(skipna=True)) / G0
        if not np.isfinite(value):
            raise WeatherError(source, "geopotential has no value", variable="z")
        return value, "geopotential z / 9.80665"
    for key in ("altitude", "elevation"):
        if key in ds.attrs:
            try:
                return float(ds.attrs[key]), f"attribute {key}"
            except (TypeError, ValueError):
                raise WeatherError(source, f"attribute {key}={ds.attrs[key]!r} is not a number",
                                   variable="altitude") from None
    raise WeatherError(source, "no altitude: no geopotential z, no altitude/elevation attribute; "
                       "pass altitude=", variable="altitude")


def read_netcdf(path, *, strict: bool = False, fill_missing: bool = True,
                name: str | None = None, latitude=None, longitude=None, altitude=None):
    """Read an ERA5-style NetCDF of hourly fields into the twin's weather Dataset.

    ``path``: one file, or a list of files to merge (the CDS splits instantaneous and accumulated
    variables). A grid is reduced to the point nearest ``latitude``/``longitude`` [deg]; the
    returned site coordinates are the arguments when given, else the file's point (the grid point
    is in the attributes). ``altitude`` [m]: the argument, else the geopotential ``z``, else an
    ``altitude``/``elevation`` attribute. Accumulated radiation [J m-2] over the hour ending at
    each label becomes the mean flux [W m-2] of that hour labelled with its start, so the first
    accumulation (the hour before the file) and the last instantaneous hour (no accumulation
    after it) are left out. Wind speed from u10/v10 at 10 m. ``_row`` is the 1-based time index.
    ``strict=True`` refuses files that need any repair.
    """
    paths = [Path(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    source = ", ".join(str(p) for p in paths)
    for key, value, lo, hi in (("latitude", latitude, -90, 90),
                               ("longitude", longitude, -180, 180)):
        if value is not None and (not np.isfinite(value) or not lo <= value <= hi):
            raise WeatherError(source, f"{key} {value} outside [{lo}, {hi}]", variable=key)
    ds = _open(paths, source)
    time_name = next((t for t in TIME_NAMES if t in ds.dims), None)
    if time_name is None:
        raise WeatherError(source, f"no time dimension (looked for {', '.join(TIME_NAMES)})",
                           variable="time")
    if not np.issubdtype(ds[time_name].dtype, np.datetime64):
        raise WeatherError(source, f"{time_name} is not a CF time (units 'hours since ...')",
                           variable=time_name)
    missing = [v for v in REQUIRED if v not in ds]
    if missing:
        raise WeatherError(source, f"required variable(s) missing: {', '.join(missing)} (have: "
                           f"{', '.join(map(str, ds.data_vars))})", variable=missing[0])
    ds, grid_lat, grid_lon = _select_point(ds, latitude, longitude, source)
    site_lat = float(latitude) if latitude is not None else grid_lat
    site_lon = float(longitude) if longitude is not None else grid_lon
    site_alt, altitude_source = _altitude(ds, altitude, source)
    check_site(source, site_lat, site_lon, site_alt)

    names = REQUIRED + (("fdir",) if "fdir" in ds else ())
    s = {v: _series(ds, v, time_name, source) for v in names}
    if s["t2m"].index.has_duplicates:
        dup = s["t2m"].index.duplicated()
        raise WeatherError(source, "duplicate time", row=int(np.argmax(dup)) + 1,
                           time=s["t2m"].index[dup][0])
    instant = s["t2m"].index
    hour = pd.Timedelta(hours=1)
    # hour starts whose accumulation (labelled with the hour's end) is in the file
    labels = instant[instant.isin(s["ssrd"].index - hour)]
    if len(labels) == 0:
        raise WeatherError(source, "no hour has both instantaneous fields and the accumulation "
                           "after it", variable="ssrd")

    def accumulated(var):  # mean flux of the hour starting at each label
        acc = s[var].copy()
        acc.index = acc.index - hour
        return acc.reindex(labels) / SECONDS_PER_HOUR

    frame = pd.DataFrame({
        "ghi": accumulated("ssrd"),
        "temp_air": s["t2m"].reindex(labels),
        "temp_dew": s["d2m"].reindex(labels),
        "pressure": s["sp"].reindex(labels),
        "wind_speed": np.hypot(s["u10"].reindex(labels), s["v10"].reindex(labels)),
    }, index=labels)
    too_high = frame["ghi"] > MAX_HOURLY_GHI
    if too_high.any():
        raise WeatherError(source, f"ssrd/3600 = {frame['ghi'][too_high].iloc[0]:.0f} W m-2: not "
                           "an accumulation over one hour (ERA5-Land accumulates from 00 UTC)",
                           variable="ssrd",
                           row=int(s["ssrd"].index.get_loc(labels[too_high][0] + hour)) + 1,
                           time=labels[too_high][0])
    sky = sun_and_sky(labels, site_lat, site_lon, site_alt, pressure=frame["pressure"].to_numpy(),
                      temp_air=frame["temp_air"].to_numpy())
    notes = ["ghi = ssrd / 3600 over the hour ending at the ERA5 label, labelled with its start"]
    if "fdir" in s:
        bhi = accumulated("fdir").to_numpy()
        cos_z = np.cos(np.radians(sky["zenith"].to_numpy()))
        usable = sky["zenith"].to_numpy() < MAX_DNI_ZENITH_DEG
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["dni"] = np.where(usable, bhi / cos_z, 0.0)
        frame["dhi"] = np.where(usable, frame["ghi"] - bhi, frame["ghi"])
        frame.loc[np.isnan(bhi), ["dni", "dhi"]] = np.nan
        notes.append(f"dni = fdir / (3600 cos z), z at the hour's midpoint (0 beyond "
                     f"{MAX_DNI_ZENITH_DEG:g} deg); dhi = ghi - fdir / 3600")
    else:
        frame["dni"], frame["dhi"] = split_ghi(frame["ghi"], sky)
        notes.append("no fdir: dni and dhi split from ghi (Erbs-Driesse, pvlib)")
    frame.loc[frame["ghi"].isna(), ["dni", "dhi"]] = np.nan  # no split invented for a missing hour
    frame["_row"] = instant.get_indexer(labels) + 1
    frame.index = frame.index.tz_localize("UTC")
    provenance = [file_attrs(p) for p in paths]
    attrs = {"source_file": ", ".join(a["source_file"] for a in provenance),
             "source_sha256": ", ".join(a["source_sha256"] for a in provenance),
             "source_format": "NetCDF (ERA5 single levels)",
             "source_grid_latitude": grid_lat, "source_grid_longitude": grid_lon,
             "source_altitude": altitude_source,
             "source_notes": "; ".join(notes)}
    label = name or f"ERA5 {grid_lat:.2f} N {grid_lon:.2f} E"
    return from_dataframe(frame, site_lat, site_lon, site_alt, name=label, tz=None, source=source,
                          strict=strict, fill_missing=fill_missing, typical_year=False,
                          wind_height_m=10.0, attrs=attrs)
