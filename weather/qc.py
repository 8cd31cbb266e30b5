"""Quality control and repair of an hourly single-site weather frame.

Real station files are dirty: the CSWD typical years for western China have daylight hours with all
irradiance zero under a high sun, near-horizon hours with impossible diffuse, and irradiance that is
time-shifted against the sun by half an hour to two hours. Every check below flags values; flagged
values are repaired by a documented method, and every repair is counted in a :class:`QCReport` that
ends up in the Dataset attributes. With ``strict=True`` the first problem raises instead.

Checks and repairs, in order:

1. gaps (hours missing from the time axis) and NaN: filled like the TMY3 procedure (Wilcox and
   Marion 2008, NREL/TP-581-43156, sec. 2.3): runs of up to 5 h by linear interpolation, longer
   runs from the same hour of the adjacent days (mean of the valid values within +-7 days);
2. values in the wrong unit, judged on the whole column (temperature in K, pressure in hPa or kPa,
   relative humidity as a fraction, irradiance in kJ m-2 per hour): converted;
3. physical range of each meteorological variable (``LIMITS``) and hour-to-hour spikes larger than
   ``SPIKE_LIMITS`` that return at the next hour: set missing, then filled as in 1;
4. dew point above air temperature: set to the air temperature (saturation);
5. irradiance timing: the centroid of each month's mean diurnal GHI is compared with the clear-sky
   centroid; a shift of more than ``TIMING_TOLERANCE_H`` is repaired by re-timing the clear-sky
   index and diffuse fraction, an offset beyond ``MAX_TIMING_OFFSET_H`` is a wrong time zone and is
   refused;
6. irradiance at night set to zero; BSRN/QCRad "physically possible" limits (Long and Shi 2008, via
   pvanalytics) on GHI, DNI and DHI; "dark daylight" (sun more than 10 deg up with GHI or DHI below
   ``DARK_FRACTION`` of the extraterrestrial horizontal irradiance: no cloud or dust storm is that
   dark, such hours are missing data written as zero): set missing;
7. component closure GHI = DNI cos z + DHI and diffuse ratio (QCRad consistency tests): an hour
   whose GHI passed is repaired by splitting GHI into DNI and DHI with the Erbs-Driesse model
   (Driesse et al. 2024, pvlib); an hour whose GHI is missing but whose DNI and DHI passed gets GHI
   from closure; the rest get GHI from the gap fill of the clear-sky index (step 1 applied to
   GHI/GHI_clear) and are then split by Erbs-Driesse;
8. a split (or re-timed) DNI above the QCRad limit (the extraterrestrial DNI): a GHI far above
   clear sky near the horizon makes any decomposition return an impossible beam. DNI becomes the
   clear-sky DNI times the clear-sky index capped at 1, DHI the closure remainder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pvlib
from pvanalytics.quality import irradiance as qcrad

from twin.variables import WEATHER_OPTIONAL
from weather.errors import WeatherError
from weather.solar_geometry import split_ghi, sun_and_sky

# Physically possible range of each meteorological variable [its unit in twin.variables].
LIMITS = {
    "temp_air": (-80.0, 60.0),
    "temp_dew": (-90.0, 40.0),
    "relative_humidity": (0.0, 100.0),
    "pressure": (30_000.0, 110_000.0),
    "wind_speed": (0.0, 75.0),
    "albedo": (0.0, 1.0),
    "pm10": (0.0, 30_000.0),
    "pm2_5": (0.0, 30_000.0),
    "precipitable_water": (0.0, 10.0),
    "precipitation": (0.0, 400.0),  # mm in one hour; the world record is about 300 mm
}
# A spike: an hour that departs from both neighbours by more than this, in the same direction.
SPIKE_LIMITS = {"temp_air": 10.0, "temp_dew": 12.0, "pressure": 800.0, "wind_speed": 20.0}
MAX_INTERPOLATED_RUN_H = 5
ADJACENT_DAYS = 7
TIMING_TOLERANCE_H = 0.25
MAX_TIMING_OFFSET_H = 3.0
DARK_FRACTION = 0.02
DARK_MIN_ELEVATION_DEG = 10.0
MIN_VALID_FRACTION = 0.8
IRRADIANCE = ("ghi", "dni", "dhi")
OPTIONAL = WEATHER_OPTIONAL


@dataclass
class QCReport:
    """Every problem found: one entry per (variable, check), with its count and first bad row."""

    source: str
    entries: list[dict] = field(default_factory=list)
    timing_offset_h: dict[int, float] = field(default_factory=dict)

    def add(self, variable: str, check: str, mask, frame: pd.DataFrame, action: str):
        mask = np.asarray(mask, dtype=bool)
        n = int(mask.sum())
        if n == 0:
            return
        i = int(np.argmax(mask))
        row = frame["_row"].iloc[i]
        self.entries.append({
            "variable": variable, "check": check, "count": n, "action": action,
            "first_row": None if pd.isna(row) else int(row),
            "first_time": str(frame.index[i]),
        })

    @property
    def repaired(self) -> int:
        return sum(e["count"] for e in self.entries)

    def raise_if_any(self):
        if self.entries:
            e = self.entries[0]
            raise WeatherError(self.source, f"{e['check']} in {e['count']} value(s) "
                               "(strict=True refuses repairs)", variable=e["variable"],
                               row=e["first_row"], time=e["first_time"])

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.entries, columns=["variable", "check", "count", "action",
                                                   "first_row", "first_time"])

    def to_attrs(self) -> dict:
        return {"qc_repaired_values": self.repaired,
                "qc_report": json.dumps({"entries": self.entries,
                                         "irradiance_timing_offset_h": self.timing_offset_h})}


def report_from_attrs(attrs: dict) -> pd.DataFrame:
    """The QC report of a Dataset made by a reader, as a table."""
    entries = json.loads(attrs.get("qc_report", '{"entries": []}'))["entries"]
    return QCReport("", entries).to_frame()


def _runs(mask: np.ndarray) -> np.ndarray:
    """Length of the run of True each element belongs to (0 where False)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.zeros(mask.size, dtype=int)
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
    starts, ends = edges[::2], edges[1::2]
    out = np.zeros(mask.size, dtype=int)
    for s, e in zip(starts, ends):
        out[s:e] = e - s
    return out


