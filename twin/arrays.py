"""Helpers for the (site, time) array code of the physics modules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd


def column(a) -> np.ndarray:
    """A ``(site,)`` parameter as a ``(site, 1)`` column that broadcasts over time."""
    return np.asarray(a)[:, None]


def site_rows(arrays, rows):
    """A dataclass of per-site arrays (each field's first axis the sites) at the sites ``rows``
    (a slice or indices): the ``subset`` of CoolingArrays, ITArrays and WindArrays."""
    return dataclasses.replace(arrays, **{f.name: getattr(arrays, f.name)[rows]
                                          for f in dataclasses.fields(arrays)})


def groups(keys):
    """``(key, index)`` for each distinct value of ``keys`` (a model chosen per site, a sequence
    or a ``pd.Categorical``), in order of first appearance. A group whose sites are adjacent (all
    sites, in the usual case) has a ``slice`` index: its arrays are views, not copies."""
    if isinstance(keys, pd.Categorical):
        codes, uniques = keys.codes, keys.categories
    else:
        keys = np.asarray(keys)
        if keys.dtype.kind in "biuf" and keys.size and keys.min() == keys.max():  # not NaN
            yield keys.flat[0].item(), slice(0, keys.size)  # one key: no hashing
            return
        codes, uniques = pd.factorize(keys)
    uniques = np.asarray(uniques).tolist()  # plain Python keys
    if codes.size and codes.min() == codes.max():
        yield uniques[codes.flat[0]], slice(0, codes.size)
        return
    codes = np.asarray(codes, dtype=np.intp)
    # the codes present by counting, not sorting: keys may be one per lit (site, hour) element
    present = np.flatnonzero(np.bincount(codes + 1)) - 1  # code -1: a missing key, as np.unique
    for code in present:
        rows = np.flatnonzero(codes == code)
        adjacent = rows[-1] - rows[0] + 1 == rows.size
        yield uniques[code], slice(rows[0], rows[-1] + 1) if adjacent else rows


def first_bad(bad) -> tuple[int, int]:
    """Where a ``(site, time)`` mask ``bad`` (with at least one True) is first True: the site
    index and, at that site, the hour index of its first bad hour, for error messages that
    name the first bad (site, hour)."""
    site, hour = np.unravel_index(np.flatnonzero(bad)[0], np.shape(bad))
    return int(site), int(hour)


def site_param(value, n_sites: int, name: str, low=-np.inf, high=np.inf) -> np.ndarray:
    """A scalar or ``(site,)`` parameter as a ``(site,)`` float array, checked against low..high."""
    a = np.asarray(value, dtype=float)
    try:
        a = np.broadcast_to(a, (n_sites,))
    except ValueError:
        raise ValueError(f"{name} must be a scalar or have one value per site ({n_sites}), "
                         f"got shape {a.shape}") from None
    bad = ~((a >= low) & (a <= high))
    if bad.any():
        site = int(np.flatnonzero(bad)[0])
        limits = f">= {low:g}" if high == np.inf else f"<= {high:g}" if low == -np.inf else (
            f"in {low:g}..{high:g}")
        raise ValueError(f"{name} at site index {site} is {float(a[site])}; it must be {limits}")
    return a
