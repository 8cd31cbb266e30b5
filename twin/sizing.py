"""Sizing: the PV, wind, battery and grid connection that meet a renewable target at least cost.

An hourly linear programme over one climate year, as Meta's CarbonExplorer (Acun et al. 2023,
"Carbon Explorer: A Holistic Framework for Designing Carbon Aware Datacenters", ASPLOS '23) and
HOMER's optimiser do, solved by HiGHS through highspy (Huangfu and Hall 2018). Its data come
from the twin itself (:func:`twin.simulate` at the site): the facility's hourly demand D_t [MW]
(IT, cooling and losses, which do not depend on the plant) and the hourly output of one MWp of
PV and one MW of wind, p_t and w_t (PV and wind output are linear in the plant's size: the
inverters scale with the array, the farm with its turbines).

Columns: capacities P [MWp], W [MW], E [MWh], B [MW], G [MW] and, every hour, charge c_t,
discharge d_t, stored energy s_t (end of hour; the programme holds s_t - soc_min E >= 0), grid
import g_t and curtailment x_t [MW, MWh].
Rows, every hour, the twin's own power balance (:mod:`twin.storage`), so that the programme's
dispatch is one the twin can run:

- balance:   p_t P + w_t W - c_t + d_t + g_t - x_t = D_t
- the battery charges from renewables only:   p_t P + w_t W - c_t - x_t >= 0
- storage:   s_t = k s_{t-1} + eta_c c_t - d_t / eta_d,  s_{-1} = soc_0 E  (k: self-discharge)
- limits:    soc_min E <= s_t <= soc_max E,  c_t <= B,  d_t <= B,  g_t <= G
- target:    sum g_t <= (1 - RF) sum D_t

The objective is the annual cost (capital annualised by the capital recovery factor at the
discount rate over each part's lifetime, fixed O&M, the grid connection's capacity charge and
grid energy at the site's mean tariff) or, with ``objective="carbon"``, the annual emissions
(life-cycle emissions of the plant's generation, the battery's embodied emissions annualised
over its life, and grid energy at the site's mean carbon intensity). A flat grid price and
intensity (the day's mean) keep the optimum's dispatch that of the twin's load-following battery,
which charges on surplus and discharges on deficit whatever the hour's price; time-of-use
arbitrage would be a dispatch the twin does not run. :func:`validate` runs the twin with the
sized plant and compares.

Costs and factors (:class:`Costs`) are in CNY at 2023-2024 prices, each with its source or an
ASSUMPTION mark; give your own to :func:`size`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse

from twin.variables import W_PER_MW

OBJECTIVES = ("cost", "carbon")
CURVE_TARGETS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# interior point with crossover to a vertex: on a year's programme (44k columns, 61k rows)
# without crossover HiGHS stopped at "unknown" 2.5 % above the optimum (Golmud, 90 %: a
# continuous wind farm costing more than the whole-turbine one, measured); the dual simplex
# alone took about as long
HIGHS_OPTIONS = {"output_flag": False, "solver": "ipm", "run_crossover": "on"}
# a capacity below this [MW, MWh] is none (the solver's tolerances leave slivers)
MIN_CAPACITY = 1e-3


@dataclass(frozen=True)
class Costs:
    """Costs [CNY], lifetimes [yr], the discount rate and the plant's footprints."""

    # CPIA (China Photovoltaic Industry Association) 2023-2024 roadmap: ground-mounted PV
    # system initial investment about 3.4 CNY/W in 2023
    pv_capex_per_w: float = 3.4
    # NREL ATB 2024, utility PV fixed O&M about USD 22/kW-yr (moderate, 2023) at 7.1 CNY/USD
    pv_om_per_w_year: float = 0.16
    pv_lifetime_years: float = 30.0  # NREL ATB 2024 cost recovery / technical life 30 years
    # ASSUMPTION: onshore wind project cost in China 2023-2024 of about 5 CNY/W (turbine bids
    # fell to 1.5-2 CNY/W; balance of plant, roads and grid connection make up the rest)
    wind_capex_per_w: float = 5.0
    # NREL ATB 2024, land-based wind fixed O&M about USD 43/kW-yr at 7.1 CNY/USD
    wind_om_per_w_year: float = 0.30
    wind_lifetime_years: float = 30.0  # NREL ATB 2024
    # ASSUMPTION: an LFP system split into an energy part (cells, racks) and a power part
    # (converters, transformers) so that a 2-hour system costs about 0.85 CNY/Wh, the level of
    # Chinese storage EPC bids in 2024
    battery_capex_per_wh: float = 0.7
    battery_capex_per_w: float = 0.3
    # NREL ATB 2024 utility battery: fixed O&M 2.5 % of capital a year, 15-year life
    battery_om_fraction: float = 0.025
    battery_lifetime_years: float = 15.0
    # ASSUMPTION: a two-part large-industry tariff's capacity charge of about 30 CNY/kW-month
    # (provincial tariffs set 20-40) for the grid connection
    grid_capacity_per_w_year: float = 0.36
    # ASSUMPTION: a real discount rate (weighted cost of capital) of 6 % for Chinese utility
    # renewables
    discount_rate: float = 0.06
    # IPCC AR5 WG3 Annex III (Schlomer et al. 2014) life-cycle median emissions [g CO2eq/kWh]
    pv_lifecycle_g_per_kwh: float = 48.0
    wind_lifecycle_g_per_kwh: float = 11.0
    # Emilsson and Dahllof 2019 (IVL report C444): 61-106 kg CO2eq per kWh of LFP/NMC capacity
    battery_embodied_kg_per_kwh: float = 100.0
    # PV land: module area / ground coverage ratio, modules of this efficiency (ASSUMPTION:
    # 21 %, current mono-PERC/TOPCon utility modules)
    module_efficiency: float = 0.21
    # Denholm et al. 2009 (NREL/TP-6A2-45834): wind farms' total area 34.5 ha/MW, of which
    # 0.3 ha/MW is disturbed permanently (roads, pads)
    wind_total_ha_per_mw: float = 34.5
    wind_direct_ha_per_mw: float = 0.3
    # Macknick et al. 2012 (Environ. Res. Lett. 7 045802): utility PV cleaning, median 26
    # gal/MWh (98 L/MWh) of operational water; wind none
    pv_water_l_per_mwh: float = 98.0

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"cost {name} must be a finite number >= 0, got {value!r}")
        for name in ("pv_lifetime_years", "wind_lifetime_years", "battery_lifetime_years",
                     "module_efficiency"):
            if getattr(self, name) <= 0:
                raise ValueError(f"cost {name} must be > 0")