def fill_gaps(series: pd.Series) -> pd.Series:
    """Fill NaN as TMY3 does: short runs linearly, long runs from the same hour of adjacent days."""
    missing = series.isna().to_numpy()
    if not missing.any():
        return series
    short = missing & (_runs(missing) <= MAX_INTERPOLATED_RUN_H)
    out = series.copy()
    out[short] = series.interpolate(limit_area="inside")[short]
    hour_of_day = series.index.hour
    by_hour = out.groupby(hour_of_day)
    window = 2 * ADJACENT_DAYS + 1
    adjacent = by_hour.transform(lambda s: s.rolling(window, center=True, min_periods=1).mean())
    out = out.fillna(adjacent)
    out = out.fillna(by_hour.transform("mean"))  # whole fortnights missing: mean of that hour
    return out.ffill().bfill()  # a short run at either end of the series


# Unit judgement (step 2): each column is judged on the whole file by physics that a wrong unit
# cannot satisfy, and a column that fits no known unit is refused (never range-clipped and filled).
# Thresholds, from the 16 real typical years in ../shared/weather (western China, Phoenix):
# - GHI: the 97th percentile over days of (daily GHI / daily Ineichen clear-sky GHI) is 0.81-1.13;
#   in W m-2 it must lie in CLEAR_SKY_RATIO, in kJ m-2 per hour in KJ_CLEAR_SKY_RATIO; a doubled
#   GHI (1.6-2.3) fits neither and is refused;
# - DNI, DHI: median closure error |DNI cos z + DHI - GHI| / GHI over lit hours is 0.00-0.07 in
#   the real files and 0.15-0.44 with DNI and DHI swapped;
# - temperature, dew point and relative humidity agree through Magnus to a median 0.1-2.4 %
#   points; a temperature in degF (or RH as a fraction) breaks that by tens of points;
# - wind: the 99.9th percentile of hourly wind is 7-12.4 m s-1 and the mean 0.8-3.7 m s-1;
# - a stuck sensor: the longest run of one temperature value is 12 h.
CLEAR_SKY_RATIO = (0.05, 1.3)  # the low end: a week of the darkest overcast, not W m-2 below it
KJ_CLEAR_SKY_RATIO = (0.7 * 3.6, 1.3 * 3.6)  # kJ m-2: never overlaps a doubled GHI (1.6-2.3)
KJ_PER_WH = 3.6
DNI_CLEAR_SKY_RATIO_MAX = 1.5
CLOSURE_OK = 0.12
CLOSURE_REFUSE = 0.25
MAGNUS_RH_TOLERANCE = 10.0
WIND_P999_MAX = 25.0
WIND_MEAN_MAX = 10.0
MAX_CONSTANT_RUN_H = {"temp_air": 48}
MIN_JUDGED_DAYS = 7  # whole days needed to judge irradiance (a short forecast is not judged)
MAX_DARK_DAYLIGHT_FRACTION = 0.2  # "dark daylight" hours (step 6) beyond this are not repairable
MIN_CONSTANT_WIND_H = 720  # one wind speed for a month or more: a filler (all-zero: at any length)


