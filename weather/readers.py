"""One entry point for a weather file of any supported format, chosen by suffix and content."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from weather.errors import WeatherError

if TYPE_CHECKING:
    import xarray as xr

FORMATS = "EPW (.epw), PVGIS TMY (.csv, .json), NSRDB/PSM (.csv), CF/ERA5 NetCDF (.nc)"


def read(path, *, strict: bool = False, year: int | None = None, fill_missing: bool = True,
         **site) -> xr.Dataset:
    """Read any supported weather file into the twin's weather Dataset.

    ``year``: the calendar year a typical-year file (EPW, PVGIS TMY, NSRDB TMY) is placed on, so
    that files of several sites cover the same hours (default: the file's most common year).
    ``site`` (latitude, longitude, altitude) is passed to readers whose format may lack it
    (NetCDF). ``fill_missing=False`` leaves missing values NaN instead of filling them (the
    other QC repairs still apply). A list of paths is a NetCDF download split into several files
    (as the CDS does)."""
    # the readers (and pandas, xarray, pvlib under them) are imported when a file is read, not
    # when a command lists FORMATS in its help
    from weather.epw import read_epw
    from weather.netcdf import read_netcdf
    from weather.nsrdb import read_nsrdb
    from weather.pvgis import read_pvgis_tmy

    if isinstance(path, (list, tuple)):
        return read_netcdf(list(path), strict=strict, fill_missing=fill_missing, **site)
    path = Path(path)
    if not path.is_file():
        raise WeatherError(str(path), "no such file")
    suffix = path.suffix.lower()
    if suffix == ".epw":
        return read_epw(path, strict=strict, fill_missing=fill_missing, year=year)
    if suffix == ".json":
        return read_pvgis_tmy(path, strict=strict, fill_missing=fill_missing, year=year)
    if suffix in (".nc", ".nc4", ".netcdf"):
        return read_netcdf(path, strict=strict, fill_missing=fill_missing, **site)
    if suffix == ".csv":
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.readline()
        if head.startswith("Latitude"):
            return read_pvgis_tmy(path, strict=strict, fill_missing=fill_missing, year=year)
        return read_nsrdb(path, strict=strict, fill_missing=fill_missing, year=year)
    raise WeatherError(str(path), f"unknown weather format {suffix!r}; supported: {FORMATS}")