def capital_recovery_factor(rate: float, years: float) -> float:
    """The annuity that repays 1 over ``years`` at ``rate``: r (1+r)^n / ((1+r)^n - 1) [yr-1]
    (1/n at rate 0)."""
    if rate == 0:
        return 1.0 / years
    growth = (1.0 + rate) ** years
    return rate * growth / (growth - 1.0)


@dataclass(frozen=True)
class Battery:
    """The battery's behaviour as the twin runs it (:class:`twin.storage.BatteryArrays`)."""

    charge_efficiency: float
    discharge_efficiency: float
    soc_min: float
    soc_max: float
    keep_per_hour: float
    initial_soc: float

    @classmethod
    def of_site(cls, site) -> Battery:
        from twin.storage import BatteryArrays

        a = BatteryArrays.from_configs([site.battery])
        return cls(*(float(getattr(a, f)[0]) for f in (
            "charge_efficiency", "discharge_efficiency", "soc_min", "soc_max", "keep_per_hour",
            "initial_soc")))


@dataclass(frozen=True, eq=False)
class Profiles:
    """A site's hourly data for the programme: demand [W], the output of 1 Wp of PV and of 1 W
    of wind [W/W], IT power [W], grid price [currency/kWh] and carbon intensity [g/kWh] (the
    day's means), the turbine's rating [W], and the site (with its IT) they came from."""

    site: object
    demand_w: np.ndarray
    pv_per_wp: np.ndarray
    wind_per_w: np.ndarray
    it_w: np.ndarray
    water_l: float  # the facility's water use over the year [L]
    grid_price_per_kwh: float
    carbon_g_per_kwh: float
    turbine_w: float
    battery: Battery
    weather: str
    simulate_args: dict = field(default_factory=dict)