def _daily_ratio_q97(values: pd.Series, clear: np.ndarray) -> tuple[float, int]:
    """97th percentile over days of (daily sum / clear-sky daily sum), over the hours that have a
    value, and the number of days judged."""
    ok = values.notna().to_numpy()  # night hours count too: a time shift moves sun across them
    day = values.index.floor("D")
    num = pd.Series(np.where(ok, values.to_numpy(), 0.0), index=values.index).groupby(day).sum()
    den = pd.Series(np.where(ok, clear, 0.0), index=values.index).groupby(day).sum()
    grouped = pd.Series(clear, index=values.index).groupby(day)
    full, hours = grouped.sum(), grouped.size()
    use = (den > 0.8 * full) & (hours == 24) & (full > 0)  # whole days, most daylight present
    if use.sum() == 0:
        return float("nan"), 0
    return float((num[use] / den[use]).quantile(0.97)), int(use.sum())


def _refuse(report, message, variable):
    raise WeatherError(report.source, message, variable=variable)


def _ghi_offset_h(frame, sky) -> float:
    """How late [h] the file's GHI peaks against the clear sky, over the whole file."""
    hours = frame.index.hour.to_numpy() + 0.5
    offset = _centroid_h(np.nan_to_num(frame["ghi"].to_numpy()), hours) - \
        _centroid_h(sky["ghi_clear"].to_numpy(), hours)
    return (offset + 12) % 24 - 12


def _judge_ghi(frame, sky, report):
    s = frame["ghi"]
    clear = sky["ghi_clear"].to_numpy()
    q, days = _daily_ratio_q97(s, clear)
    if days < MIN_JUDGED_DAYS:
        return
    if not np.nanmax(np.r_[s.to_numpy(), 0.0]) > 0:
        _refuse(report, "no irradiance at all in daylight (every value zero): missing data, "
                "refused rather than filled", "ghi")
    day = sky["elevation"].to_numpy() > DARK_MIN_ELEVATION_DEG
    dark = day & (s.to_numpy() < DARK_FRACTION * sky["ghi_extra"].to_numpy())
    if day.sum() >= 24 and dark.sum() > MAX_DARK_DAYLIGHT_FRACTION * day.sum() and \
            abs(_ghi_offset_h(frame, sky)) <= MAX_TIMING_OFFSET_H:  # else step 5 refuses
        _refuse(report, f"{dark.sum() / day.sum():.0%} of daylight hours (sun > "
                f"{DARK_MIN_ELEVATION_DEG:g} deg) have no irradiance (real files: at most 10 %): "
                "missing data written as zero, too much to fill; refused", "ghi")
    lo, hi = CLEAR_SKY_RATIO
    evidence = (f"97th percentile over {days} days of daily GHI / clear-sky GHI (Ineichen at "
                f"the file's location) is {q:.2f}")
    if lo <= q <= hi:
        return
    if KJ_CLEAR_SKY_RATIO[0] <= q <= KJ_CLEAR_SKY_RATIO[1]:
        report.add("ghi", "unit: in kJ m-2 per hour", s.notna(), frame,
                   f"converted to W m-2 ({evidence}, {q / KJ_PER_WH:.2f} after / 3.6)")
        frame["ghi"] = s / KJ_PER_WH
        return
    _refuse(report, f"{evidence}, expected {lo}-{hi} in W m-2 (or "
            f"{KJ_CLEAR_SKY_RATIO[0]:.2f}-{KJ_CLEAR_SKY_RATIO[1]:.2f} in kJ m-2 per hour): wrong "
            "unit, scale or site; refused", "ghi")


