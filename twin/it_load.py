"""IT load of GPU/NPU/CPU servers for every site and hour in one vectorised pass.

Arrays are ``(site, time)``; per-site parameters ``(site,)`` broadcast over time. Chain per server:
utilisation -> accelerator power (log2 curve, SustainCluster after Tang and Fu 2020) + host power
(linear) -> leakage rise with the temperature of the medium that cools the chips (SustainDC's +2 %
from 16 to 28 degC) -> + server fans (airflow linear in load and inlet temperature, power with its
cube, Breen et al. 2010; reduced by the share of heat taken by cold plates) -> x server count.
Everything here is IT power in The Green Grid's sense, server fans included (reference/cooling.md
sections 1, 2.3 and 7).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.arrays import column, first_bad, site_param, site_rows
from twin.model_names import SERVER_MODELS, unknown_name
from twin.timebase import HOURS_PER_DAY, china_hour_of_day

K_LEAK_PER_K = 0.0017  # reference/cooling.md 2.3 [D]: SustainDC +2 % full-load power, 16 -> 28 degC
LEAK_MIN_DELTA_K = -10.0  # leakage cannot fall without bound below the reference temperature
DESIGN_INLET_AIR_DEGC = 22.5  # OpenStudio LargeDataCenter prototype, reference/cooling.md 2.2
MAX_PLAUSIBLE_DEGC = 100.0  # a server inlet or coolant above this is Kelvin or garbage
# ASSUMPTION: fans top out at 1.2 x design airflow, keeping a server near its nameplate maximum
FAN_MAX_AIRFLOW = 1.2


@dataclass(frozen=True)
class ServerSpec:
    """Power figures of one server model [W, per server]."""

    accelerators: int  # per server
    accelerator_max_w: float  # each, at full utilisation and the reference temperature
    accelerator_idle_w: float  # each
    host_max_w: float  # CPUs, memory, NICs, switches, storage at full load
    host_idle_w: float
    fan_design_w: float  # server fans at design airflow (full load, inlet <= fan ramp start)
    source: str  # where the numbers come from; ASSUMPTION marks the unsourced ones

    @property
    def max_w(self) -> float:
        """Full-load power at design inlet [W]: the nameplate the facility is sized for."""
        return self.accelerators * self.accelerator_max_w + self.host_max_w + self.fan_design_w


_DGX_SOURCE = (
    "{gpu} SXM 700 W TDP, 8 per server (NVIDIA {gpu} datasheet); server maximum 10.2 kW "
    "(NVIDIA DGX {gpu} datasheet). ASSUMPTION: the 4.6 kW beyond the GPUs split as host 3.1 kW "
    "(2 CPUs, memory, NVSwitches, NICs, NVMe) and fans 1.5 kW at design airflow; idle 75 W per "
    "GPU (60-100 W, reference/cooling.md 2.3 [A]); host idle 1.2 kW.")

SERVERS: dict[str, ServerSpec] = {
    "H100": ServerSpec(8, 700.0, 75.0, 3100.0, 1200.0, 1500.0, _DGX_SOURCE.format(gpu="H100")),
    "H200": ServerSpec(8, 700.0, 75.0, 3100.0, 1200.0, 1500.0, _DGX_SOURCE.format(gpu="H200")),
    "H800": ServerSpec(8, 700.0, 75.0, 3100.0, 1200.0, 1500.0,
                       _DGX_SOURCE.format(gpu="H100") + " H800: the China-market H100 SXM (same "
                       "700 W TDP, reduced NVLink bandwidth), in HGX H100-class servers."),
    "H20": ServerSpec(
        8, 400.0, 60.0, 2200.0, 900.0, 900.0,
        "NVIDIA H20 (China-market Hopper) 400 W TDP, 8 per HGX server. ASSUMPTION: host 2.2 kW "
        "max, 0.9 kW idle; fans 0.9 kW at design airflow; GPU idle 60 W: 6.3 kW per server."),
    "Ascend910B": ServerSpec(
        8, 400.0, 60.0, 1800.0, 700.0, 800.0,
        "Huawei Ascend 910B about 400 W per NPU (publicly stated, 910B1/B2 class), 8 per server "
        "(Atlas 800T A2 class). ASSUMPTION: NPU idle 60 W; host (4 Kunpeng 920, memory, NVMe; "
        "RoCE ports are on the NPU) 1.8 kW max, 0.7 kW idle; fans 0.8 kW at design airflow."),
    "Ascend910C": ServerSpec(
        8, 750.0, 110.0, 2000.0, 800.0, 1200.0,
        "Huawei Ascend 910C, 8 packages per server (Atlas 800T A3 class). ASSUMPTION: 750 W per "
        "package (two 910B-class dies, about 2 x 400 W less shared I/O; no official TDP found), "
        "idle 110 W; host 2.0 kW max, 0.8 kW idle; fans 1.2 kW at design airflow."),
    "CPU": ServerSpec(
        0, 0.0, 0.0, 720.0, 240.0, 80.0,
        "ASSUMPTION: generic 2-socket CPU server, about 800 W at full load (720 W host + 80 W "
        "fans) and about 250 W idle (240 W host + 10 W fans at minimum airflow)."),
}
if tuple(SERVERS) != SERVER_MODELS:  # site files are validated against SERVER_MODELS
    raise ImportError(f"twin.it_load.SERVERS has {', '.join(SERVERS)}; twin.model_names."
                      f"SERVER_MODELS has {', '.join(SERVER_MODELS)}: make them the same")


def server_spec(name: str, servers: Mapping[str, ServerSpec] = SERVERS) -> ServerSpec:
    """The :class:`ServerSpec` of a server model; unknown names raise ``ValueError``."""
    try:
        return servers[name]
    except (KeyError, TypeError):
        raise unknown_name("server model", name, servers) from None


def spec_arrays(models, servers: Mapping[str, ServerSpec] = SERVERS) -> dict[str, np.ndarray]:
    """The numeric fields of each site's :class:`ServerSpec` as ``(site,)`` float arrays."""
    fields = [f for f in ServerSpec.__dataclass_fields__ if f != "source"]
    names = np.asarray(models).tolist()  # a few sites or thousands: plain Python is quickest
    specs = {name: server_spec(name, servers) for name in set(names)}
    return {f: np.array([getattr(specs[name], f) for name in names], dtype=float)
            for f in fields}


