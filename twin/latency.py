"""Network round-trip time between a user region and a site, for inference jobs' latency budgets.

RTT = 2 x great-circle distance x route factor / speed of light in fibre. Light in silica fibre
travels at c / 1.468 (group index of ITU-T G.652 fibre near 1,550 nm), about 204 km per
millisecond; fibre routes are longer than the great circle, by the ``route_factor`` (ASSUMPTION
1.5, configurable: Bozkurt et al. 2017, "Why is the Internet so slow?!", PAM, find terrestrial
paths inflated by about that much over the geodesic before queuing and processing, which this
lower bound leaves out).
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
FIBRE_KM_PER_MS = 299_792.458 / 1.468 / 1000.0
ROUTE_FACTOR = 1.5
# user regions: where inference traffic comes from (city centres, degrees north and east)
REGIONS = {
    "beijing": (39.90, 116.41), "shanghai": (31.23, 121.47), "guangzhou": (23.13, 113.26),
    "shenzhen": (22.54, 114.06), "hangzhou": (30.27, 120.16), "chengdu": (30.57, 104.07),
    "chongqing": (29.56, 106.55), "wuhan": (30.59, 114.31), "xian": (34.34, 108.94),
    "nanjing": (32.06, 118.80), "tianjin": (39.34, 117.36), "shenyang": (41.81, 123.43),
    "urumqi": (43.83, 87.62), "lanzhou": (36.06, 103.83), "hong_kong": (22.32, 114.17),
}


def great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Haversine distance [km] on the mean-radius sphere (error < 0.5 % against the ellipsoid)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.subtract(lon2, lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def round_trip_ms(lat1, lon1, lat2, lon2, route_factor: float = ROUTE_FACTOR) -> np.ndarray:
    """Round-trip propagation time [ms] over fibre between two points [deg]."""
    if not route_factor >= 1:
        raise ValueError(f"route_factor must be >= 1 (fibre is never shorter than the great "
                         f"circle); got {route_factor}")
    return 2 * great_circle_km(lat1, lon1, lat2, lon2) * route_factor / FIBRE_KM_PER_MS


def region_location(region: str) -> tuple[float, float]:
    """Latitude and longitude of a named user region; unknown names raise ValueError."""
    try:
        return REGIONS[region]
    except KeyError:
        raise ValueError(f"unknown user region {region!r}; known: {', '.join(REGIONS)}") from None


def round_trips(region: str | None, locations: dict[str, tuple[float, float]],
                route_factor: float = ROUTE_FACTOR) -> dict[str, float]:
    """Fibre round trip [ms] from a user region to each site of ``locations`` (id ->
    (latitude, longitude)); 0 without a region."""
    if region is None:
        return dict.fromkeys(locations, 0.0)
    lat, lon = region_location(region)
    sites = list(locations)
    rtt = round_trip_ms(lat, lon, [locations[s][0] for s in sites],
                        [locations[s][1] for s in sites], route_factor)
    return dict(zip(sites, np.atleast_1d(rtt).tolist()))


def within_budget(region: str | None, budget_ms: float | None,
                  locations: dict[str, tuple[float, float]],
                  route_factor: float = ROUTE_FACTOR) -> tuple[list[str], dict[str, float]]:
    """The sites of ``locations`` within ``budget_ms`` of fibre round trip from ``region``
    (all without a budget) and every site's round trip; ValueError naming the nearest when
    none is."""
    rtt = round_trips(region, locations, route_factor)
    if budget_ms is None:
        return list(locations), rtt
    near = [s for s in locations if rtt[s] <= budget_ms]
    if not near:
        best = min(locations, key=rtt.get)
        raise ValueError(f"no allowed site is within {budget_ms:g} ms of {region}: the nearest, "
                         f"{best}, is {rtt[best]:.1f} ms away (fibre round trip)")
    return near, rtt