def _closure_error(ghi, dni, dhi, cos_z, lit) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.abs(dni * cos_z + dhi - ghi)[lit] / ghi[lit]
    return float(np.nanmedian(err)) if np.isfinite(err).any() else float("nan")


def _judge_components(frame, sky, report):
    """DNI and DHI by closure with the (judged) GHI: as given, each possibly in kJ m-2, or
    swapped."""
    ghi, dni, dhi = (frame[v].to_numpy() for v in IRRADIANCE)
    offset = _ghi_offset_h(frame, sky)
    if abs(offset) > MAX_TIMING_OFFSET_H:  # a wrong time zone: step 5 refuses it
        return
    cos_zs = [np.cos(np.radians(sky["zenith"].to_numpy()))]
    if abs(offset) > TIMING_TOLERANCE_H:
        # time-shifted irradiance (step 5): the components may follow the label's sun or the sun
        # the irradiance saw; closure is judged against the better of the two
        seen = sun_and_sky(frame.index - pd.Timedelta(hours=offset), *sky.attrs["site"])
        cos_zs.append(np.cos(np.radians(seen["zenith"].to_numpy())))
    lit = (sky["elevation"].to_numpy() > 10) & (ghi > 50) & np.isfinite(dni) & np.isfinite(dhi)
    if lit.sum() < 24:
        return
    if not (dni[lit].any() or dhi[lit].any()):  # GHI only: the components are split from it
        report.add("dni dhi", "no DNI nor DHI given (all zero in daylight)", lit, frame,
                   "split from GHI (Erbs-Driesse) in step 7")
        return
    options = {}
    for swap in (False, True):
        b, d = (dhi, dni) if swap else (dni, dhi)
        for fb in (1.0, KJ_PER_WH):
            for fd in (1.0, KJ_PER_WH):
                options[(swap, fb, fd)] = np.nanmin(
                    [_closure_error(ghi, b / fb, d / fd, cos_z, lit) for cos_z in cos_zs])
    given = options[(False, 1.0, 1.0)]
    best = min(options, key=lambda k: np.inf if np.isnan(options[k]) else options[k])
    err = options[best]
    if given < CLOSURE_OK or best == (False, 1.0, 1.0) or not err < min(CLOSURE_OK, given / 2):
        if given > CLOSURE_REFUSE:
            _refuse(report, f"closure GHI = DNI cos z + DHI fails in the median lit hour by "
                    f"{given:.0%} (real files: under {CLOSURE_OK:.0%}); no unit or column order "
                    "makes it close: wrong unit or columns; refused", "dni")
        _judge_dni_clear_sky(frame, sky, report)
        return
    swap, fb, fd = best
    if swap:
        _refuse(report, f"DNI and DHI look swapped: closure GHI = DNI cos z + DHI fails by "
                f"{given:.0%} in the median lit hour as given and holds to {err:.0%} with the two "
                "columns exchanged; refused (fix the column order)", "dni")
    for name, factor in (("dni", fb), ("dhi", fd)):
        if factor != 1.0:
            report.add(name, "unit: in kJ m-2 per hour", frame[name].notna(), frame,
                       f"converted to W m-2 (closure error {given:.0%} as given, {err:.0%} "
                       "after / 3.6)")
            frame[name] = frame[name] / factor
    _judge_dni_clear_sky(frame, sky, report)


def _judge_dni_clear_sky(frame, sky, report):
    q, days = _daily_ratio_q97(frame["dni"], sky["dni_clear"].to_numpy())
    if days >= MIN_JUDGED_DAYS and q > DNI_CLEAR_SKY_RATIO_MAX:
        _refuse(report, f"97th percentile over {days} days of daily DNI / clear-sky DNI is "
                f"{q:.2f} (at most {DNI_CLEAR_SKY_RATIO_MAX} possible): wrong unit or scale; "
                "refused", "dni")


def _magnus_rh_error(frame) -> float:
    with np.errstate(invalid="ignore", over="ignore"):
        rh = pvlib.atmosphere.rh_from_tdew(frame["temp_air"], frame["temp_dew"])
    return float(np.nanmedian(np.abs(rh - frame["relative_humidity"])))