def accelerator_power(spec_max_w, idle_w, utilisation) -> np.ndarray:
    """Power of one accelerator [W] at ``utilisation`` [0..1]:
    P = P_idle + (P_max - P_idle) log2(1 + u) (SustainCluster model doc, after Tang and Fu 2020;
    reference/cooling.md 2.3)."""
    return idle_w + (spec_max_w - idle_w) * np.log2(1.0 + np.asarray(utilisation, dtype=float))


def host_power(max_w, idle_w, utilisation) -> np.ndarray:
    """Power of the host (CPUs, memory, NICs, storage) [W], linear in ``utilisation`` [0..1]."""
    return idle_w + (max_w - idle_w) * np.asarray(utilisation, dtype=float)


def leakage_factor(temp_degc, reference_degc, *, k_leak_per_k=K_LEAK_PER_K,
                   min_delta_k=LEAK_MIN_DELTA_K) -> np.ndarray:
    """Chip power multiplier for leakage, 1 + k_leak (T - T_ref), with T - T_ref clipped at
    ``min_delta_k`` [K]. T [degC] is the medium cooling the chip (inlet air or coolant supply);
    k_leak [K-1] from SustainDC's +2 % between 16 and 28 degC (reference/cooling.md 2.3 [D])."""
    delta = np.maximum(np.asarray(temp_degc, dtype=float) - reference_degc, min_delta_k)
    return 1.0 + k_leak_per_k * delta


def server_fan_airflow(utilisation, inlet_temp_degc, *, min_airflow=0.5, ramp_per_k=0.04,
                       ramp_start_degc=25.0, max_airflow=np.inf) -> np.ndarray:
    """Server fan airflow as a fraction of design airflow [-]:
    phi = (phi_min + (1 - phi_min) u) (1 + ramp max(T_in - T_start, 0)), capped at ``max_airflow``.
    Airflow rises linearly with load and inlet temperature (reference/cooling.md 2.3); the
    coefficients are an ASSUMPTION (SustainDC's hand-tuned ones are not reused)."""
    u = np.asarray(utilisation, dtype=float)
    rise = np.maximum(np.asarray(inlet_temp_degc, dtype=float) - ramp_start_degc, 0.0)
    return np.minimum((min_airflow + (1.0 - min_airflow) * u) * (1.0 + ramp_per_k * rise),
                      max_airflow)