def with_it_power(site, it_power_w: float | None):
    """``site`` with its IT capacity set to ``it_power_w`` [W] and its GPU count scaled alike
    (the same servers, more of them); ``site`` itself when None."""
    if it_power_w is None:
        return site
    from sites.catalog import validate_site

    if not (math.isfinite(it_power_w) and it_power_w > 0):
        raise ValueError(f"IT power must be > 0 W, got {it_power_w!r}")
    data = site.model_dump(by_alias=True)
    scale = it_power_w / site.it.capacity_w
    data["it"].update(capacity_w=float(it_power_w),
                      gpu_count=max(1, round(site.it.gpu_count * scale)))
    return validate_site(data, f"site {site.id} at IT power {it_power_w:g} W")


def _plant(site, pv_wp: float, turbines: int, energy_wh: float, power_w: float,
           import_w: float):
    """``site`` with this plant (validated as a site file is)."""
    from sites.catalog import validate_site

    data = site.model_dump(by_alias=True)
    data["pv"]["capacity_wp"] = float(pv_wp)
    data["wind"]["turbine_count"] = int(turbines)
    if energy_wh <= 0 or power_w <= 0:
        energy_wh = power_w = 0.0
    data["battery"].update(energy_wh=float(energy_wh), power_w=float(power_w))
    data["grid"]["import_capacity_w"] = float(import_w)
    return validate_site(data, f"sized plant at site {site.id}")


def site_profiles(site, *, it_power_w: float | None = None, weather=None, year: int = 2025,
                  seed: int = 0, allow_distant_weather: bool = False) -> Profiles:
    """The programme's data at ``site`` (a catalog Site) over one climate year: ``weather`` (a
    Dataset) or the synthetic year ``year``/``seed``, the twin run with a plant of 1 MWp of PV
    and one turbine (output per unit is the same whatever the size)."""
    from twin.simulate import simulate

    site = with_it_power(site, it_power_w)
    probe = _plant(site, W_PER_MW, 1, 0.0, 0.0, site.grid.import_capacity_w)
    args = {"year": year, "seed": seed, "allow_distant_weather": allow_distant_weather}
    ds = simulate(weather, [probe], until="balance", **args).isel(site=0)
    for name in ("facility_power", "pv_power", "wind_power"):
        if ds[name].isnull().any():
            raise ValueError(f"{name} at site {site.id} has missing hours: size on a whole year")
    price = np.mean(np.broadcast_to(np.asarray(site.grid.tariff_per_kwh, float), (24,)))
    carbon = np.mean(np.broadcast_to(np.asarray(site.grid.carbon_intensity_g_per_kwh, float),
                                     (24,)))
    return Profiles(site=site, demand_w=ds["facility_power"].to_numpy(),
                    pv_per_wp=(ds["pv_power"] / ds["pv_capacity"]).to_numpy(),
                    wind_per_w=(ds["wind_power"] / ds["wind_capacity"]).to_numpy(),
                    it_w=ds["it_power"].to_numpy(),
                    water_l=float(ds["water_use"].sum()),  # L h-1 over 1 h steps
                    grid_price_per_kwh=float(price), carbon_g_per_kwh=float(carbon),
                    turbine_w=float(ds["wind_capacity"]), battery=Battery.of_site(site),
                    weather=ds.attrs.get("weather_source", ""), simulate_args=args)


