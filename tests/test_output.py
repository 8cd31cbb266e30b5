"""Results written by the suffix of --out (twin/output.py): each format read back with its own
reader (xarray, zarr, pandas, pyarrow) holds the values of the Dataset written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sites import get_site
from twin import output
from twin.simulate import simulate


@pytest.fixture(scope="module")
def results() -> xr.Dataset:
    return simulate(None, [get_site("hami"), get_site("golmud")], year=2025, seed=2)


def _hourly(ds: xr.Dataset) -> list[str]:
    return [n for n in ds.data_vars if set(ds[n].dims) == {"site", "time"}]


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_nc_and_zarr_hold_every_variable_and_its_cf_attributes(results, tmp_path, suffix):
    path = tmp_path / f"run{suffix}"
    assert output.write(results, path) == []
    back = xr.open_zarr(path) if suffix == ".zarr" else xr.open_dataset(path)
    # time_bnds, a coordinate in memory, is read back as a variable (CF bounds of time)
    assert set(back.data_vars) - set(results.data_vars) == {"time_bnds"}
    assert set(results.data_vars) <= set(back.data_vars)
    for name in results.data_vars:
        np.testing.assert_array_equal(back[name].values, results[name].values, err_msg=name)
        assert back[name].attrs.get("units") == results[name].attrs.get("units"), name
    assert back.site.values.tolist() == ["hami", "golmud"]
    assert back.attrs["Conventions"] == "CF-1.8" and back.attrs["featureType"] == "timeSeries"


def test_zarr_follows_the_study_store_conventions(results, tmp_path):
    """Zarr format 2, consolidated metadata, labels as byte strings (what NCZarr reads), time
    as int32 hours with its CF attributes; written again, the store is replaced."""
    import zarr

    path = tmp_path / "run.zarr"
    output.write(results, path)
    output.write(results.isel(site=[0]), path)  # a store there already: replaced
    group = zarr.open_group(str(path), mode="r")
    assert (path / ".zgroup").is_file() and (path / ".zmetadata").is_file()
    assert group["site"].dtype.kind == "S" and group["site"][:].tolist() == [b"hami"]
    assert group["time"].dtype == np.int32
    assert group["time"].attrs["units"].startswith("hours since 2025-01-01")
    assert group["pv_power"].attrs["units"] == "W"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_tables_are_one_row_per_site_hour_with_units_in_the_column_names(results, tmp_path, suffix):
    import pyarrow.parquet as pq

    path = tmp_path / f"run{suffix}"
    left_out = output.write(results, path)
    if suffix == ".csv":
        frame = pd.read_csv(path, index_col=["site", "time"], parse_dates=["time"])
    else:
        frame = pq.read_table(path).to_pandas()
    assert len(frame) == 2 * 8760
    hourly = _hourly(results)
    assert len(frame.columns) == len(hourly)
    # the units, in names a reader can use
    for name, unit in (
        ("pv_power", "w"),
        ("temp_air", "degc"),
        ("ghi", "w_per_m2"),
        ("relative_humidity", "pct"),
        ("water_use", "l_per_h"),
        ("carbon_intensity", "g_per_kwh"),
        ("electricity_price", "cny_per_kwh"),
        ("wind_speed", "m_per_s"),
    ):
        assert f"{name}_{unit}" in frame.columns
    assert "pue" in frame.columns and "pue_1" not in frame.columns
    for name in hourly:
        col = output.column(name, results[name].attrs)
        np.testing.assert_array_equal(
            frame[col].to_numpy(),
            results[name].transpose("site", "time").values.ravel(),
            err_msg=name,
        )
    sites = frame.index.get_level_values("site")
    times = frame.index.get_level_values("time")
    assert sites[0] == "hami" and sites[-1] == "golmud" and str(times.tz) == "UTC"
    assert (times[:8760].tz_localize(None) == results.time.to_index()).all()
    # what is not on (site, time) is named, not silently dropped
    assert set(left_out) == set(results.data_vars) - set(hourly) and "pv_capacity" in left_out
    if suffix == ".parquet":
        assert frame.attrs["Conventions"] == "CF-1.8"


def test_the_table_of_a_fleet_like_dataset_is_its_largest_shared_dimensions():
    """Variables on (policy, site, time) make the table; a job's are left out and named."""
    ds = xr.Dataset(
        {
            "training_power": (
                ("policy", "site", "time"),
                np.arange(12.0).reshape(2, 3, 2),
                {"units": "W"},
            ),
            "grid_cost": (
                ("policy", "site", "time"),
                np.ones((2, 3, 2)),
                {"units": "h-1", "currency": "CNY"},
            ),
            "job_finish": (("policy", "job"), np.zeros((2, 5)), {"units": "h"}),
        },
        coords={
            "policy": ["isolated", "linked"],
            "site": ["a", "b", "c"],
            "time": pd.date_range("2025-01-01", periods=2, freq="h"),
        },
    )
    frame, left_out = output.table(ds)
    assert frame.index.names == ["policy", "site", "time"] and len(frame) == 12
    assert list(frame.columns) == ["training_power_w", "grid_cost_cny_per_h"]
    assert frame.loc[("linked", "b"), "training_power_w"].tolist() == [8.0, 9.0]
    assert left_out == ["job_finish"]


@pytest.mark.parametrize(
    "units, suffix",
    [
        ("W", "w"),
        ("W h", "wh"),
        ("1", ""),
        ("%", "pct"),
        ("kg m-3", "kg_per_m3"),
        ("L kW-1 h-1", "l_per_kwh"),
        ("kW-1 h-1", "per_kwh"),
        (None, ""),
    ],
)
def test_unit_suffix(units, suffix):
    assert output.unit_suffix(units) == suffix


def test_unknown_suffix_and_a_folder_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown suffix '\.txt'; give \.nc, \.zarr, \.csv"):
        output.check_suffix(tmp_path / "x.txt")
    with pytest.raises(ValueError, match="is a directory; give a file name"):
        output.check_suffix(tmp_path)
    (tmp_path / "x.nc").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        output.check_suffix(tmp_path / "x.nc")
    output.check_suffix(tmp_path / "new.parquet")  # a new file: nothing to say
