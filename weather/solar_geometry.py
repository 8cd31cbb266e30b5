"""Sun position, extraterrestrial and clear-sky irradiance at each hour's midpoint (pvlib).

Hour labels are interval starts in UTC, so the sun is placed at label + 30 min: the mean position
over the hour, which is what hourly-mean irradiance sees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pvlib


def sun_and_sky(times: pd.DatetimeIndex, latitude: float, longitude: float, altitude: float,
                pressure=None, temp_air=None) -> pd.DataFrame:
    """Solar position, horizontal extraterrestrial and Ineichen clear-sky irradiance per hour.

    times: hourly interval-start labels, naive UTC. Clear sky: Ineichen and Perez (2002) with the
    Linke turbidity climatology bundled with pvlib (Remund et al. 2003), at the site altitude.
    Returns columns zenith, elevation [deg], dni_extra, ghi_extra (on the horizontal), ghi_clear,
    dni_clear, dhi_clear [W m-2], indexed like ``times``.
    """
    mid = times.tz_localize("UTC") + pd.Timedelta(minutes=30)
    pressure = pvlib.atmosphere.alt2pres(altitude) if pressure is None else np.asarray(pressure)
    temp_air = 12.0 if temp_air is None else np.asarray(temp_air)
    sp = pvlib.solarposition.get_solarposition(mid, latitude, longitude, altitude,
                                               pressure=pressure, temperature=temp_air)
    dni_extra = pvlib.irradiance.get_extra_radiation(mid).to_numpy()
    linke = pvlib.clearsky.lookup_linke_turbidity(mid, latitude, longitude)
    airmass = pvlib.atmosphere.get_absolute_airmass(
        pvlib.atmosphere.get_relative_airmass(sp["apparent_zenith"].to_numpy()),
        pvlib.atmosphere.alt2pres(altitude))
    with np.errstate(divide="ignore", invalid="ignore"):  # sun below the horizon
        cs = pvlib.clearsky.ineichen(sp["apparent_zenith"].to_numpy(), airmass, linke.to_numpy(),
                                     altitude=altitude, dni_extra=dni_extra)
    cos_z = np.cos(np.radians(sp["zenith"].to_numpy()))
    out = pd.DataFrame({
        "zenith": sp["zenith"].to_numpy(),
        "elevation": sp["elevation"].to_numpy(),
        "dni_extra": dni_extra,
        "ghi_extra": np.clip(dni_extra * cos_z, 0, None),
        "ghi_clear": np.nan_to_num(cs["ghi"]),
        "dni_clear": np.nan_to_num(cs["dni"]),
        "dhi_clear": np.nan_to_num(cs["dhi"]),
    }, index=times)
    return out


def split_ghi(ghi, sky: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """DNI and DHI [W m-2] from GHI by the Erbs-Driesse decomposition (Driesse et al. 2024,
    pvlib), with the sun of ``sky`` (from :func:`sun_and_sky`). NaN GHI stays NaN."""
    out = pvlib.irradiance.erbs_driesse(np.asarray(ghi, dtype=float), sky["zenith"].to_numpy(),
                                        dni_extra=sky["dni_extra"].to_numpy())
    return np.asarray(out["dni"]), np.asarray(out["dhi"])