def _judge_temperature_and_humidity(frame, report, derived: tuple[str, ...]):
    for name in ("temp_air", "temp_dew"):
        s = frame.get(name)
        if s is not None and s.notna().any() and s.median() > 150:
            report.add(name, "unit: in kelvin", s.notna(), frame,
                       f"converted K to degC (median {s.median():.1f})")
            frame[name] = s - 273.15
    rh = frame.get("relative_humidity")
    if rh is not None and rh.notna().any() and rh.quantile(0.99) <= 1.5 and rh.median() > 0:
        report.add("relative_humidity", "unit: as a fraction", rh.notna(), frame,
                   f"converted to % (99th percentile {rh.quantile(0.99):.2f})")
        frame["relative_humidity"] = rh * 100
    t = frame["temp_air"].dropna()
    if len(t) >= 48:
        run = int(_runs(np.r_[False, np.diff(t.to_numpy()) == 0]).max()) + 1
        if t.nunique() == 1 or run > MAX_CONSTANT_RUN_H["temp_air"]:
            _refuse(report, f"one value ({t.mode().iloc[0]:g}) for {run} consecutive hours: a "
                    "stuck sensor or a filler, not weather; refused", "temp_air")
    hot = (t > LIMITS["temp_air"][1]).mean() if len(t) else 0.0
    if hot > 0.01:
        _refuse(report, f"{hot:.0%} of hours above {LIMITS['temp_air'][1]:g} degC (max "
                f"{t.max():.1f}): degF or another unit? give degC (or K); refused", "temp_air")
    if derived or len(t) < 48:
        return
    err = _magnus_rh_error(frame)
    if err > MAGNUS_RH_TOLERANCE:
        fahrenheit = frame[["temp_air", "temp_dew"]].sub(32).mul(5 / 9)
        err_f = _magnus_rh_error(pd.concat([fahrenheit, frame[["relative_humidity"]]], axis=1))
        hint = (f"; in degF they agree to {err_f:.1f}: temperatures in degF, give degC"
                if err_f < MAGNUS_RH_TOLERANCE else "")
        _refuse(report, f"temp_air, temp_dew and relative_humidity disagree: RH from Magnus "
                f"differs from the file's by {err:.0f} % points in the median hour (real "
                f"files: under 3){hint}; refused", "temp_air")


def _judge_wind(frame, report):
    w = frame["wind_speed"].dropna()
    if len(w) < 48:
        return
    if w.nunique() == 1 and (w.iloc[0] == 0 or len(w) >= MIN_CONSTANT_WIND_H):
        _refuse(report, f"every hour has the same wind speed ({w.iloc[0]:g}): a filler, not "
                "weather; refused", "wind_speed")
    p999, mean = float(w.quantile(0.999)), float(w.mean())
    if p999 > WIND_P999_MAX or mean > WIND_MEAN_MAX:
        _refuse(report, f"mean {mean:.1f} and 99.9th percentile {p999:.1f} where hourly 10 m "
                f"wind over land stays under {WIND_MEAN_MAX:g} and {WIND_P999_MAX:g} m s-1: not "
                "m s-1 (km/h? knots?); refused", "wind_speed")


def _judge_units(frame, sky, report: QCReport, derived: tuple[str, ...] = ()):
    """Step 2: judge every column's unit on the whole file; convert what is certain (K, hPa,
    kPa, RH fraction, kJ m-2), refuse what fits no unit (naming the evidence)."""
    col = frame.get
    _judge_temperature_and_humidity(frame, report, derived)
    for lo, hi, factor, unit in ((300, 1100, 100, "hPa"), (30, 110, 1000, "kPa")):
        s = col("pressure")
        if s is not None and s.notna().any() and lo < s.median() <= hi:
            report.add("pressure", f"unit: in {unit}", s.notna(), frame,
                       f"converted {unit} to Pa")
            frame["pressure"] = s * factor
    _judge_wind(frame, report)
    _judge_ghi(frame, sky, report)
    _judge_components(frame, sky, report)