def server_fan_power(fan_design_w, airflow_fraction, liquid_fraction=0.0) -> np.ndarray:
    """Server fan power [W]: P_fan,des phi^3 (fan laws; SustainDC after Breen et al. 2010 eq. 3),
    times (1 - liquid_fraction): direct-to-chip servers keep fans only for the residual air heat
    (70-90 % less, reference/cooling.md 7.2)."""
    phi = np.asarray(airflow_fraction, dtype=float)
    return (fan_design_w * (1.0 - liquid_fraction)) * (phi * phi * phi)


def check_utilisation(utilisation, time=None) -> np.ndarray:
    """``utilisation`` as a float ``(site, time)`` array; NaN or values outside 0..1 raise
    ``ValueError`` naming the site index and the first bad hour (with its timestamp if ``time``
    is given)."""
    u = np.asarray(utilisation, dtype=float)
    if u.ndim != 2:
        raise ValueError(f"utilisation must be a (site, time) array, got shape {u.shape}")
    bad = ~((u >= 0.0) & (u <= 1.0))  # NaN compares False
    if bad.any():
        site, hour = first_bad(bad)
        when = f"hour {hour}" if time is None else f"hour {hour} ({pd.DatetimeIndex(time)[hour]})"
        raise ValueError(f"utilisation at site index {site}, {when}, is {float(u[site, hour])}; "
                         "it must be a number within 0..1 (first bad hour shown)")
    return u


def utilisation_series(time, spec) -> np.ndarray:
    """Hourly utilisation ``(site, time)`` [0..1].

    ``spec`` is either a ``(site, time)`` numpy array (passed through, validated), or one entry per
    site, each a constant (float 0..1) or 24 values of a daily profile indexed by the hour of day
    in China Standard Time (UTC+8). ``time``: UTC DatetimeIndex of hour starts. Values outside
    0..1 or NaN raise ``ValueError`` naming the site index and the first bad hour.
    """
    time = pd.DatetimeIndex(time)
    if isinstance(spec, np.ndarray) and spec.ndim == 2 and spec.shape[1] == len(time):
        return check_utilisation(spec, time)
    return check_utilisation(daily_profile(time, spec, "utilisation"), time)


def daily_table(values, name: str) -> np.ndarray:
    """``(site, 24)`` values by the hour of day in China Standard Time (UTC+8) from one entry
    per site: a constant, or 24 values. An entry of another shape raises ``ValueError``; the
    values themselves are the caller's to check."""
    out = np.empty((len(values), HOURS_PER_DAY))
    for site, entry in enumerate(values):
        v = np.asarray(entry, dtype=float)
        if v.shape not in ((), (HOURS_PER_DAY,)):
            raise ValueError(f"{name} at site index {site} must be one value or {HOURS_PER_DAY} "
                             f"hourly values (China Standard Time hours 0-23), got shape "
                             f"{v.shape}")
        out[site] = v
    return out


def daily_profile(time, values, name: str, out=None) -> np.ndarray:
    """``(site, time)`` hourly values from one entry per site (:func:`daily_table`: a constant,
    or 24 values indexed by the hour of day in China Standard Time) at the UTC hour starts
    ``time``, written into ``out`` where given."""
    # hours of day are 0..23: mode "clip" never clips, and writes into ``out`` unbuffered
    return np.take(daily_table(values, name), china_hour_of_day(time), axis=1, out=out,
                   mode="clip")


