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
        keys = np.asarray(keys)
        codes = uniques = None
    if len(keys) == 0:
        return
    if codes is None and (keys == keys[0]).all() or codes is not None and len(uniques) == 1:
        yield (keys[0] if codes is not None else keys[0].item()), slice(None)
        return
    if codes is None:
        codes, uniques = pd.factorize(keys)
    for code, key in enumerate(uniques):
        yield key, np.flatnonzero(codes == code)