def _flag_range_and_spikes(frame: pd.DataFrame, report: QCReport, action: str):
    """Values outside their physical range, and single-hour spikes, set missing (``action``
    says what follows)."""
    for name, (lo, hi) in LIMITS.items():
        if name not in frame:
            continue
        s = frame[name]
        bad = (s < lo) | (s > hi)
        if name == "relative_humidity":  # sensors read slightly above saturation
            over = (s > hi) & (s <= 105)
            report.add(name, "slightly above 100 %", over, frame, "set to 100 %")
            frame.loc[over, name] = 100.0
            bad &= ~over
        report.add(name, f"outside physical range [{lo}, {hi}]", bad, frame, action)
        frame.loc[bad, name] = np.nan
    for name, limit in SPIKE_LIMITS.items():
        if name not in frame:
            continue
        s = frame[name]
        up, down = s - s.shift(1), s - s.shift(-1)
        spike = ((up > limit) & (down > limit)) | ((up < -limit) & (down < -limit))
        report.add(name, f"spike larger than {limit}", spike, frame, action)
        frame.loc[spike, name] = np.nan


def _centroid_h(values: np.ndarray, hours: np.ndarray) -> float:
    """Circular centroid [h] of a diurnal profile."""
    return float(np.angle(np.sum(values * np.exp(2j * np.pi * hours / 24))) * 12 / np.pi)


def _retime(frame, sky, latitude, longitude, altitude, report: QCReport):
    """Re-align irradiance with the sun, month by month, through the clear-sky index."""
    hours = frame.index.hour.to_numpy() + 0.5
    ghi = frame["ghi"].to_numpy()
    valid = np.isfinite(ghi) & (ghi > DARK_FRACTION * sky["ghi_extra"].to_numpy())
    offsets = np.zeros(len(frame))
    for month in range(1, 13):
        m = np.asarray(frame.index.month == month)
        use = m & (valid | (sky["elevation"].to_numpy() <= 0))
        if (m & valid).sum() < 24:
            continue
        d = _centroid_h(np.nan_to_num(ghi[use]), hours[use]) - \
            _centroid_h(sky["ghi_clear"].to_numpy()[use], hours[use])
        d = (d + 12) % 24 - 12
        report.timing_offset_h[month] = round(d, 2)
        offsets[m] = d
    median = float(np.median(list(report.timing_offset_h.values()) or [0.0]))
    if abs(median) > MAX_TIMING_OFFSET_H:
        raise WeatherError(report.source, f"irradiance peaks {median:+.1f} h from solar noon: "
                           "wrong time zone or time labels (times must be UTC, or the file's "
                           "stated zone)", variable="ghi")
    shift = np.abs(offsets) > TIMING_TOLERANCE_H
    if not shift.any():
        return
    report.add("ghi dni dhi", "irradiance time-shifted against the sun",
               shift & (sky["elevation"] > 0), frame,
               "re-timed through clear-sky index and diffuse fraction")
    # the value recorded at label t saw the sun of t - offset: clear-sky index against that sun
    source_sky = sun_and_sky(frame.index - pd.to_timedelta(offsets, unit="h"), latitude, longitude,
                             altitude)
    with np.errstate(divide="ignore", invalid="ignore"):
        kc = np.where(source_sky["ghi_clear"] > 10, ghi / source_sky["ghi_clear"], np.nan)
        fd = np.where(ghi > 10, frame["dhi"].to_numpy() / ghi, np.nan)
    t = np.arange(len(frame), dtype=float)
    source_t = t + offsets
    kc_s = pd.Series(kc).interpolate(limit_area="inside").to_numpy()
    fd_s = pd.Series(np.clip(fd, 0, 1)).interpolate(limit_area="inside").to_numpy()
    kc_new = np.interp(source_t, t, np.nan_to_num(kc_s, nan=0.0))
    fd_new = np.interp(source_t, t, np.nan_to_num(fd_s, nan=1.0))
    ghi_new = np.clip(kc_new, 0, None) * sky["ghi_clear"].to_numpy()
    dhi_new = np.clip(fd_new, 0, 1) * ghi_new
    cos_z = np.cos(np.radians(sky["zenith"].to_numpy()))
    with np.errstate(divide="ignore", invalid="ignore"):
        dni_new = np.where(cos_z > 0.02, (ghi_new - dhi_new) / cos_z, 0.0)
    keep_missing = ~np.isfinite(ghi)
    frame["ghi"] = np.where(shift & ~keep_missing, ghi_new, ghi)
    frame["dhi"] = np.where(shift & ~keep_missing, dhi_new, frame["dhi"])
    frame["dni"] = np.where(shift & ~keep_missing, np.clip(dni_new, 0, None), frame["dni"])


