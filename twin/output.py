"""A result Dataset written where ``--out`` points, in the format its suffix names.

- ``.nc``: NetCDF-4 with the CF attributes of :mod:`twin.variables` (as ``Dataset.to_netcdf``).
- ``.zarr``: a Zarr store with the same attributes and the study store's conventions (Zarr
  format 2, consolidated metadata, labels as byte strings that netCDF-C's NCZarr reads).
- ``.csv`` and ``.parquet``: the Dataset's tidy table, :func:`table`: one row per label of its
  main dimensions (site and hour for a run; policy, site and hour for a fleet), one column per
  variable on those dimensions, named with its unit (:func:`column`: ``pv_power_w``,
  ``temp_air_degc``, ``electricity_price_cny_per_kwh``), times as UTC. Parquet also keeps the
  Dataset's global attributes (pandas ``DataFrame.attrs``).
"""

from __future__ import annotations

import re
from pathlib import Path

SUFFIXES = (".nc", ".zarr", ".csv", ".parquet")


def check_suffix(path: Path, what: str = "--out") -> None:
    """ValueError naming ``path`` when it is a folder (other than a Zarr store where ``.zarr``
    is given: it is replaced) or its suffix is none of :data:`SUFFIXES` (which it lists)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir() and not (suffix == ".zarr" and _is_zarr(path)):
        raise ValueError(
            f"{what} {path}: is a directory"
            + (
                " that is not a Zarr store; give a new path"
                if suffix == ".zarr"
                else "; give a file name"
            )
        )
    if suffix not in SUFFIXES:
        raise ValueError(
            f"{what} {path}: unknown suffix {path.suffix or '(none)'!r}; give {', '.join(SUFFIXES)}"
        )


def _is_zarr(path: Path) -> bool:
    return (path / ".zgroup").is_file() or (path / "zarr.json").is_file()


def unit_suffix(units: str | None, currency: str | None = None) -> str:
    """A CF/UDUNITS unit as a column-name suffix: ``W`` -> ``w``, ``W m-2`` -> ``w_per_m2``,
    ``g kW-1 h-1`` -> ``g_per_kwh``, ``%`` -> ``pct``, ``1`` -> '' (a fraction, a flag);
    ``currency`` (ISO 4217, from the variable's attribute) leads: ``cny_per_kwh``."""
    above, below = ([currency.lower()] if currency else []), []
    for token in (units or "").split():
        if token == "1":  # a fraction or a flag: no unit to name
            continue
        match = re.fullmatch(r"([A-Za-z_%]+)(-?\d+)?", token)
        if match is None:  # no unit a variable of the registry has: keep it, made a name
            above.append(re.sub(r"\W+", "_", token).lower())
            continue
        base, power = {"%": "pct"}.get(match[1], match[1].lower()), int(match[2] or 1)
        (above if power > 0 else below).append(base + (str(abs(power)) if abs(power) != 1 else ""))
    name = "_per_".join(filter(None, ("".join(above), "".join(below))))
    return name if above or not below else f"per_{name}"


def column(name: str, attrs: dict) -> str:
    """The table column of variable ``name``: its name and its unit (:func:`unit_suffix`)."""
    suffix = unit_suffix(attrs.get("units"), attrs.get("currency"))
    return f"{name}_{suffix}" if suffix else name


def main_dims(ds) -> tuple[str, ...]:
    """The dimensions of the Dataset's table: those most of its variables share (the most
    values where two sets tie)."""
    counts: dict[frozenset, int] = {}
    for var in ds.data_vars.values():
        if var.dims:
            counts[frozenset(var.dims)] = counts.get(frozenset(var.dims), 0) + 1
    if not counts:
        raise ValueError("the Dataset has no variable to write as a table")
    best = max(
        counts,
        key=lambda d: (
            counts[d],
            ds[[n for n in ds.data_vars if frozenset(ds[n].dims) == d][0]].size,
        ),
    )
    # in the order the variables hold them
    first = next(v for v in ds.data_vars.values() if frozenset(v.dims) == best)
    return first.dims


def table(ds):
    """The tidy table of ``ds`` (see the module) and the names of the variables it leaves out
    (those on other dimensions: per-site capacities, a fleet's jobs and regions; they are in
    the .nc and .zarr outputs)."""
    dims = main_dims(ds)
    kept = [n for n in ds.data_vars if set(ds[n].dims) == set(dims)]
    left_out = [n for n in ds.data_vars if n not in kept]
    frame = (
        ds[kept]
        .drop_vars([c for c in ds[kept].coords if c not in dims])
        .transpose(*dims)
        .to_dataframe()
    )
    frame.columns = [column(n, ds[n].attrs) for n in kept]
    if "time" in frame.index.names:  # hour starts in UTC, said so in the values
        if frame.index.nlevels > 1:
            level = frame.index.names.index("time")
            frame.index = frame.index.set_levels(
                frame.index.levels[level].tz_localize("UTC"), level=level
            )
        else:
            frame.index = frame.index.tz_localize("UTC")
    return frame, left_out


def write(ds, path: Path) -> list[str]:
    """Write ``ds`` to ``path`` in the format of its suffix (see the module); returns the
    variables a table leaves out ([] for .nc and .zarr)."""
    path = Path(path)
    check_suffix(path)
    suffix = path.suffix.lower()
    if suffix == ".nc":
        ds.to_netcdf(path)
        return []
    if suffix == ".zarr":
        ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
        return []
    frame, left_out = table(ds)
    if suffix == ".csv":
        frame.to_csv(path)
    else:
        frame.attrs = {k: str(v) for k, v in ds.attrs.items()}
        frame.to_parquet(path, engine="pyarrow")
    return left_out
