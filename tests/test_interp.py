import numpy as np
import pytest

from twin.interp import interp
from twin.solar import TILTS
from twin.wind import power_curve, wind_efficiency_curve

TABLES = [power_curve("E-115/3000")[:2], power_curve("V90/2000")[:2],
          wind_efficiency_curve("dena_mean"),  # has a repeated breakpoint
          wind_efficiency_curve("knorr_mean"), (TILTS, np.linspace(1.0, 0.2, TILTS.size)),
          (np.array([0.0, 1, 1, 1, 2, 5]), np.array([3.0, 4, 5, 6, 7, 8]))]


@pytest.mark.parametrize("xp, fp", TABLES)
@pytest.mark.parametrize("left, right", [(None, None), (0.0, 0.0), (-1.0, 7.0)])
def test_interp_equals_numpy_to_the_bit(xp, fp, left, right):
    rng = np.random.default_rng(0)
    edges = np.concatenate([xp, np.nextafter(xp, np.inf), np.nextafter(xp, -np.inf),
                            [np.nan, np.inf, -np.inf]])
    for x in (rng.random(200_000) * (xp[-1] - xp[0] + 4) + xp[0] - 2, edges,
              (rng.random((300, 7)) * 91).astype(np.float32)):
        expected, got = np.interp(x, xp, fp, left, right), interp(x, xp, fp, left, right)
        assert got.shape == expected.shape
        assert np.array_equal(got, expected, equal_nan=True)
        assert np.array_equal(np.signbit(got), np.signbit(expected))
