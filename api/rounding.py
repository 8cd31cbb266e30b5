"""Numbers in answers rounded to what they mean, one rule per quantity, by the unit in the name.

The twin computes in floats; an answer of 10,475,089.92 W or a PUE of 1.1378076602957743
claims a precision nobody has. Every JSON answer (and the CSV time series) goes through
:func:`rounded`: powers and energies to whole W and Wh, PUE to 4 decimals, temperatures to
0.01 degC and so on (``RULES``). What fits must stay reservable: IT headroom and available IT
power are rounded down, so that reserving exactly the advertised watts succeeds (the capacity
check of :mod:`twin.schedule`).
"""

from __future__ import annotations

import math
import re
from functools import cache

from fastapi.responses import JSONResponse

FLOOR = "floor"
# (pattern of the field name, decimals or FLOOR); the first match applies, a name matching none
# is left as it is (coordinates, ids, the Carbon Aware SDK's fields)
RULES = (
    (r"(headroom|available).*_w$", FLOOR),  # whole W, down: what fits stays reservable
    (r"_wh?$", 0),  # W, Wh
    (r"pue", 4),  # PUE, marginal PUE: 1e-4 is 0.01 % of the facility's power
    (r"_degc$", 2),
    (r"_g_per_kwh$", 1),
    (r"_per_kwh$", 4),  # electricity price [currency kWh-1], WUE [L kWh-1]
    (r"_ms$", 2),
    (r"(renewable_fraction|capacity_factor|battery_soc)$", 4),
    (r"fraction$|^mip_gap$", 6),  # a plan's run fractions: 1e-6 of an hour x P
    (r"(emissions_kg_co2|emissions_t|battery_cycles|seconds)$", 3),
    (r"^cost$|_pct$", 2),
)


@cache
def _rule(name: str):
    return next((rule for pattern, rule in RULES if re.search(pattern, name)), None)


def round_value(name: str, x: float):
    """``x`` as field ``name`` is given out: an int for whole units, else rounded; as it is
    when no rule applies or it is not finite."""
    rule = _rule(name)
    if rule is None or not math.isfinite(x):
        return x
    if rule == FLOOR:
        return math.floor(x)
    return round(x) if rule == 0 else round(x, rule)


# JSON values that no rule changes: passed over without a call (an answer has hundreds)
_AS_THEY_ARE = frozenset({str, int, bool, type(None)})


def rounded(value, name: str | None = None):
    """``value`` (JSON data) with every float rounded by the rule of the field it is in; lists
    take the rule of their field."""
    if isinstance(value, dict):
        return {k: v if type(v) in _AS_THEY_ARE else
                round_value(k, v) if type(v) is float else rounded(v, k)
                for k, v in value.items()}
    if isinstance(value, list):
        return [v if type(v) in _AS_THEY_ARE else rounded(v, name) for v in value]
    if isinstance(value, float) and name is not None:
        return round_value(name, value)
    return value


class RoundedJSONResponse(JSONResponse):
    """JSON answers with their numbers rounded (:func:`rounded`): the service's default."""

    def render(self, content) -> bytes:
        return super().render(rounded(content))