@dataclass(frozen=True)
class Sizing:
    """A sized plant and what it gives over the year: capacities [W, Wh], energies [Wh/yr],
    annual cost [currency] and emissions [t CO2eq], land [ha] and water [L/yr]."""

    site: str
    target: float
    objective: str
    status: str
    pv_wp: float
    wind_w: float
    turbines: int
    battery_wh: float
    battery_w: float
    grid_w: float
    renewable_fraction: float
    facility_energy_wh: float
    it_energy_wh: float
    grid_energy_wh: float
    # renewable energy generated and not delivered: curtailment and battery losses (the
    # programme may cycle the battery instead of curtailing, at the same cost: only the sum is
    # determined)
    unused_energy_wh: float
    generation_wh: float
    annual_cost: float
    cost_per_mwh_it: float
    emissions_t: float
    land_ha: float
    wind_direct_ha: float
    water_l: float
    currency: str = "CNY"


def annual_capacity_costs(costs: Costs) -> dict[str, float]:
    """The yearly cost of a unit of each capacity: per W (Wh for ``battery_wh``) and year, the
    capital annuitised over its lifetime (:func:`capital_recovery_factor`) plus O&M: what the
    programme minimises and what a Sizing reports, one formula."""
    crf = {k: capital_recovery_factor(costs.discount_rate, getattr(costs, f"{k}_lifetime_years"))
           for k in ("pv", "wind", "battery")}
    battery = crf["battery"] + costs.battery_om_fraction
    return {"pv": costs.pv_capex_per_w * crf["pv"] + costs.pv_om_per_w_year,
            "wind": costs.wind_capex_per_w * crf["wind"] + costs.wind_om_per_w_year,
            "battery_wh": costs.battery_capex_per_wh * battery,
            "battery_w": costs.battery_capex_per_w * battery,
            "grid": costs.grid_capacity_per_w_year}