def _irradiance(frame, sky, latitude, longitude, altitude, report: QCReport):
    z = sky["zenith"]
    elevation = sky["elevation"].to_numpy()
    for name in IRRADIANCE:  # small negative night offsets are a sensor artefact
        s = frame[name]
        neg = (s < 0) & (s >= -10)
        report.add(name, "small negative value", neg, frame, "set to 0")
        frame.loc[neg, name] = 0.0
    _retime(frame, sky, latitude, longitude, altitude, report)
    night = elevation < -1.0
    for name in IRRADIANCE:
        lit = night & (frame[name] > 5)
        report.add(name, "irradiance with the sun below the horizon", lit, frame, "set to 0")
        frame.loc[night, name] = 0.0
    ghi_ok, dhi_ok, dni_ok = (np.asarray(f) for f in qcrad.check_irradiance_limits_qcrad(
        z, sky["dni_extra"], frame["ghi"], frame["dhi"], frame["dni"]))
    dark_limit = DARK_FRACTION * sky["ghi_extra"].to_numpy()
    dark = elevation > DARK_MIN_ELEVATION_DEG
    ghi_dark = dark & (frame["ghi"].to_numpy() < dark_limit)
    dhi_dark = dark & (frame["dhi"].to_numpy() < dark_limit)
    report.add("ghi", "dark daylight (missing data written as zero)", ghi_dark, frame,
               "set missing, filled")
    report.add("dhi", "dark daylight (missing data written as zero)", dhi_dark & ~ghi_dark, frame,
               "set missing, filled")
    for name, ok in (("ghi", ghi_ok), ("dhi", dhi_ok), ("dni", dni_ok)):
        out = ~ok & frame[name].notna().to_numpy()
        report.add(name, "outside QCRad physically possible limits", out, frame,
                   "set missing, filled")
    ghi_bad = ~ghi_ok | ghi_dark
    comp_bad = ~dhi_ok | ~dni_ok | dhi_dark
    with np.errstate(invalid="ignore"):
        closure_ok, ratio_ok = (np.asarray(f) for f in qcrad.check_irradiance_consistency_qcrad(
            z, frame["ghi"], frame["dhi"], frame["dni"], outside_domain=True))
    inconsistent = ~ghi_bad & ~comp_bad & ~(closure_ok & ratio_ok)
    report.add("dni", "closure GHI = DNI cos z + DHI or diffuse ratio fails", inconsistent, frame,
               "DNI and DHI split from GHI (Erbs-Driesse)")
    # repair: GHI first (closure where the components are sound, else clear-sky index gap fill)
    cos_z = np.cos(np.radians(z.to_numpy()))
    from_closure = ghi_bad & ~comp_bad
    ghi = frame["ghi"].to_numpy(copy=True)
    ghi[from_closure] = frame["dni"].to_numpy()[from_closure] * cos_z[from_closure] + \
        frame["dhi"].to_numpy()[from_closure]
    to_fill = (ghi_bad & comp_bad) | ~np.isfinite(ghi)
    ghi_clear = sky["ghi_clear"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        kc = pd.Series(np.where(ghi_clear > 0, ghi / ghi_clear, np.nan), index=frame.index)
    kc[to_fill | (ghi_clear <= 0)] = np.nan
    kc = fill_gaps(kc).clip(0, 1.5).to_numpy()
    ghi[to_fill] = kc[to_fill] * ghi_clear[to_fill]
    ghi[elevation < -1.0] = 0.0
    split = to_fill | inconsistent | (comp_bad & ~from_closure)
    dni, dhi = split_ghi(ghi, sky)
    frame["ghi"] = ghi
    frame.loc[split, "dni"] = dni[split]
    frame.loc[split, "dhi"] = dhi[split]
    _, _, dni_ok = (np.asarray(f) for f in qcrad.check_irradiance_limits_qcrad(
        z, sky["dni_extra"], dni=frame["dni"]))
    beam_bad = ~dni_ok & frame["dni"].notna().to_numpy()
    report.add("dni", "DNI above the extraterrestrial DNI after repair", beam_bad, frame,
               "clear-sky DNI x min(clear-sky index, 1), DHI from closure")
    if beam_bad.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            kc_hour = np.clip(np.where(ghi_clear > 0, ghi / ghi_clear, 0.0), 0.0, 1.0)
        beam = sky["dni_clear"].to_numpy() * kc_hour
        frame.loc[beam_bad, "dni"] = beam[beam_bad]
        frame.loc[beam_bad, "dhi"] = np.clip(ghi - beam * cos_z, 0.0, None)[beam_bad]


def quality_control(frame: pd.DataFrame, latitude: float, longitude: float, altitude: float, *,
                    source: str, strict: bool = False,
                    derived: tuple[str, ...] = (), fill_missing: bool = True
                    ) -> tuple[pd.DataFrame, QCReport]:
    """Check and repair an hourly frame (naive-UTC complete hourly index, canonical columns, and a
    ``_row`` column of source row numbers, NaN for inserted hours; ``derived``: columns computed
    from others, not given by the source; ``fill_missing=False``: values missing in the source
    or outside their range stay NaN, every other repair applies). Returns the repaired frame
    (without ``_row``) and its report; raises :class:`WeatherError` for unusable input, and with
    ``strict=True`` for the first problem found."""
    frame = frame.copy()
    report = QCReport(source)
    columns = [c for c in frame.columns if c != "_row"]
    for name in columns:
        valid = frame[name].notna().mean()
        if valid < MIN_VALID_FRACTION and name in OPTIONAL:
            # a sparse optional variable (TMY3 albedo, precipitation) is dropped, not the file
            report.add(name, f"only {valid:.0%} of hours have a value (optional variable)",
                       frame[name].isna(), frame, "variable dropped")
            frame = frame.drop(columns=name)
            continue
        if valid < MIN_VALID_FRACTION:
            first = frame[name].isna().to_numpy()
            raise WeatherError(source, f"only {valid:.0%} of hours have a value (at least "
                               f"{MIN_VALID_FRACTION:.0%} needed for a usable year)", variable=name,
                               row=_first_row(frame, first),
                               time=frame.index[int(np.argmax(first))])
    columns = [c for c in frame.columns if c != "_row"]
    fill_action = "filled (TMY3 method)" if fill_missing else "left missing (NaN)"
    report.add("*", "hour missing from the time axis", frame["_row"].isna(), frame, fill_action)
    for name in columns:
        report.add(name, "missing value (NaN)", frame[name].isna() & frame["_row"].notna(), frame,
                   fill_action)
    judge_sky = sun_and_sky(frame.index, latitude, longitude, altitude)
    judge_sky.attrs["site"] = (latitude, longitude, altitude)
    _judge_units(frame, judge_sky, report, derived)
    _flag_range_and_spikes(frame, report,
                           "set missing, " + ("filled" if fill_missing else "left missing (NaN)"))
    # what the source did not give, or gave wrong: left NaN when fill_missing is False
    unknown = frame[columns].isna()
    for name in columns:
        if name not in IRRADIANCE:
            frame[name] = fill_gaps(frame[name])
    above = frame["temp_dew"] > frame["temp_air"] + 0.5
    report.add("temp_dew", "dew point above air temperature", above, frame,
               "set to air temperature")
    frame["temp_dew"] = np.minimum(frame["temp_dew"], frame["temp_air"])
    sky = sun_and_sky(frame.index, latitude, longitude, altitude,
                      pressure=frame["pressure"].to_numpy(), temp_air=frame["temp_air"].to_numpy())
    _irradiance(frame, sky, latitude, longitude, altitude, report)
    if strict:
        report.raise_if_any()
    out = frame.drop(columns="_row")
    if not fill_missing:
        out = out.mask(unknown.reindex(columns=out.columns, fill_value=False))
        # an hour without GHI has no irradiance at all
        out.loc[out["ghi"].isna(), [v for v in IRRADIANCE if v in out]] = np.nan
        return out, report
    if out.isna().any().any():  # a repair must never leave a hole behind
        name = out.columns[out.isna().any()][0]
        raise WeatherError(source, "could not be repaired", variable=name)
    return out, report


def _first_row(frame, mask):
    row = frame["_row"].iloc[int(np.argmax(mask))]
    return None if pd.isna(row) else int(row)
