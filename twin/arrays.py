"""Two helpers for the (site, time) array code of the physics modules."""

from __future__ import annotations

import numpy as np
import pandas as pd


def column(a) -> np.ndarray:
    """A ``(site,)`` parameter as a ``(site, 1)`` column that broadcasts over time."""
    return np.asarray(a)[:, None]


def groups(keys):
    """``(key, index)`` for each distinct value of ``keys`` (a model chosen per site, a sequence
    or a ``pd.Categorical``), in order of first appearance. When all keys are equal (the usual
    case) there is one group and its index is ``slice(None)``: arrays are used whole, not copied."""
    if isinstance(keys, pd.Categorical):
        codes, uniques = keys.codes, keys.categories
    else:
        codes, uniques = pd.factorize(np.asarray(keys))
    uniques = np.asarray(uniques).tolist()  # plain Python keys
    present = np.unique(codes)
    if present.size == 1:
        yield uniques[present[0]], slice(None)
        return
    for code in present:
        yield uniques[code], np.flatnonzero(codes == code)