@dataclass(frozen=True)
class ITArrays:
    """The sites' IT load as ``(site,)`` arrays (built from ``sites.ITConfig``): server model
    names (keys of :data:`SERVERS`), accelerator count (servers, for ``CPU``), the design IT
    power the facility is built for [W] and the utilisation by hour of day in China Standard
    Time ``(site, 24)``; ``site_ids`` name the sites in error messages."""

    site_ids: np.ndarray  # str
    server_model: np.ndarray  # str
    gpu_count: np.ndarray  # int
    capacity_w: np.ndarray
    utilisation_daily: np.ndarray  # (site, 24) [0..1]

    @classmethod
    def from_configs(cls, configs, site_ids) -> ITArrays:
        """Stack ``sites.ITConfig`` objects (one per site, ids ``site_ids``) into arrays."""
        def col(name, dtype):
            return np.array([getattr(c, name) for c in configs], dtype=dtype)

        if len(site_ids) != len(configs):
            raise ValueError(f"{len(site_ids)} site ids for {len(configs)} IT configurations")
        return cls(site_ids=np.array(site_ids, dtype=str), server_model=col("gpu_model", str),
                   gpu_count=col("gpu_count", np.int64), capacity_w=col("capacity_w", float),
                   utilisation_daily=daily_table([c.utilisation for c in configs],
                                                 "utilisation"))

    subset = site_rows  # the sites ``rows`` (a slice or indices)

    def hourly_utilisation(self, time, hour_of_day=None) -> np.ndarray:
        """The utilisation ``(site, time)`` at the UTC hour starts ``time``, checked
        (:func:`check_utilisation`); ``hour_of_day``: their China Standard Time hours
        (:func:`china_hour_of_day`), when the caller has them."""
        hours = china_hour_of_day(time) if hour_of_day is None else hour_of_day
        return check_utilisation(self.utilisation_daily[:, hours], time)


def _temperature(value, shape, name: str, check: np.ndarray | None = None) -> np.ndarray:
    """A temperature [degC] that broadcasts to ``shape`` (returned as given, not broadcast); NaN
    (where ``check`` is True) or values above 100 degC (Kelvin?) raise ``ValueError`` naming the
    site index and the first bad hour."""
    t = np.asarray(value, dtype=float)
    try:
        np.broadcast_shapes(t.shape, shape)
    except ValueError:
        raise ValueError(f"{name} must broadcast to (site, time) {shape}, got {t.shape}") from None
    bad = ~(t <= MAX_PLAUSIBLE_DEGC)
    if check is not None:
        bad = bad & check
    if bad.any():
        shape = np.broadcast_shapes(bad.shape, shape)
        site, hour = first_bad(np.broadcast_to(bad, shape))
        raise ValueError(f"{name} at site index {site}, hour {hour}, is "
                         f"{float(np.broadcast_to(t, shape)[site, hour])} degC; it must be a "
                         "temperature in degC (not NaN, not Kelvin)")
    return t


