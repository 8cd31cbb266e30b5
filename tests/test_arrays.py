"""The (site, time) array helpers (twin.arrays)."""

import numpy as np
import pandas as pd

from twin.arrays import column, first_bad, groups


def test_first_bad_is_the_first_site_with_one_at_its_first_bad_hour():
    bad = np.zeros((3, 5), dtype=bool)
    bad[2, 0] = bad[1, 4] = bad[1, 3] = True
    assert first_bad(bad) == (1, 3)
    assert all(isinstance(i, int) for i in first_bad(bad))
    assert first_bad(np.broadcast_to(np.array([[False], [True]]), (2, 4))) == (1, 0)


def test_column_and_groups():
    assert column([1.0, 2.0]).shape == (2, 1)
    keys = pd.Categorical(["b", "a", "b"])
    assert [(k, np.arange(3)[rows].tolist()) for k, rows in groups(keys)] == [("a", [1]),
                                                                             ("b", [0, 2])]
    assert list(groups(["x", "x", "y"])) == [("x", slice(0, 2)), ("y", slice(2, 3))]
