"""``np.interp`` for long arrays against short tables (power curves, tilt tables).

numpy's interp finds each point's segment by a binary search, whose mispredicted branches cost
most of its time on a year of hourly wind speeds or tilts. Here a table over a uniform grid of the
breakpoints' spacing gives the segment almost directly; the interpolation itself is numpy's,
operation for operation, so the results are numpy's to the bit (tests compare them).
"""

from __future__ import annotations

import functools

import numba
import numpy as np

MAX_CELLS = 1 << 20  # cells of the segment table; finer than the breakpoints is enough


@functools.lru_cache(maxsize=64)
def _cells(xp_bytes: bytes) -> tuple[np.ndarray, float, float]:
    """For breakpoints ``xp`` (increasing): the last breakpoint at or below the start of each
    cell of a uniform grid from xp[0] with the breakpoints' smallest positive spacing, and the
    grid's start and inverse step."""
    xp = np.frombuffer(xp_bytes)
    spacing = np.diff(xp)
    span = xp[-1] - xp[0]
    step = max(spacing[spacing > 0].min(initial=span), span / MAX_CELLS) if span > 0 else 1.0
    starts = xp[0] + step * np.arange(int(span / step) + 2)
    first = np.searchsorted(xp, starts, side="right") - 1
    first.setflags(write=False)
    return first, xp[0], 1.0 / step


def interp(x, xp, fp, left=None, right=None) -> np.ndarray:
    """``np.interp(x, xp, fp, left, right)`` (float64, ``x``'s shape), bit for bit, for real
    increasing ``xp`` (repeated breakpoints allowed, as numpy) and real ``fp``."""
    xp, fp = np.ascontiguousarray(xp, dtype=float), np.ascontiguousarray(fp, dtype=float)
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64) or xp.size < 2:
        return np.interp(x, xp, fp, left, right)
    first, start, inverse_step = _cells(xp.tobytes())
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = np.diff(fp) / np.diff(xp)  # as numpy forms them
    out = np.empty(x.shape)
    _interp(np.ravel(x), xp, fp, slopes, fp[0] if left is None else float(left),
            fp[-1] if right is None else float(right), first, start, inverse_step,
            out.reshape(-1))
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _interp(x, xp, fp, slopes, left, right, first, start, inverse_step,
            out):  # pragma: no cover (compiled)
    """numpy's arr_interp (numpy/_core/src/multiarray/compiled_base.c) with the segment found
    from the cell table ``first`` instead of a binary search."""
    last = xp.size - 1
    cells = first.size
    for i in range(x.size):
        v = np.float64(x[i])
        if np.isnan(v):
            out[i] = v
            continue
        if v < xp[0]:
            out[i] = left
            continue
        if v > xp[last]:
            out[i] = right
            continue
        j = first[min(int((v - start) * inverse_step), cells - 1)]
        while j > 0 and xp[j] > v:  # settle the cell's guess (a rounded product)
            j -= 1
        while j < last and xp[j + 1] <= v:
            j += 1
        if j == last or xp[j] == v:
            out[i] = fp[j]
            continue
        r = slopes[j] * (v - xp[j]) + fp[j]
        if np.isnan(r):  # numpy: if we get NaN in one direction, try the other
            r = slopes[j] * (v - xp[j + 1]) + fp[j + 1]
            if np.isnan(r) and fp[j] == fp[j + 1]:
                r = fp[j]
        out[i] = r