def _program(years: Sequence[Profiles], target: float, costs: Costs, objective: str,
             wind_mw: float | None = None):
    """The linear programme in MW, MWh and millions of currency (or kt CO2eq) over one or more
    climate years sharing the plant: the matrix and bounds, in the column order P W E B G, then
    every year's c d s g x (each T hours), and per year the columns of its dispatch. Every year
    meets the target; the objective counts the plant once and the mean year's grid energy."""
    n_cap = 5
    T = years[0].demand_w.size
    if any(p.demand_w.size != T for p in years):
        raise ValueError("the years to size over must have as many hours")
    P, W, E, B, G = range(n_cap)
    hours = np.arange(T)
    n_cols = n_cap + 5 * T * len(years)
    rows, cols, vals, lower, upper = [], [], [], [], []
    n_rows = 0

    def add(entries, lo, hi):
        nonlocal n_rows
        for c, v in entries:  # each (column indices (T,) or scalar, values (T,) or scalar)
            rows.append(n_rows + hours)
            cols.append(np.broadcast_to(c, (T,)))
            vals.append(np.broadcast_to(np.asarray(v, float), (T,)))
        lower.append(np.broadcast_to(lo, (T,)))
        upper.append(np.broadcast_to(hi, (T,)))
        n_rows += T

    inf = np.inf
    columns = []
    for y, p in enumerate(years):
        demand = p.demand_w / W_PER_MW
        pv, wind, b = p.pv_per_wp, p.wind_per_w, p.battery
        col = {name: n_cap + (5 * y + i) * T + hours for i, name in enumerate("cdsgx")}
        columns.append(col)
        add([(P, pv), (W, wind), (col["c"], -1), (col["d"], 1), (col["g"], 1), (col["x"], -1)],
            demand, demand)
        # renewables cover charge and curtailment: with the balance, d_t + g_t <= D_t
        add([(col["d"], 1), (col["g"], 1)], -inf, demand)
        # storage above its floor u_t = s_t - soc_min E >= 0:
        # u_t - k u_{t-1} + soc_min (1 - k) E - eta_c c_t + d_t / eta_d = 0, s_{-1} = soc_0 E
        k = b.keep_per_hour
        add([(col["s"], 1), (np.where(hours > 0, col["s"] - 1, E),
                             np.where(hours > 0, -k, b.soc_min - k * b.initial_soc)),
             (E, np.where(hours > 0, b.soc_min * (1 - k), 0.0)),
             (col["c"], -b.charge_efficiency), (col["d"], 1 / b.discharge_efficiency)],
            0.0, 0.0)
        add([(col["s"], 1), (E, -(b.soc_max - b.soc_min))], -inf, 0.0)
        add([(col["c"], 1), (B, -1)], -inf, 0.0)
        add([(col["d"], 1), (B, -1)], -inf, 0.0)
        add([(col["g"], 1), (G, -1)], -inf, 0.0)
        # the target, one row a year: sum g_t <= (1 - RF) sum D_t
        rows.append(np.full(T, n_rows))
        cols.append(col["g"])
        vals.append(np.ones(T))
        lower.append([-inf])
        upper.append([(1.0 - target) * demand.sum()])
        n_rows += 1
    matrix = scipy.sparse.csr_array((np.concatenate(vals), (np.concatenate(rows),
                                                            np.concatenate(cols))),
                                    shape=(n_rows, n_cols))
    row_lower, row_upper = np.concatenate(lower), np.concatenate(upper)

    cost = np.zeros(n_cols)
    per_mw = W_PER_MW / 1e6  # currency per W -> millions per MW
    share = 1.0 / len(years)  # the mean year
    if objective == "cost":
        annual = annual_capacity_costs(costs)
        for column, name in ((P, "pv"), (W, "wind"), (E, "battery_wh"), (B, "battery_w"),
                             (G, "grid")):
            cost[column] = per_mw * annual[name]
        for p, col in zip(years, columns):
            cost[col["g"]] = share * p.grid_price_per_kwh * 1000.0 / 1e6  # per MWh, millions
    else:  # kt CO2eq a year: g/kWh = t/GWh; per MW of capacity, its mean year's generation
        cost[P] = share * costs.pv_lifecycle_g_per_kwh * sum(p.pv_per_wp.sum()
                                                             for p in years) / 1e6
        cost[W] = share * costs.wind_lifecycle_g_per_kwh * sum(p.wind_per_w.sum()
                                                               for p in years) / 1e6
        cost[E] = costs.battery_embodied_kg_per_kwh / costs.battery_lifetime_years / 1000.0
        for p, col in zip(years, columns):
            cost[col["g"]] = share * p.carbon_g_per_kwh / 1e6
    col_lower = np.zeros(n_cols)
    col_upper = np.full(n_cols, inf)
    if wind_mw is not None:
        col_lower[W] = col_upper[W] = wind_mw
    return cost, col_lower, col_upper, matrix, row_lower, row_upper, columns


def _solve(cost, col_lower, col_upper, matrix, row_lower, row_upper):
    """The columns' values at the optimum (HIGHS_OPTIONS, through the project's one HiGHS
    call, :func:`twin.schedule_milp.solve`); ValueError when HiGHS does not report one."""
    from twin.schedule_milp import Problem, solve

    result = solve(Problem(cost, col_lower, col_upper, matrix, row_lower, row_upper,
                           np.zeros(cost.size, bool)), options=HIGHS_OPTIONS)
    if result.status != "optimal":  # a plant not shown to be the cheapest
        raise ValueError("the sizing programme was not solved to optimality: "
                         f"{result.status}")
    return result.x


