"""Solar PV generation for every site and hour in one vectorised pass (pvlib).

Arrays are ``(site, time)``; per-site parameters are ``(site,)`` and broadcast. Models are pvlib's;
the chain follows PVWatts (Dobos 2014, NREL/TP-6A20-62641) with the desert effects added:

sun (SPA at the hour's midpoint, at the measured pressure) -> orientation (fixed, or single-axis
with backtracking) -> plane-of-array irradiance (Perez or Hay-Davies; ground reflection with the
site's albedo; sky diffuse hidden by the row in front) -> reflection losses (air-glass IAM on the
beam, its Marion integral on diffuse light) -> soiling (Kimber or HSU, with manual cleaning) ->
spectral air-mass modifier at the site's pressure -> optional bifacial rear gain (infinite sheds)
-> cell temperature (Faiman, SAPM or Fuentes) -> PVWatts DC with temperature coefficient and DC
losses -> PVWatts inverter with clipping at the AC rating and high-temperature derating ->
availability. With the row shading, diffuse IAM and spectral steps off it is PVWatts v5.

NaN policy: an hour with a missing input is NaN in every output of that hour (and only that hour);
pvlib's NaN at night (tracker angles, air mass) is resolved explicitly, never by filling zeros.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
import pvlib

from twin.arrays import column, groups
from twin.interp import interp
from twin.model_names import (
    MOUNTINGS,
    SOILING_MODELS,
    SPECTRAL_MODELS,
    TEMPERATURE_MODELS,
    TRANSPOSITIONS,
    check_name,
    unknown_name,
)

# Fuentes (1987) installed NOCT of an open-rack array, as used by PVWatts v5 (Dobos 2014, eq. 4).
FUENTES_NOCT_OPEN_RACK_DEGC = 45.0
# PVWatts inverter reference efficiency (Dobos 2014, eq. 11).
ETA_INV_REF = 0.9637
# air-mass modifier of mono-crystalline Si, a0..a4 (De Soto, Klein and Beckman 2006, Solar Energy
# 80, 78-88), as used by SAM's CEC module model and PVWatts v8
DESOTO_AIRMASS = {"A0": 0.918093, "A1": 0.086257, "A2": -0.024459, "A3": 0.002816, "A4": -0.000126}
# tilts [deg] at which tilt-only factors are tabulated (denser where the ground term changes fast)
TILTS = np.concatenate([np.arange(0.0, 10.0), np.arange(10.0, 90.1, 5.0)])


OPTICAL_FIELDS = ("tracked", "tilt_deg", "azimuth_deg", "gcr", "max_angle_deg", "backtrack",
                  "transposition", "row_sky_shading", "diffuse_iam", "spectral",
                  "bifaciality", "module_height_m")


@dataclass(frozen=True)
class PVArrays:
    """Per-site PV parameters as ``(site,)`` arrays (built from ``sites.PVConfig``)."""

    capacity_wp: np.ndarray
    tracked: np.ndarray  # bool
    tilt_deg: np.ndarray  # fixed tilt; unused where tracked
    azimuth_deg: np.ndarray  # panel azimuth (fixed) or tracker axis azimuth
    gcr: np.ndarray
    max_angle_deg: np.ndarray
    backtrack: np.ndarray  # bool
    transposition: np.ndarray  # str
    albedo: np.ndarray
    row_sky_shading: np.ndarray  # bool
    diffuse_iam: np.ndarray  # bool
    spectral: np.ndarray  # str
    bifaciality: np.ndarray
    module_height_m: np.ndarray
    temperature_model: np.ndarray  # str
    gamma_pdc_per_k: np.ndarray
    dc_loss_fraction: np.ndarray
    dc_ac_ratio: np.ndarray
    inverter_efficiency: np.ndarray
    derate_start_degc: np.ndarray
    derate_end_degc: np.ndarray
    derate_end_fraction: np.ndarray
    availability: np.ndarray
    soiling: np.ndarray  # str
    soiling_rate_per_day: np.ndarray
    cleaning_threshold_mm: np.ndarray
    cleaning_interval_days: np.ndarray  # NaN: no manual cleaning
    max_soiling: np.ndarray

    def optics(self, counts: np.ndarray) -> PVArrays:
        """The optical parameters of elements in site order, site i's repeated ``counts[i]``
        times; the electrical and soiling ones are left out (None), so that misuse fails
        loudly."""
        def repeat(a):  # models named by strings are coded per site, then repeated as codes
            if a.dtype.kind == "U":
                coded = pd.Categorical(a)
                return pd.Categorical.from_codes(np.repeat(coded.codes, counts), coded.categories)
            return np.repeat(a, counts)

        return dataclasses.replace(self, **{f: repeat(getattr(self, f)) if f in OPTICAL_FIELDS
                                            else None for f in self.__dataclass_fields__})

    @classmethod
    def from_configs(cls, configs) -> PVArrays:
        """Stack ``sites.PVConfig`` objects (one per site) into arrays."""
        def col(get, dtype=float):
            return np.array([get(c) for c in configs], dtype=dtype)

        return cls(
            capacity_wp=col(lambda c: c.capacity_wp),
            tracked=col(lambda c: check_name("mounting", c.mounting, MOUNTINGS) == "single_axis",
                        bool),
            tilt_deg=col(lambda c: c.tilt_deg if c.tilt_deg is not None else 0.0),
            azimuth_deg=col(lambda c: c.azimuth_deg),
            gcr=col(lambda c: c.gcr if c.gcr is not None else np.nan),
            max_angle_deg=col(lambda c: c.max_angle_deg),
            backtrack=col(lambda c: c.backtrack, bool),
            transposition=col(lambda c: c.transposition, str),
            albedo=col(lambda c: c.albedo_value),
            row_sky_shading=col(lambda c: c.row_sky_shading and c.gcr is not None, bool),
            diffuse_iam=col(lambda c: c.diffuse_iam, bool),
            spectral=col(lambda c: c.spectral, str),
            bifaciality=col(lambda c: c.bifaciality),
            module_height_m=col(lambda c: c.module_height_m),
            temperature_model=col(lambda c: c.temperature_model, str),
            gamma_pdc_per_k=col(lambda c: c.gamma_pdc_per_k),
            dc_loss_fraction=col(lambda c: c.dc_loss_fraction),
            dc_ac_ratio=col(lambda c: c.dc_ac_ratio),
            inverter_efficiency=col(lambda c: c.inverter_efficiency),
            derate_start_degc=col(lambda c: c.derate_start_degc),
            derate_end_degc=col(lambda c: c.derate_end_degc),
            derate_end_fraction=col(lambda c: c.derate_end_fraction),
            availability=col(lambda c: c.availability),
            soiling=col(lambda c: c.soiling, str),
            soiling_rate_per_day=col(lambda c: c.soiling_rate_per_day),
            cleaning_threshold_mm=col(lambda c: c.cleaning_threshold_mm),
            cleaning_interval_days=col(lambda c: c.cleaning_interval_days or np.nan),
            max_soiling=col(lambda c: c.max_soiling),
        )


def _sun_time_terms(time) -> tuple[np.ndarray, ...]:
    """SPA's site-independent terms at each hour's midpoint: apparent sidereal time, geocentric
    right ascension and declination [deg], Earth-Sun distance [AU], and the extraterrestrial DNI
    [W m-2]. Cached per time axis: every simulation of the same hours shares them."""
    return _sun_time_terms_cached(pd.DatetimeIndex(time).as_unit("ns").asi8.tobytes())


@functools.lru_cache(maxsize=16)
def _sun_time_terms_cached(stamps: bytes) -> tuple[np.ndarray, ...]:
    time = pd.DatetimeIndex(np.frombuffer(stamps, dtype="datetime64[ns]"))
    mid = time + pd.Timedelta(minutes=30)
    unixtime = ((mid - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)).to_numpy(float)
    delta_t = pvlib.spa.calculate_deltat(mid.year.to_numpy(), mid.month.to_numpy())
    v, alpha, delta = pvlib.spa.solar_position_numpy(unixtime, 0.0, 0.0, 0.0, 0.0, 0.0, delta_t,
                                                     0.0, 1, sst=True)
    distance = pvlib.spa.solar_position_numpy(unixtime, 0.0, 0.0, 0.0, 0.0, 0.0, delta_t, 0.0, 1,
                                              esd=True)[0]
    terms = (v, alpha, delta, distance, pvlib.irradiance.get_extra_radiation(mid).to_numpy())
    for a in terms:
        a.setflags(write=False)
    return terms


def _radians(a):
    """``np.radians(a)`` to the bit: numpy's deg2rad multiplies by pi/180 in the array's
    precision, as does this (a Python float takes the array's), but its single-precision loop is
    not vectorised and costs as much as a sine."""
    return a * (np.pi / 180)


def _degrees(a):
    """``np.degrees(a)`` to the bit: numpy's rad2deg multiplies by 180/pi formed from 180 and
    pi in the array's precision; a vectorised multiplication here."""
    dtype = np.result_type(a)
    return a * (dtype.type(180.0) / dtype.type(np.pi))


def sun_position(time, hour, site, latitude, longitude, altitude, pressure,
                 temp_air) -> dict[str, np.ndarray]:
    """Solar position at the hour's midpoint of each (site, hour) element.

    NREL SPA (Reda and Andreas 2004) from pvlib.spa: its costly time terms (sidereal time, sun's
    right ascension and declination, Earth-Sun distance) once per hour of ``time``, the observer's
    terms once per site, the topocentric terms per element. time: ``(T,)`` interval-start labels
    in UTC; latitude, longitude [deg], altitude [m]: ``(S,)`` per site; ``hour`` and ``site``:
    each element's index into ``time`` and into the sites (arrays of one shape, e.g. the lit
    elements of a (site, time) grid); pressure [Pa] and temp_air [degC] (for refraction) of the
    elements, whose precision the results take. Returns apparent_zenith, zenith, azimuth [deg]
    and dni_extra [W m-2] with the elements' shape.

    The topocentric terms are pvlib.spa's expressions (parallax_sun_right_ascension,
    topocentric_sun_declination, topocentric_elevation_angle_without_atmosphere,
    atmospheric_refraction_correction; SPA eqs. 38-43) written out operation for operation, so
    the results are pvlib's to the bit, with the sines and cosines of the hour's angles taken
    once per hour, the site's once per site, and each element's once for all the equations.
    """
    spa = pvlib.spa
    dtype = np.result_type(pressure)  # the time and site terms are double
    v, alpha, delta, distance, dni_extra = (x.astype(dtype) for x in _sun_time_terms(
        pd.DatetimeIndex(time)))
    sin_xi = np.sin(_radians(spa.equatorial_horizontal_parallax(distance)))
    delta_rad = _radians(delta)
    latitude, altitude = np.asarray(latitude, dtype=float), np.asarray(altitude, dtype=float)
    u = spa.uterm(latitude)
    x, y = spa.xterm(u, latitude, altitude), spa.yterm(u, latitude, altitude)
    lat_rad = _radians(latitude.astype(dtype))

    def per_hour(a):  # a flat index gathers faster than a column
        return a.take(np.ravel(hour)).reshape(np.shape(hour))

    def per_site(a):
        return np.asarray(a).astype(dtype).take(np.ravel(site)).reshape(np.shape(site))

    # local hour angle (SPA eq. 32) without its reduction to [0, 360): only its sine and
    # cosine are used, and numpy's single-precision remainder is slow
    hour_angle = per_hour(v) + per_site(longitude) - per_hour(alpha)
    h = _radians(hour_angle)
    sin_xi, x = per_hour(sin_xi), per_site(x)
    # SPA eqs. 38 and 40 share their denominator
    denominator = per_hour(np.cos(delta_rad)) - x * sin_xi * np.cos(h)
    delta_alpha = _degrees(np.arctan2(-x * sin_xi * np.sin(h), denominator))
    delta_prime = _degrees(np.arctan2(
        (per_hour(np.sin(delta_rad)) - per_site(y) * sin_xi) * np.cos(_radians(delta_alpha)),
        denominator))
    h_prime = _radians(hour_angle - delta_alpha)  # SPA eq. 41
    cos_h_prime = np.cos(h_prime)
    delta_prime_rad = _radians(delta_prime)
    e0 = _degrees(np.arcsin(per_site(np.sin(lat_rad)) * np.sin(delta_prime_rad)
                            + per_site(np.cos(lat_rad)) * np.cos(delta_prime_rad) * cos_h_prime))
    # refraction (SPA eq. 42) at the element's pressure [hPa] and temperature, none with the sun
    # more than its radius and the refraction at the horizon (0.5667 deg) below it
    refraction = ((np.asarray(pressure) / 100.0 / 1010.0) * (283.0 / (273 + temp_air)) * 1.02
                  / (60 * np.tan(_radians(e0 + 10.3 / (e0 + 5.11))))) * \
        (e0 >= -1.0 * (0.26667 + 0.5667))
    # topocentric azimuth from north (SPA eqs. 44-46) as one arctan2 in (-180, 180] plus 180
    azimuth = 180.0 + _degrees(np.arctan2(np.sin(h_prime), cos_h_prime * per_site(
        np.sin(np.radians(latitude))) - np.tan(delta_prime_rad) * per_site(
        np.cos(np.radians(latitude)))))
    return {"apparent_zenith": 90.0 - (e0 + refraction), "zenith": 90.0 - e0,
            "azimuth": azimuth, "dni_extra": per_hour(dni_extra)}


def surface_orientation(p: PVArrays, sun: dict) -> tuple[np.ndarray, np.ndarray]:
    """Surface tilt and azimuth [deg] ``(S, T)``: fixed rows, or single-axis trackers on a
    horizontal axis. The tracker turns to the sun's projected zenith angle (Marion and Dobos 2013,
    pvlib.shading.projected_solar_zenith_angle), backs off so that rows do not shade each other
    (Anderson and Mikofski 2020, eq. 14) where it backtracks, and stops at its limit; this is
    pvlib.tracking.singleaxis for a horizontal axis (tests compare them) without its angle of
    incidence and frame conversions, which cost a third of the optics here. Trackers stow flat
    while the sun is down."""
    shape, dtype = sun["zenith"].shape, sun["zenith"].dtype
    tilt = np.broadcast_to(column(p.tilt_deg), shape).astype(dtype)
    azimuth = np.broadcast_to(column(p.azimuth_deg), shape).astype(dtype)
    rows = np.flatnonzero(p.tracked)
    if rows.size == 0:
        return tilt, azimuth

    def param(a):  # in the sun's precision, so the arithmetic stays single precision
        return column(a[rows]).astype(dtype)

    axis_azimuth, zenith = param(p.azimuth_deg), sun["apparent_zenith"][rows]
    ideal = _projected_zenith(zenith, sun["azimuth"][rows], axis_azimuth)
    shade = np.abs(np.cos(_radians(ideal)) / param(p.gcr))  # > 1: rows do not shade
    backtrack = column(p.backtrack[rows]) & (shade < 1)
    theta = ideal - np.where(backtrack, np.sign(ideal) * _degrees(
        np.arccos(np.minimum(shade, 1))), 0)
    limit = param(p.max_angle_deg)
    theta = np.where(zenith >= 90, 0.0, np.clip(theta, -limit, limit))  # stowed flat at night
    tilt[rows] = np.abs(theta)
    turned = np.where(theta > 0, axis_azimuth + 90, axis_azimuth + 270)  # in [90, 630)
    azimuth[rows] = np.where(turned >= 360, turned - 360, turned)  # % 360, exact, and faster
    return tilt, azimuth


def _projected_zenith(zenith, azimuth, axis_azimuth):
    """pvlib.shading.projected_solar_zenith_angle [deg] for a horizontal axis, operation for
    operation (its sz' is the float64 cosine of the zenith there; sines and cosines of the
    angles in radians from a vectorised multiplication)."""
    zenith_rad, azimuth_rad, axis_rad = _radians(zenith), _radians(azimuth), \
        _radians(axis_azimuth)
    sin_zenith = np.sin(zenith_rad)
    sx, sy = sin_zenith * np.sin(azimuth_rad), sin_zenith * np.cos(azimuth_rad)
    sx_prime = sx * np.cos(axis_rad) - sy * np.sin(axis_rad)
    # pvlib: sx sin(axis) sin(0) + sy sin(0) cos(axis) + sz cos(0), zeros and one in float64
    return _degrees(np.arctan2(sx_prime, np.cos(zenith_rad).astype(float)))


def plane_of_array(p: PVArrays, sun: dict, tilt, azimuth, ghi, dni, dhi, albedo,
                   airmass) -> dict:
    """Beam, sky-diffuse and ground-reflected irradiance on the panel plane [W m-2] and the angle
    of incidence [deg]. Sky diffuse by Perez et al. (1990) or Hay and Davies (1980), chosen per
    site; with the sun below the horizon (twilight hours) the sky is isotropic, and with no diffuse
    light there is none (Perez's sky clearness is 0/0 there). ``airmass``: relative air mass
    (Kasten and Young 1989) at the apparent zenith, used where the sun is up.

    pvlib.irradiance's aoi, isotropic, get_ground_diffuse and perez (the 1990 all-sites
    coefficients) written out operation for operation, so the results are pvlib's to the bit,
    with the sines and cosines of the tilt and zenith and the angle-of-incidence projection taken
    once, not once in each model."""
    tilt_rad, zenith_rad = _radians(tilt), _radians(sun["zenith"])
    cos_tilt, sin_tilt, cos_zenith = np.cos(tilt_rad), np.sin(tilt_rad), np.cos(zenith_rad)
    projection = np.clip(cos_tilt * cos_zenith + sin_tilt * np.sin(zenith_rad) * np.cos(
        _radians(sun["azimuth"] - azimuth)), -1, 1)  # pvlib.irradiance.aoi_projection
    aoi = _degrees(np.arccos(projection))
    beam = np.clip(dni * np.cos(_radians(aoi)), 0.0, None)
    isotropic = dhi * (1 + cos_tilt) * 0.5
    sky = isotropic.copy()
    up = (sun["zenith"] < 90) & (dhi > 0)
    for model, rows in groups(p.transposition):
        if model == "perez":
            out = _perez(dhi[rows], dni[rows], sun["dni_extra"][rows], zenith_rad[rows],
                         airmass[rows], projection[rows], cos_zenith[rows], cos_tilt[rows],
                         sin_tilt[rows])
        elif model == "haydavies":
            out = pvlib.irradiance.haydavies(
                tilt[rows], azimuth[rows], dhi[rows], dni[rows], sun["dni_extra"][rows],
                projection_ratio=np.maximum(projection[rows], 0) / np.maximum(
                    cos_zenith[rows], 0.01745))  # as pvlib forms it from the angles
        else:
            raise unknown_name("transposition", model, TRANSPOSITIONS)
        sky[rows] = np.where(up[rows], out, isotropic[rows])
    ground = ghi * albedo * (1 - cos_tilt) * 0.5
    return {"aoi": aoi, "beam": beam, "sky_diffuse": sky, "ground_diffuse": ground}


def _perez(dhi, dni, dni_extra, zenith_rad, airmass, projection, cos_zenith, cos_tilt,
           sin_tilt):
    """pvlib.irradiance.perez (Perez et al. 1990, all-sites composite coefficients) from the
    angles' projection, sines and cosines, operation for operation; its elementwise chain after
    the power of the zenith is compiled (:func:`_perez_sky`)."""
    z3 = 1.041 * (zenith_rad ** 3)  # kappa z^3, zenith in radians
    f1, f2 = (np.vstack((c, np.full(3, np.nan))) for c in  # bin -1 (no bin): NaN
              pvlib.irradiance._get_perez_coefficients("allsitescomposite1990"))
    args = np.broadcast_arrays(dhi, dni, dni_extra, airmass, z3, zenith_rad, projection,
                               cos_zenith, cos_tilt, sin_tilt)
    out = np.empty(args[0].shape, dtype=np.result_type(dhi, float))
    _perez_sky(*(np.ravel(a) for a in args), f1, f2, pvlib.tools.cosd(85), out.reshape(-1))
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _perez_sky(dhi, dni, dni_extra, airmass, z3, z, projection, cos_zenith, cos_tilt, sin_tilt,
               f1, f2, cos85, out):  # pragma: no cover (compiled)
    """pvlib.irradiance.perez's arithmetic per element, in its order and precisions: sky
    brightness and clearness in the inputs' precision, clearness bins compared in double
    (np.digitize), coefficients and the sum in double; maxima as np.maximum (NaN wins, the
    second argument on ties)."""
    one = dhi.dtype.type(1)  # numpy's Python 1 takes the array's precision
    for i in range(out.size):
        delta = dhi[i] * airmass[i] / dni_extra[i]
        eps = np.float64(((dhi[i] + dni[i]) / dhi[i] + z3[i]) / (one + z3[i]))
        b = -1
        for edge in (0., 1.065, 1.23, 1.5, 1.95, 2.8, 4.5, 6.2):
            b += eps >= edge
        brightening = _maximum(f1[b, 0] + f1[b, 1] * delta + f1[b, 2] * z[i], 0.0)
        horizon = f2[b, 0] + f2[b, 1] * delta + f2[b, 2] * z[i]
        sky = (1 - brightening) * 0.5 * (one + cos_tilt[i])
        sky += brightening * _maximum(projection[i], 0.0) / _maximum(np.float64(cos_zenith[i]),
                                                                     cos85)
        sky += horizon * sin_tilt[i]
        sky = _maximum(sky * dhi[i], 0.0)
        out[i] = 0.0 if np.isnan(airmass[i]) else sky


@numba.njit(inline="always")
def _maximum(a, b):  # pragma: no cover (compiled)
    return a if a > b or np.isnan(a) else b


@functools.cache
def _row_sky_table(gcr: float) -> np.ndarray:
    open_plane = (1 + np.cos(np.radians(TILTS))) / 2
    return pvlib.bifacial.utils.vf_row_sky_2d_integ(TILTS, gcr) / open_plane


@functools.lru_cache(maxsize=1)
def _diffuse_iam_table() -> dict[str, np.ndarray]:
    return pvlib.iam.marion_diffuse("physical", TILTS)


def row_sky_factor(p: PVArrays, tilt) -> np.ndarray:
    """Fraction of the sky diffuse that reaches a row inside an array ``(S, T)``: the row's sky view
    factor (pvlib.bifacial.utils.vf_row_sky_2d_integ, averaged over the slant height) over that
    of an open plane at the same tilt; 1 for sites without it (or without a gcr)."""
    factor = np.ones_like(tilt)
    rows = np.flatnonzero(p.row_sky_shading)
    for gcr, idx in groups(p.gcr[rows]):
        r = rows[idx]
        factor[r] = interp(np.abs(tilt[r]), TILTS, _row_sky_table(float(gcr)))
    return factor


def diffuse_iam(p: PVArrays, tilt) -> tuple[np.ndarray, np.ndarray]:
    """Reflection loss factors of sky and ground diffuse light ``(S, T)`` (Marion 2017 integration
    of the physical IAM, pvlib.iam.marion_diffuse); 1 where the site has them off."""
    table = _diffuse_iam_table()
    on = column(p.diffuse_iam)
    sky = np.where(on, interp(np.abs(tilt), TILTS, table["sky"]), 1.0)
    ground = np.where(on, interp(np.abs(tilt), TILTS, table["ground"]), 1.0)
    return sky, ground


def spectral_factor(p: PVArrays, airmass, pressure) -> np.ndarray:
    """Spectral mismatch factor ``(S, T)``: De Soto et al. (2006) c-Si polynomial in the absolute
    air mass (``airmass``, the Kasten-Young relative air mass, at the measured pressure), or 1."""
    factor = np.ones_like(airmass)
    for model, rows in groups(p.spectral):
        if model == "airmass":
            factor[rows] = pvlib.spectrum.spectral_factor_sapm(
                pvlib.atmosphere.get_absolute_airmass(airmass[rows], pressure[rows]),
                DESOTO_AIRMASS)
        elif model != "none":
            raise unknown_name("spectral model", model, SPECTRAL_MODELS)
    return factor


def bifacial_rear(p: PVArrays, sun: dict, tilt, azimuth, ghi, dni, dhi, albedo) -> np.ndarray:
    """Rear-side irradiance times bifaciality [W m-2] (pvlib infinite sheds, Mikofski et al. 2019;
    rows of 2.0 m slant width). pvlib takes scalar row geometry, so sites are grouped by it."""
    rear = np.zeros_like(ghi)
    rows_bifacial = np.flatnonzero(p.bifaciality > 0)
    geometry = np.column_stack([p.gcr, p.module_height_m, p.bifaciality])[rows_bifacial]
    for _, idx in groups([str(g) for g in geometry.tolist()]):
        rows = rows_bifacial[idx]
        gcr, height, bifaciality = geometry[idx][0]
        shape = (len(rows), ghi.shape[1])
        flat = {k: np.broadcast_to(v, shape).ravel() for k, v in {
            "surface_tilt": tilt[rows], "surface_azimuth": azimuth[rows],
            "solar_zenith": sun["zenith"][rows], "solar_azimuth": sun["azimuth"][rows],
            "ghi": ghi[rows], "dhi": dhi[rows], "dni": dni[rows],
            "albedo": np.broadcast_to(albedo, ghi.shape)[rows],
            "dni_extra": sun["dni_extra"][rows]}.items()}
        out = pvlib.bifacial.infinite_sheds.get_irradiance(
            gcr=gcr, height=height / 2.0, pitch=1.0 / gcr, model="haydavies",
            bifaciality=bifaciality, **flat)  # lengths in units of the 2.0 m row width
        rear[rows] = np.asarray(out["poa_global"] - out["poa_front"]).reshape(shape)
    return rear


def _segments(ok: np.ndarray):
    """Slices of the consecutive True runs of ``ok``."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(np.int8), [0]))))
    return [slice(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def cell_temperature(p: PVArrays, time, poa_global, temp_air, wind_speed, tilt) -> np.ndarray:
    """Cell temperature [degC]: Faiman (2008) with pvlib's u0=25, u1=6.84; SAPM (King et al. 2004)
    open-rack glass/polymer (glass/glass for bifacial); or Fuentes (1987) as in PVWatts v5, which
    carries heat from hour to hour and is therefore run per site on each unbroken run of valid
    hours, so a missing hour cannot spread into the rest of the year."""
    out = np.full_like(poa_global, np.nan)
    params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]
    for model, rows in groups(p.temperature_model):
        if model == "faiman":
            out[rows] = pvlib.temperature.faiman(poa_global[rows], temp_air[rows], wind_speed[rows])
        elif model == "sapm":
            glass = np.where(p.bifaciality[rows] > 0, "open_rack_glass_glass",
                             "open_rack_glass_polymer")
            coef = {k: column([params[g][k] for g in glass]) for k in ("a", "b", "deltaT")}
            out[rows] = pvlib.temperature.sapm_cell(poa_global[rows], temp_air[rows],
                                                    wind_speed[rows], **coef)
        elif model == "fuentes":
            index = pd.DatetimeIndex(time)
            for i in np.arange(len(out))[rows]:
                # pvlib's Fuentes takes one tilt: a tracker's mean tilt while it produces
                producing = poa_global[i] > 0
                surface_tilt = (float(np.mean(tilt[i][producing])) if p.tracked[i]
                                and producing.any() else float(p.tilt_deg[i]))
                ok = np.isfinite(poa_global[i]) & np.isfinite(temp_air[i]) & np.isfinite(
                    wind_speed[i])
                for seg in _segments(ok):
                    poa, temp, wind = (pd.Series(a[i, seg], index=index[seg])
                                       for a in (poa_global, temp_air, wind_speed))
                    out[i, seg] = pvlib.temperature.fuentes(
                        poa, temp, wind, FUENTES_NOCT_OPEN_RACK_DEGC,
                        surface_tilt=surface_tilt).to_numpy()
        else:
            raise unknown_name("temperature model", model, TEMPERATURE_MODELS)
    return out


# Kimber's loss of a site by its hours, parameters and rain (None: no rain data): the sites of a
# run, and the runs, with the same inputs share one result (pandas, about 1 ms a site-year)
_KIMBER: dict[tuple, np.ndarray] = {}
KIMBER_KEPT = 64


def soiling_loss(p: PVArrays, time, precipitation, pm2_5, pm10, tilt) -> np.ndarray:
    """Fraction of front irradiance lost to dust ``(S, T)``.

    ``kimber``: Kimber et al. (2006), linear accumulation reset by rain (daily total above the
    threshold, with a grace period) and by manual cleaning every ``cleaning_interval_days``.
    ``hsu``: Coello and Boyle (2019) deposition from PM2.5 and PM10 [ug m-3] reset by rain; manual
    cleaning enters as a rain event above the threshold. ``precipitation`` [mm per hour] may be
    ``None`` (no rain data: only manual cleaning cleans).
    """
    index = pd.DatetimeIndex(time)
    loss = np.zeros((len(p.capacity_wp), len(index)))
    hours = (index.asi8.tobytes(), str(index.tz))
    for i in range(len(loss)):
        model = check_name("soiling model", p.soiling[i], SOILING_MODELS)
        if model == "none":
            continue
        if model == "kimber":
            key = (hours, *(None if np.isnan(v) else float(v) for v in (
                p.cleaning_threshold_mm[i], p.soiling_rate_per_day[i], p.max_soiling[i],
                p.cleaning_interval_days[i])),
                   None if precipitation is None else precipitation[i].tobytes())
            if (done := _KIMBER.get(key)) is not None:
                loss[i] = done
                continue
        rain = pd.Series(0.0 if precipitation is None else precipitation[i], index=index)
        wash = (pd.DatetimeIndex([]) if np.isnan(p.cleaning_interval_days[i]) else pd.date_range(
            index[0].normalize(), index[-1],
            freq=pd.Timedelta(days=float(p.cleaning_interval_days[i])).round("h"))[1:])
        if model == "kimber":
            loss[i] = pvlib.soiling.kimber(
                rain, cleaning_threshold=p.cleaning_threshold_mm[i],
                soiling_loss_rate=p.soiling_rate_per_day[i], max_soiling=p.max_soiling[i],
                manual_wash_dates=wash.intersection(index)).to_numpy()
            if len(_KIMBER) >= KIMBER_KEPT:
                _KIMBER.clear()
            _KIMBER[key] = loss[i].copy()
        else:
            if pm2_5 is None or pm10 is None:
                raise ValueError("soiling model 'hsu' needs pm2_5 and pm10 in the weather")
            rain[wash.intersection(index)] = p.cleaning_threshold_mm[i] + 1.0
            ratio = pvlib.soiling.hsu(
                rain, p.cleaning_threshold_mm[i], pd.Series(tilt[i], index=index),
                pd.Series(pm2_5[i] * 1e-6, index=index), pd.Series(pm10[i] * 1e-6, index=index))
            loss[i] = np.minimum(1.0 - ratio.to_numpy(), p.max_soiling[i])
    return loss


def inverter_derating(temp_air, start_degc, end_degc, end_fraction) -> np.ndarray:
    """Fraction of the AC rating available at ambient ``temp_air`` [degC]: 1 up to ``start_degc``,
    falling linearly to ``end_fraction`` at ``end_degc`` and held there (datasheet derating)."""
    x = np.clip((temp_air - column(start_degc)) / column(np.subtract(end_degc, start_degc)),
                0.0, 1.0)
    return 1.0 - (1.0 - column(end_fraction)) * x


def optics(q: PVArrays, time, hour, site, lit: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The optical chain for lit (site, hour) elements, each a one-hour "site" ``(D, 1)``:
    returns ``optical`` (front irradiance reaching the cells before soiling, after reflection,
    row shading and spectrum), ``front`` (plane-of-array global), ``tilt`` and ``rear`` (bifacial
    gain) [W m-2, deg]. ``lit``: latitude, longitude, altitude ``(S,)`` of the sites, pressure,
    temp_air, ghi, dni, dhi and albedo of the elements; ``hour`` and ``site``: their index into
    ``time`` and into the sites."""
    sun = sun_position(time, hour, site, lit["latitude"], lit["longitude"], lit["altitude"],
                       lit["pressure"], lit["temp_air"])
    tilt, azimuth = surface_orientation(q, sun)
    ghi, dni, dhi, albedo = lit["ghi"], lit["dni"], lit["dhi"], lit["albedo"]
    # relative air mass at the apparent zenith, for Perez (where the sun is up) and the spectrum
    airmass = pvlib.atmosphere.get_relative_airmass(np.where(
        sun["apparent_zenith"] < 90, sun["apparent_zenith"], 0.0))
    poa = plane_of_array(q, sun, tilt, azimuth, ghi, dni, dhi, albedo, airmass)
    iam = pvlib.iam.physical(poa["aoi"])  # air-glass-cell, n=1.526, K=4 m-1, L=2 mm (PVWatts v5)
    iam_sky, iam_ground = diffuse_iam(q, tilt)
    sky = poa["sky_diffuse"] * row_sky_factor(q, tilt)
    optical = (poa["beam"] * iam + sky * iam_sky + poa["ground_diffuse"] * iam_ground) * \
        spectral_factor(q, airmass, lit["pressure"])
    rear = (bifacial_rear(q, sun, tilt, azimuth, ghi, dni, dhi, albedo)
            if np.any(q.bifaciality > 0) else np.zeros_like(optical))
    return {"optical": optical, "front": poa["beam"] + sky + poa["ground_diffuse"],
            "tilt": tilt, "rear": rear}


def pv_power(p: PVArrays, time, weather: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """AC power [W] of every site's PV plant, every hour, and the intermediate quantities.

    weather: ``(S, T)`` arrays ghi, dni, dhi [W m-2], temp_air [degC], wind_speed [m s-1] (any
    height: used for cell cooling), pressure [Pa], optional albedo, precipitation [mm], pm2_5,
    pm10 [ug m-3]; plus ``latitude longitude altitude`` ``(S,)``.

    The optics (:func:`optics`) run on the lit (site, hour) elements only: dark hours give no
    light whatever the geometry, and skipping them halves the work. They run in single precision
    (7 significant digits, far inside the models' uncertainty): numpy's float32 sine and cosine
    are vectorised and about 20 times faster than float64 ones. Soiling and cell temperature, which
    carry state from hour to hour, and the electrical models run on the whole ``(S, T)`` grid in
    double precision.
    """
    ghi, dni, dhi = weather["ghi"], weather["dni"], weather["dhi"]
    temp_air, wind_speed = weather["temp_air"], weather["wind_speed"]
    lit_mask = (ghi > 0) | (dni > 0) | (dhi > 0)  # NaN is dark here, NaN below
    flat = np.flatnonzero(lit_mask)
    counts = np.count_nonzero(lit_mask, axis=1)  # the elements are in site order
    rows = np.repeat(np.arange(len(counts)), counts)
    hours = flat - rows * ghi.shape[1]

    def lit(a, dtype=np.float32):  # a (site, 1) column or (site, time) array at the lit elements
        a = np.asarray(a)
        return (np.repeat(a[:, 0], counts) if a.shape[1] == 1 else np.ravel(a).take(flat))[
            :, None].astype(dtype, copy=False)

    def grid(a, dark=0.0):
        out = np.broadcast_to(np.asarray(dark, dtype=float), ghi.shape).copy()
        np.put(out, flat, a[:, 0])
        return out

    inputs = {k: weather[k] for k in ("latitude", "longitude", "altitude")}
    inputs.update({k: lit(weather[k]) for k in ("pressure", "temp_air", "ghi", "dni", "dhi")})
    inputs["albedo"] = lit(weather["albedo"] if "albedo" in weather else column(p.albedo))
    light = optics(p.optics(counts), time, hours[:, None], rows[:, None], inputs)
    tilt = grid(light["tilt"], dark=column(np.where(p.tracked, 0.0, p.tilt_deg)))  # stow flat
    front = grid(light["front"])
    soiling = soiling_loss(p, time, weather.get("precipitation"), weather.get("pm2_5"),
                           weather.get("pm10"), tilt)
    temp_cell = cell_temperature(p, time, front, temp_air, wind_speed, tilt)

    def per_lit(a):  # the electrical models in double precision
        return lit(a, float)

    effective = light["optical"] * (1 - per_lit(soiling)) + light["rear"]
    pdc = pvlib.pvsystem.pvwatts_dc(effective, per_lit(temp_cell), per_lit(column(p.capacity_wp)),
                                    per_lit(column(p.gamma_pdc_per_k))) * \
        (1 - per_lit(column(p.dc_loss_fraction)))
    pac_rated = per_lit(column(p.capacity_wp / p.dc_ac_ratio))
    has_pv = pac_rated > 0  # a site without PV (capacity 0): no power, and no 0 / 0 below
    efficiency = per_lit(column(p.inverter_efficiency))
    pac = pvlib.inverter.pvwatts(pdc, np.where(has_pv, pac_rated, 1.0) / efficiency, efficiency,
                                 ETA_INV_REF)
    limit = pac_rated * inverter_derating(per_lit(temp_air), *(np.repeat(a, counts) for a in (
        p.derate_start_degc, p.derate_end_degc, p.derate_end_fraction)))
    pac = grid(np.where(has_pv, np.minimum(pac, limit), 0.0)
               * per_lit(column(p.availability)))  # dark: no power
    missing = ~np.isfinite(ghi + dni + dhi + temp_air + wind_speed + weather["pressure"])
    out = {"pv_power": pac, "poa_global": front, "soiling_loss": soiling, "temp_cell": temp_cell}
    for v in out.values():
        v[missing] = np.nan
    if (np.isnan(pac) & ~missing).any():  # a model produced NaN from valid inputs: a bug, not data
        raise FloatingPointError("PV model produced NaN from valid inputs")
    return out