def it_power(models, server_count, utilisation, inlet_temp_degc, coolant_temp_degc=None, *,
             liquid_fraction=0.0, leak_reference_air_degc=DESIGN_INLET_AIR_DEGC,
             leak_reference_liquid_degc=None, k_leak_per_k=K_LEAK_PER_K,
             leak_min_delta_k=LEAK_MIN_DELTA_K, fan_min_airflow=0.5, fan_ramp_per_k=0.04,
             fan_ramp_start_degc=25.0, fan_max_airflow=FAN_MAX_AIRFLOW,
             servers: Mapping[str, ServerSpec] = SERVERS) -> dict[str, np.ndarray]:
    """IT power of each site's servers and where its heat goes, every hour [W, (site, time)].

    models ``(S,)``: server model names (keys of ``servers``); server_count ``(S,)`` >= 0;
    utilisation ``(S, T)`` [0..1]; inlet_temp_degc ``(S, T)`` air at the server inlet [degC];
    coolant_temp_degc ``(S, T)`` liquid supply to the cold plates [degC] or None (air-cooled; may
    be NaN at sites whose liquid_fraction is 0); liquid_fraction ``(S,)`` [0..1]: share of the
    chip (accelerator + host) heat taken by cold plates.

    Chip power = accelerators (log2 curve) + host (linear), times the leakage factor: the air-cooled
    share follows the inlet air against ``leak_reference_air_degc`` (design inlet 22.5 degC,
    OpenStudio LargeDataCenter prototype), the cold-plated share follows the coolant against
    ``leak_reference_liquid_degc`` (the design coolant supply temperature, required when any site
    has liquid_fraction > 0). Server fans: see :func:`server_fan_airflow`, :func:`server_fan_power`.

    Returns ``it_power`` (chips + server fans: all that The Green Grid counts as IT),
    ``server_fan_power``, ``heat_to_liquid`` (liquid_fraction x chip power) and ``heat_to_air``
    (the rest: all IT power ends as heat). For a fixed utilisation it_power does not decrease
    with inlet temperature.
    """
    models = models if isinstance(models, pd.Categorical) else np.asarray(models)
    n_sites = len(models)
    spec = spec_arrays(models, servers)
    count = site_param(server_count, n_sites, "server_count", low=0.0)
    lf = site_param(liquid_fraction, n_sites, "liquid_fraction", low=0.0, high=1.0)
    u = check_utilisation(utilisation)
    if u.shape[0] != n_sites:
        raise ValueError(f"utilisation has {u.shape[0]} sites, models has {n_sites}")
    inlet = _temperature(inlet_temp_degc, u.shape, "inlet_temp_degc")

    chips = (spec["accelerators"][:, None]
             * accelerator_power(column(spec["accelerator_max_w"]),
                                 column(spec["accelerator_idle_w"]), u)
             + host_power(column(spec["host_max_w"]), column(spec["host_idle_w"]), u))
    leak = leakage_factor(inlet, leak_reference_air_degc, k_leak_per_k=k_leak_per_k,
                          min_delta_k=leak_min_delta_k)
    liquid = lf > 0
    if liquid.any():
        if coolant_temp_degc is None:
            raise ValueError(f"liquid_fraction > 0 at site index {int(np.flatnonzero(liquid)[0])} "
                             "needs coolant_temp_degc (liquid supply to the cold plates)")
        if leak_reference_liquid_degc is None:
            raise ValueError("liquid_fraction > 0 needs leak_reference_liquid_degc "
                             "(the design coolant supply temperature)")
        ref_liquid = site_param(leak_reference_liquid_degc, n_sites,
                                 "leak_reference_liquid_degc", high=MAX_PLAUSIBLE_DEGC)
        coolant = _temperature(coolant_temp_degc, u.shape, "coolant_temp_degc",
                               check=column(liquid))
        leak_liquid = leakage_factor(np.where(column(liquid), coolant, 0.0), column(ref_liquid),
                                     k_leak_per_k=k_leak_per_k, min_delta_k=leak_min_delta_k)
        leak = np.where(column(liquid), (1.0 - column(lf)) * leak + column(lf) * leak_liquid, leak)
    chips = chips * leak * column(count)

    airflow = server_fan_airflow(u, inlet, min_airflow=fan_min_airflow, ramp_per_k=fan_ramp_per_k,
                                 ramp_start_degc=fan_ramp_start_degc, max_airflow=fan_max_airflow)
    fans = server_fan_power(column(spec["fan_design_w"] * count), airflow, column(lf))
    total = chips + fans
    to_liquid = column(lf) * chips
    return {"it_power": total, "server_fan_power": fans, "heat_to_liquid": to_liquid,
            "heat_to_air": total - to_liquid}


def servers_from_gpus(models, gpu_count, servers: Mapping[str, ServerSpec] = SERVERS
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Server count and design IT power [W], each ``(site,)``, of ``gpu_count`` accelerators of
    each site's server model ``models``: ceil(gpu_count / accelerators per server) servers (a
    ``CPU`` model's count is its servers) drawing :func:`design_it_power`. A job sized in GPUs:
    ``servers_from_gpus([model], [gpus])[1][0]``."""
    models = models if isinstance(models, pd.Categorical) else np.asarray(models)
    per_server = np.maximum(spec_arrays(models, servers)["accelerators"], 1.0)
    count = np.ceil(np.asarray(gpu_count) / per_server)
    return count, design_it_power(models, count, servers)


def design_it_power(models, server_count, servers: Mapping[str, ServerSpec] = SERVERS
                    ) -> np.ndarray:
    """IT power at full load and design inlet [W, (site,)]: the nameplate (air-cooled servers)
    the facility is sized for, equal to :func:`it_power` at u = 1 and 22.5 degC inlet."""
    models = models if isinstance(models, pd.Categorical) else np.asarray(models)
    spec = spec_arrays(models, servers)
    count = site_param(server_count, len(models), "server_count", low=0.0)
    per_server = (spec["accelerators"] * spec["accelerator_max_w"] + spec["host_max_w"]
                  + spec["fan_design_w"])
    return per_server * count
