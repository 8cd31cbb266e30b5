"""weather.netcdf: ERA5-style NetCDF, written here as the Copernicus Climate Data Store writes it.

Two layouts (variable names, units strings and coordinates as ``ncdump -h`` shows them):

- CDS since 2024 (cfgrib): NetCDF4, float32 fields on ``(valid_time, latitude, longitude)``,
  ``valid_time`` int64 "seconds since 1970-01-01", scalar ``number``, string ``expver(valid_time)``,
  latitude stored decreasing, units ``K``, ``J m**-2``, ``m s**-1``, ``Pa``, ``m**2 s**-2``;
- legacy CDS: NetCDF3, int16 fields packed with scale_factor/add_offset and _FillValue -32767 on
  ``(time, expver, latitude, longitude)`` when ERA5 and ERA5T are mixed, ``time`` int32
  "hours since 1900-01-01 00:00:00.0".

The irradiance is the Ineichen clear sky of each hour (computed as QC computes it), so the file
is clean and the values that come back can be checked exactly.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import weather
from weather.errors import WeatherError
from weather.netcdf import read_netcdf
from weather.qc import report_from_attrs
from weather.solar_geometry import sun_and_sky

LAT, LON, ALT = 36.42, 94.90, 2807.6  # Golmud, Qinghai
G0 = 9.80665
HOURS = 240  # ten days of June: fast, and enough for QC's monthly timing check
START = pd.Timestamp("2023-06-01")


@pytest.fixture(scope="module")
def truth():
    """The hourly truth the files encode: hour starts (UTC) and the clear-sky irradiance."""
    starts = pd.date_range(START, periods=HOURS, freq="h")
    sky = sun_and_sky(starts, LAT, LON, ALT)
    t2m = 288.0 + 8.0 * np.sin(2 * np.pi * (np.arange(HOURS + 1) - 3) / 24)  # K, at valid times
    return starts, sky, t2m


def era5_fields(truth, *, with_fdir=True):
    """ERA5 fields on the ERA5 time axis: HOURS + 1 valid times from START; accumulations over the
    hour ENDING at each valid time (the first one covers the hour before START: zero, night)."""
    starts, sky, t2m = truth
    valid = pd.date_range(START, periods=HOURS + 1, freq="h")
    ghi = np.r_[0.0, sky["ghi_clear"].to_numpy()]
    bhi = np.r_[0.0, sky["ghi_clear"].to_numpy() - sky["dhi_clear"].to_numpy()]  # closure exact
    n = len(valid)
    fields = {
        "t2m": (t2m, {"units": "K", "long_name": "2 metre temperature"}),
        "d2m": (t2m - 12.0, {"units": "K", "long_name": "2 metre dewpoint temperature"}),
        "ssrd": (ghi * 3600.0, {"units": "J m**-2", "GRIB_stepType": "accum",
                                "long_name": "Surface short-wave (solar) radiation downwards",
                                "standard_name": "surface_downwelling_shortwave_flux_in_air"}),
        "u10": (np.full(n, 3.0), {"units": "m s**-1", "long_name": "10 metre U wind component"}),
        "v10": (np.full(n, -4.0), {"units": "m s**-1", "long_name": "10 metre V wind component"}),
        "sp": (np.full(n, 72_500.0), {"units": "Pa", "long_name": "Surface pressure"}),
        "z": (np.full(n, ALT * G0), {"units": "m**2 s**-2", "long_name": "Geopotential"}),
    }
    if with_fdir:
        fields["fdir"] = (bhi * 3600.0, {"units": "J m**-2", "GRIB_stepType": "accum",
                                          "long_name": "Total sky direct solar radiation at "
                                                       "surface"})
    return valid, fields


def write_cds_2024(path: Path, truth, *, lats=(36.5, 36.25), lons=(94.75, 95.0), drop=(),
                   attrs_edit=None, only=None) -> Path:
    """New-CDS NetCDF4 (float32 on valid_time x latitude x longitude), every grid point equal."""
    valid, fields = era5_fields(truth)
    shape = (len(valid), len(lats), len(lons))
    data_vars = {}
    for var, (values, attrs) in fields.items():
        if var in drop or (only is not None and var not in only):
            continue
        attrs = {**attrs, "GRIB_units": attrs["units"]}
        if attrs_edit and var in attrs_edit:
            attrs = attrs_edit[var](attrs)
        grid = np.broadcast_to(np.asarray(values, np.float32)[:, None, None], shape).copy()
        data_vars[var] = (("valid_time", "latitude", "longitude"), grid, attrs)
    ds = xr.Dataset(data_vars, coords={
        "number": np.int64(0),
        "valid_time": ("valid_time", valid,
                       {"long_name": "time", "standard_name": "time"}),
        "latitude": ("latitude", np.asarray(lats, float),
                     {"units": "degrees_north", "standard_name": "latitude",
                      "stored_direction": "decreasing"}),
        "longitude": ("longitude", np.asarray(lons, float),
                      {"units": "degrees_east", "standard_name": "longitude"}),
        "expver": ("valid_time", np.array(["0001"] * len(valid), dtype=object)),
    }, attrs={"GRIB_centre": "ecmf", "Conventions": "CF-1.7",
              "institution": "European Centre for Medium-Range Weather Forecasts"})
    encoding = {"valid_time": {"units": "seconds since 1970-01-01", "dtype": "int64",
                               "calendar": "proleptic_gregorian"}}
    ds.to_netcdf(path, format="NETCDF4", encoding=encoding)
    return path


def write_legacy(path: Path, truth, *, altitude_attr=None) -> Path:
    """Legacy-CDS NetCDF3: one grid point, int16 packed fields on (time, expver, lat, lon), the
    first 200 hours ERA5 (expver 1), the rest ERA5T (expver 5); no fdir."""
    valid, fields = era5_fields(truth, with_fdir=False)
    n = len(valid)
    data_vars, encoding = {}, {}
    for var, (values, attrs) in fields.items():
        if var == "z":
            continue
        both = np.full((n, 2, 1, 1), np.nan)
        both[:200, 0, 0, 0] = values[:200]
        both[200:, 1, 0, 0] = values[200:]
        data_vars[var] = (("time", "expver", "latitude", "longitude"), both, attrs)
        lo, hi = float(np.min(values)), float(np.max(values))
        scale = max(hi - lo, 1.0) / (2 ** 16 - 3)  # lo -> -32766, hi -> 32767; -32767 is the fill
        encoding[var] = {"dtype": "int16", "scale_factor": scale, "add_offset": lo + 32766 * scale,
                         "_FillValue": np.int16(-32767), "missing_value": np.int16(-32767)}
    ds = xr.Dataset(data_vars, coords={
        "time": ("time", valid, {"long_name": "time"}),
        "expver": ("expver", np.array([1, 5], dtype=np.int32)),
        "latitude": ("latitude", [36.5], {"units": "degrees_north", "long_name": "latitude"}),
        "longitude": ("longitude", [95.0], {"units": "degrees_east", "long_name": "longitude"}),
    }, attrs={"Conventions": "CF-1.6"})
    if altitude_attr is not None:
        ds.attrs["altitude"] = altitude_attr
    encoding["time"] = {"units": "hours since 1900-01-01 00:00:00.0", "calendar": "gregorian",
                        "dtype": "int32"}
    ds.to_netcdf(path, format="NETCDF3_64BIT", encoding=encoding)
    return path


@pytest.fixture(scope="module")
def cds_file(truth, tmp_path_factory):
    return write_cds_2024(tmp_path_factory.mktemp("era5") / "era5_golmud.nc", truth)


def test_accumulations_become_hour_means_labelled_with_the_hour_start(cds_file, truth):
    """ssrd at valid time T (the hour ending at T) comes back as the GHI of the hour starting at
    T - 1 h; fdir gives DNI and DHI; instantaneous fields keep their time; the clean file passes
    strict QC."""
    starts, sky, t2m = truth
    ds = read_netcdf(cds_file, latitude=LAT, longitude=LON, strict=True)
    np.testing.assert_array_equal(ds["time"].to_numpy(), starts.to_numpy())
    np.testing.assert_allclose(ds["ghi"], sky["ghi_clear"], atol=1e-3)  # float32 J m-2
    zenith = sky["zenith"].to_numpy()
    low = zenith >= 87  # sun near the horizon: DNI from fdir/cos z is not used, all of GHI diffuse
    np.testing.assert_allclose(ds["dhi"].to_numpy()[~low], sky["dhi_clear"].to_numpy()[~low],
                               atol=1e-3)
    np.testing.assert_array_equal(ds["dhi"].to_numpy()[low], ds["ghi"].to_numpy()[low])
    np.testing.assert_array_equal(ds["dni"].to_numpy()[low], 0.0)
    high = zenith < 80
    # DNI from fdir / cos(true zenith) differs from Ineichen's (apparent zenith) by refraction
    np.testing.assert_allclose(ds["dni"].to_numpy()[high], sky["dni_clear"].to_numpy()[high],
                               rtol=0.005)
    np.testing.assert_allclose(ds["temp_air"], t2m[:-1] - 273.15, atol=1e-4)
    np.testing.assert_allclose(ds["temp_dew"], t2m[:-1] - 285.15, atol=1e-4)
    np.testing.assert_allclose(ds["wind_speed"], 5.0, rtol=1e-6)
    np.testing.assert_allclose(ds["pressure"], 72_500.0)
    assert ds["wind_speed"].attrs["height"] == 10.0
    assert report_from_attrs(ds.attrs).empty


def test_site_coordinates_grid_point_and_altitude(cds_file):
    ds = read_netcdf(cds_file, latitude=LAT, longitude=LON)
    assert (float(ds.latitude), float(ds.longitude)) == (LAT, LON)
    assert float(ds.altitude) == pytest.approx(ALT, abs=0.01)  # from z / 9.80665 (float32)
    assert (ds.attrs["source_grid_latitude"], ds.attrs["source_grid_longitude"]) == (36.5, 95.0)
    assert ds.attrs["source_altitude"] == "geopotential z / 9.80665"
    assert float(read_netcdf(cds_file, latitude=LAT, longitude=LON,
                             altitude=2900.0).altitude) == 2900.0  # the argument wins


def test_split_cds_download_read_as_a_list(truth, tmp_path):
    """The CDS delivers instantaneous and accumulated variables as two files."""
    instant = write_cds_2024(tmp_path / "data_stream-oper_stepType-instant.nc", truth,
                             only={"t2m", "d2m", "u10", "v10", "sp", "z"})
    accum = write_cds_2024(tmp_path / "data_stream-oper_stepType-accum.nc", truth,
                           only={"ssrd", "fdir"})
    ds = read_netcdf([instant, accum], latitude=LAT, longitude=LON)
    whole = read_netcdf(write_cds_2024(tmp_path / "whole.nc", truth), latitude=LAT, longitude=LON)
    for var in whole.data_vars:
        np.testing.assert_array_equal(ds[var].to_numpy(), whole[var].to_numpy(), err_msg=var)
    assert ds.attrs["source_file"] == f"{instant.name}, {accum.name}"
    via_read = weather.read([instant, accum], latitude=LAT, longitude=LON)  # the generic entry
    np.testing.assert_array_equal(via_read["ghi"].to_numpy(), whole["ghi"].to_numpy())


def test_legacy_packed_point_file_with_expver_and_no_fdir(truth, tmp_path):
    """Packed int16, `time` in hours since 1900, ERA5/ERA5T split over expver, one grid point;
    without fdir GHI is split by Erbs-Driesse (closure holds)."""
    starts, sky, t2m = truth
    path = write_legacy(tmp_path / "adaptor.mars.internal.nc", truth)
    ds = read_netcdf(path, altitude=ALT)
    np.testing.assert_array_equal(ds["time"].to_numpy(), starts.to_numpy())
    ghi_step = sky["ghi_clear"].max() / (2 ** 16 - 3)  # packing resolution [W m-2]
    np.testing.assert_allclose(ds["ghi"], sky["ghi_clear"], atol=ghi_step)
    np.testing.assert_allclose(ds["temp_air"], t2m[:-1] - 273.15, atol=1e-3)
    assert (float(ds.latitude), float(ds.longitude)) == (36.5, 95.0)  # the file's point
    at_point = sun_and_sky(starts, 36.5, 95.0, ALT)
    cos_z = np.cos(np.radians(at_point["zenith"].to_numpy()))
    np.testing.assert_allclose(ds["dni"] * cos_z + ds["dhi"], ds["ghi"], atol=1e-6)
    assert "Erbs-Driesse" in ds.attrs["source_notes"]
    assert float(ds["dni"].max()) > 800  # a clear sky splits mostly into beam


def test_altitude_from_an_attribute(truth, tmp_path):
    ds = read_netcdf(write_legacy(tmp_path / "alt.nc", truth, altitude_attr=2807.0))
    assert float(ds.altitude) == 2807.0
    assert ds.attrs["source_altitude"] == "attribute altitude"


def test_temperature_without_units_is_refused(truth, tmp_path):
    def no_units(attrs):
        return {k: v for k, v in attrs.items() if k not in ("units", "GRIB_units")}
    path = write_cds_2024(tmp_path / "nounits.nc", truth, attrs_edit={"t2m": no_units})
    with pytest.raises(WeatherError, match=r"nounits\.nc, variable 't2m': no 'units'"):
        read_netcdf(path, latitude=LAT, longitude=LON)


def test_unexpected_units_are_refused(truth, tmp_path):
    path = write_cds_2024(tmp_path / "degf.nc", truth,
                          attrs_edit={"t2m": lambda a: {**a, "units": "degF"}})
    with pytest.raises(WeatherError, match=r"degf\.nc, variable 't2m': unexpected units 'degF'"):
        read_netcdf(path, latitude=LAT, longitude=LON)


def test_missing_variable_is_refused(truth, tmp_path):
    path = write_cds_2024(tmp_path / "nosp.nc", truth, drop={"sp"})
    with pytest.raises(WeatherError, match=r"nosp\.nc, variable 'sp': required variable"):
        read_netcdf(path, latitude=LAT, longitude=LON)


def test_latitude_out_of_range_is_refused(cds_file):
    with pytest.raises(WeatherError, match=rf"{cds_file.name}, variable 'latitude': latitude 95"):
        read_netcdf(cds_file, latitude=95.0, longitude=LON)


def test_site_outside_the_grid_is_refused(cds_file):
    with pytest.raises(WeatherError, match=r"variable 'latitude'.*outside the grid"):
        read_netcdf(cds_file, latitude=40.0, longitude=LON)


def test_grid_without_a_site_is_refused(cds_file):
    with pytest.raises(WeatherError, match=r"pass latitude= and\s+longitude="):
        read_netcdf(cds_file)


def test_no_altitude_anywhere_is_refused(truth, tmp_path):
    path = write_legacy(tmp_path / "noalt.nc", truth)
    with pytest.raises(WeatherError, match=r"noalt\.nc, variable 'altitude': no altitude"):
        read_netcdf(path)


def test_truncated_file_is_refused(cds_file, tmp_path):
    cut = tmp_path / "cut.nc"
    cut.write_bytes(cds_file.read_bytes()[:3000])
    with pytest.raises(WeatherError, match=r"cut\.nc: unreadable NetCDF"):
        read_netcdf(cut, latitude=LAT, longitude=LON)


def test_accumulation_longer_than_an_hour_is_refused(truth, tmp_path):
    """ERA5-Land accumulates from 00 UTC: its ssrd/3600 exceeds any one-hour mean."""
    path = write_cds_2024(tmp_path / "land.nc", truth)
    with xr.open_dataset(path) as ds:
        land = ds.load()
    day = land["valid_time"].dt.floor("D")
    land["ssrd"] = land["ssrd"].groupby(day).cumsum().astype(np.float32)
    land["ssrd"].attrs["units"] = "J m**-2"
    land.to_netcdf(tmp_path / "land2.nc")
    with pytest.raises(WeatherError, match=r"land2\.nc, variable 'ssrd', row \d+.*not an "
                                           r"accumulation over one hour"):
        read_netcdf(tmp_path / "land2.nc", latitude=LAT, longitude=LON)


def test_point_file_far_from_the_site_is_refused(truth, tmp_path):
    path = write_legacy(tmp_path / "point.nc", truth, altitude_attr=ALT)
    near = read_netcdf(path, latitude=LAT, longitude=LON)  # 0.1 deg from the ERA5 point
    assert (float(near.latitude), near.attrs["source_grid_latitude"]) == (LAT, 36.5)
    with pytest.raises(WeatherError, match=r"point\.nc, variable 'latitude'.*outside the grid"):
        read_netcdf(path, latitude=LAT + 1.0, longitude=LON)
