"""Two helpers for the (site, time) array code of the physics modules."""

from __future__ import annotations

import numpy as np
import pandas as pd


def column(a) -> np.ndarray:
    """A ``(site,)`` parameter as a ``(site, 1)`` column that broadcasts over time."""
    return np.asarray(a)[:, None]


def groups(keys):
    """``(key, indices)`` for each distinct value of ``keys`` (a model chosen per site), in order
    of first appearance; one group without a search when all keys are equal (the usual case)."""
    keys = np.asarray(keys)
    if keys.size == 0:
        return
    if (keys == keys[0]).all():
        yield keys[0].item(), np.arange(keys.size)
        return
    codes, uniques = pd.factorize(keys)
    for code, key in enumerate(uniques):
        yield key, np.flatnonzero(codes == code)