def check_objective(objective: str) -> None:
    """ValueError for an objective not in OBJECTIVES, listing them."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; known: {', '.join(OBJECTIVES)}")


def size(profiles: Profiles, renewable_fraction: float, *, objective: str = "cost",
         costs: Costs | None = None, whole_turbines: bool = True) -> Sizing:
    """The least-cost (or least-carbon) plant meeting ``renewable_fraction`` (0..1) of the
    facility's energy from renewables over the year of ``profiles``. With ``whole_turbines`` the
    wind farm is rounded to whole turbines of the site's type and the rest sized again around
    it (a farm the twin can simulate)."""
    return size_over([profiles], renewable_fraction, objective=objective, costs=costs,
                     whole_turbines=whole_turbines)


def size_over(years: Sequence[Profiles], renewable_fraction: float, *,
              objective: str = "cost", costs: Costs | None = None,
              whole_turbines: bool = True) -> Sizing:
    """:func:`size` over several climate years of one site at once: the least-cost plant that
    meets the target in every one of ``years`` (one programme, the plant shared, each year's
    dispatch its own); the Sizing's energies, cost and emissions are the mean year's."""
    costs = costs or Costs()
    check_objective(objective)
    if not (math.isfinite(renewable_fraction) and 0.0 <= renewable_fraction <= 1.0):
        raise ValueError(f"renewable fraction must be within 0..1, got {renewable_fraction!r}")
    if not years:
        raise ValueError("give at least one year to size over")
    *program, cols = _program(years, renewable_fraction, costs, objective)
    x = _solve(*program)
    turbines = None
    if whole_turbines:
        turbine_mw = years[0].turbine_w / W_PER_MW
        turbines = round(x[1] / turbine_mw)
        *program, cols = _program(years, renewable_fraction, costs, objective,
                                  turbines * turbine_mw)
        x = _solve(*program)
    return _sizing(years, renewable_fraction, objective, costs, x, cols, turbines)


def _sizing(years: Sequence[Profiles], target: float, objective: str, costs: Costs, x, cols,
            turbines: int | None) -> Sizing:
    """The Sizing of the programme's solution ``x``: the plant, and the mean year's energies
    (one year: that year's)."""
    P, W, E, B, G = (v if v > MIN_CAPACITY else 0.0 for v in x[:5])
    if E == 0.0 or B == 0.0:
        E = B = 0.0
    hours = 1.0  # h
    n = len(years)
    p = years[0]  # the site, its turbine and tariff are the same every year

    def mean(values):
        return sum(values) / n

    demand = mean(y.demand_w.sum() * hours for y in years)
    grid = mean(x[c["g"]].clip(min=0).sum() * W_PER_MW * hours for c in cols)
    grid_price = mean(y.grid_price_per_kwh for y in years)
    grid_carbon = mean(y.carbon_g_per_kwh for y in years)
    mw = W_PER_MW
    pv_wh = P * mean(y.pv_per_wp.sum() for y in years) * mw * hours
    wind_wh = W * mean(y.wind_per_w.sum() for y in years) * mw * hours
    generation = pv_wh + wind_wh
    annual = annual_capacity_costs(costs)
    annual_cost = mw * (P * annual["pv"] + W * annual["wind"] + E * annual["battery_wh"]
                        + B * annual["battery_w"] + G * annual["grid"]) \
        + grid / 1000.0 * grid_price
    emissions = (pv_wh / 1000.0 * costs.pv_lifecycle_g_per_kwh
                 + wind_wh / 1000.0 * costs.wind_lifecycle_g_per_kwh
                 + grid / 1000.0 * grid_carbon) / 1e6 \
        + E * 1000.0 * costs.battery_embodied_kg_per_kwh / costs.battery_lifetime_years / 1000.0
    gcr = p.site.pv.gcr or 0.5  # fixed racks without gcr: ASSUMPTION half covered
    land = P * mw / (1000.0 * costs.module_efficiency) / gcr / 1e4 \
        + W * costs.wind_total_ha_per_mw
    it = mean(y.it_w.sum() * hours for y in years)
    return Sizing(site=p.site.id, target=target, objective=objective, status="optimal",
                  pv_wp=P * mw, wind_w=W * mw,
                  turbines=turbines if turbines is not None else round(W * mw / p.turbine_w),
                  battery_wh=E * mw, battery_w=B * mw, grid_w=G * mw,
                  renewable_fraction=1.0 - grid / demand, facility_energy_wh=demand,
                  it_energy_wh=it, grid_energy_wh=grid,
                  unused_energy_wh=generation - (demand - grid),
                  generation_wh=generation, annual_cost=annual_cost,
                  cost_per_mwh_it=annual_cost / (it / W_PER_MW), emissions_t=emissions,
                  land_ha=land, wind_direct_ha=W * costs.wind_direct_ha_per_mw,
                  water_l=mean(y.water_l for y in years)
                  + pv_wh / W_PER_MW * costs.pv_water_l_per_mwh,
                  currency=p.site.grid.currency)


def cost_curve(profiles: Profiles, targets=CURVE_TARGETS, *, objective: str = "cost",
               costs: Costs | None = None) -> pd.DataFrame:
    """:func:`size` at every target: one row per renewable fraction (the Sizing's fields), the
    wind farm of any size (not rounded to whole turbines: one programme per target, half the
    time, and a smooth curve)."""
    rows = [asdict(size(profiles, t, objective=objective, costs=costs, whole_turbines=False))
            for t in targets]
    return pd.DataFrame(rows).set_index("target")


def sized_site(profiles: Profiles, sizing: Sizing):
    """The site of ``profiles`` with the plant of ``sizing`` (whole turbines)."""
    return _plant(profiles.site, sizing.pv_wp, sizing.turbines, sizing.battery_wh,
                  sizing.battery_w, sizing.grid_w)


def validate(profiles: Profiles, sizing: Sizing, weather=None) -> dict[str, float]:
    """The twin run with the sized plant on the same year: its renewable fraction, grid,
    unused renewable (curtailed and lost in the battery) and unserved energy [Wh] beside the
    programme's (``weather`` as given to
    :func:`site_profiles`)."""
    from twin.simulate import simulate
    from twin.storage import balance_summary

    ds = simulate(weather, [sized_site(profiles, sizing)], **profiles.simulate_args)
    twin = balance_summary(ds).iloc[0]
    return {"renewable_fraction_lp": sizing.renewable_fraction,
            "renewable_fraction_twin": float(twin["renewable_fraction"]),
            "grid_energy_wh_lp": sizing.grid_energy_wh,
            "grid_energy_wh_twin": float(twin["grid_energy_wh"]),
            "unserved_energy_wh_twin": float(twin["unserved_energy_wh"]),
            "unused_energy_wh_lp": sizing.unused_energy_wh,
            "unused_energy_wh_twin": float(  # 1 h steps: W summed is W h
                ds["renewable_power"].sum() - (ds["facility_power"] - ds["grid_import"]
                                               - ds["unserved_power"]).sum())}




def across_years(profiles: Profiles, sizing: Sizing, seeds) -> pd.Series:
    """The renewable fraction the twin gives with the sized plant in other synthetic years
    (one per seed, the year of ``profiles``): how the target sized on one year holds in
    others; its quantiles are the plant's P10/P50/P90."""
    from twin.simulate import simulate
    from twin.storage import balance_summary

    site = sized_site(profiles, sizing)
    year = profiles.simulate_args.get("year", 2025)
    return pd.Series({seed: float(balance_summary(simulate(
        None, [site], year=year, seed=seed))["renewable_fraction"].iloc[0])
        for seed in seeds}, name="renewable_fraction")


def parse_reliability(text: str | float) -> float:
    """The share of climate years that must meet the target: ``p90``, ``90%`` or ``0.9`` ->
    0.9 (within 0..1, above 0)."""
    raw = str(text).strip().lower()
    try:
        value = float(raw[1:]) / 100 if raw.startswith("p") else \
            float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise ValueError(f"reliability {text!r}: give the share of years that must meet the "
                         "target, such as p90, 90% or 0.9")
    return value


def balance_fractions(years: Sequence[Profiles], sizing: Sizing) -> np.ndarray:
    """The renewable fraction the twin's own power balance (:func:`twin.storage.power_balance`:
    its load-following battery, grid up to the connection, unserved energy counted as not
    renewable) gives with the plant of ``sizing`` in each of ``years``: the twin's answer on
    each year's demand and per-unit generation, without simulating the weather again."""
    from twin.storage import BatteryArrays, power_balance

    out = []
    for p in years:
        b = p.battery
        battery = BatteryArrays(*(np.array([v], float) for v in (
            sizing.battery_wh, sizing.battery_w, b.charge_efficiency, b.discharge_efficiency,
            b.soc_min, b.soc_max, b.keep_per_hour, b.initial_soc)))
        renewable = sizing.pv_wp * p.pv_per_wp + sizing.turbines * p.turbine_w * p.wind_per_w
        flows = power_balance(battery, renewable[None, :], p.demand_w[None, :],
                              np.array([sizing.grid_w]))
        short = (flows["grid_import"] + flows["unserved_power"]).sum()
        out.append(1.0 - short / p.demand_w.sum())
    return np.array(out)


@dataclass(frozen=True)
class ReliableSizing:
    """A plant sized to meet its target in at least ``reliability`` of the climate years: the
    Sizing (the mean year of the binding years), each year's renewable fraction by the twin's
    balance, the years the programme had to meet (indices into the years given) and how many
    years met the target."""

    sizing: Sizing
    reliability: float
    labels: tuple
    renewable_fraction_by_year: tuple[float, ...]
    binding: tuple[int, ...]
    met: int
    allowed_misses: int


def size_for_reliability(years: Sequence[Profiles], renewable_fraction: float,
                         reliability: float = 0.9, *, objective: str = "cost",
                         costs: Costs | None = None, labels: Sequence | None = None,
                         tolerance: float = 1e-3,
                         progress: Callable[[str], None] | None = None) -> ReliableSizing:
    """The plant that meets ``renewable_fraction`` in at least ``reliability`` of ``years``
    (0.9: the P90 plant), at least cost: of N years, k = floor((1 - reliability) N) may miss.

    A cutting-plane search on the multi-year programme (:func:`size_over`), each step checked by
    the twin's own power balance in every year (:func:`balance_fractions`):

    1. size on the first year alone and rank all years by the renewable fraction that plant
       gives in each (the hardest years first);
    2. the years the programme must meet (the binding set) start with the (k+1)-th hardest:
       the k hardest may be the ones let go;
    3. size over the binding set (one programme: every binding year meets the target, the plant
       shared, whole turbines), rank every year again with that plant; if more than k years
       miss the target (by more than ``tolerance``), the hardest year past the k hardest that
       misses joins the binding set, and this step runs again.

    Each step adds a year, so it ends within N steps; a year joins only when the plant must
    grow for it, so the plant is the least-cost one meeting its binding years (not proven the
    least-cost among every choice of years to let go: that is a combinatorial problem)."""
    n = len(years)
    if n == 0:
        raise ValueError("give at least one year to size over")
    labels = tuple(labels) if labels is not None else tuple(range(n))
    allowed = math.floor((1.0 - reliability) * n + 1e-9)
    report = progress or (lambda message: None)
    report("ranking the years")
    first = size_over(years[:1], renewable_fraction, objective=objective, costs=costs,
                      whole_turbines=False)
    fractions = balance_fractions(years, first)
    binding = [int(np.argsort(fractions, kind="stable")[min(allowed, n - 1)])]
    while True:
        report(f"sizing over {len(binding)} year(s)")
        plant = size_over([years[i] for i in binding], renewable_fraction, objective=objective,
                          costs=costs)
        fractions = balance_fractions(years, plant)
        missing = [int(i) for i in np.argsort(fractions, kind="stable")
                   if fractions[i] < renewable_fraction - tolerance]
        if len(missing) <= allowed:
            break
        candidates = [i for i in missing[allowed:] if i not in binding]
        if not candidates:  # only binding years miss, by the dispatch's difference: stop
            break
        binding.append(candidates[0])
    met = int((fractions >= renewable_fraction - tolerance).sum())
    return ReliableSizing(plant, reliability, labels, tuple(float(f) for f in fractions),
                          tuple(sorted(binding)), met, allowed)
