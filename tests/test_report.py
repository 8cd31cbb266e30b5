"""twin.report: plots and the HTML report of a small study store (2 sites x 2 years x 2
scenarios)."""

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from twin.report import (
    COMPARED,
    deltas,
    html_report,
    plot_available_duration,
    plot_comparison,
    plot_pue_heatmap,
    plot_supply_demand_by_month,
    pue_limits,
    safe_name,
    write_plots,
)
from twin.study import Scenario, Study, parse_variants, run_study, summary

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VARIANT_SPECS = ("cooling.topology=chilled_water", "pv.capacity_wp=2e7")
VARIANT = parse_variants(VARIANT_SPECS)[0].name  # "=", " ": characters to sanitise
KINDS = ("supply_demand", "pue_heatmap", "available_duration")
VOID = {"meta", "img", "br", "hr", "link", "input"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    study = Study(("hami", "golmud"), (1, 2), (Scenario("baseline"), Scenario.parse("+2K")),
                  tuple(parse_variants(VARIANT_SPECS)))
    return run_study(study, tmp_path_factory.mktemp("study") / "study.zarr")


def combinations(ds):
    return [(str(s), str(c), str(v)) for s in ds.site.values for c in ds.scenario.values
            for v in ds.variant.values]


def test_safe_name_keeps_scenarios_apart_and_only_safe_characters():
    assert safe_name("+1.5K") == "plus1.5K"
    assert safe_name("+1.5K") != safe_name("-1.5K")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", safe_name(VARIANT))
    assert safe_name("as_configured") == "as_configured"


def test_write_plots_three_valid_pngs_per_combination(store, tmp_path):
    *paths, comparison = write_plots(store, tmp_path / "plots")
    assert comparison.name == "comparison.png" and comparison.read_bytes().startswith(PNG_MAGIC)
    assert len(paths) == 3 * len(combinations(store)) == 12
    expected = {tmp_path / "plots" / f"{s}_{safe_name(c)}_{safe_name(v)}_{k}.png"
                for s, c, v in combinations(store) for k in KINDS}
    assert set(paths) == expected
    assert (tmp_path / "plots" / "hami_plus2K_cooling.topology-chilled_water-"
            "pv.capacity_wp-20000000.0_pue_heatmap.png") in expected
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(
        p.name for p in [*paths, comparison])
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, path.name
        height, width = imread(path).shape[:2]
        assert (width, height) == (800, 400), path.name  # 8 x 4 in at 100 dpi


def test_pue_heatmap_is_the_mean_by_cst_day_and_hour(store):
    site, scenario, variant = "hami", "+2K", VARIANT
    fig = plot_pue_heatmap(store, site, scenario, variant)
    grid = np.ma.getdata(fig.axes[0].images[0].get_array())
    assert grid.shape == (24, 365)

    pue = store.pue.sel(site=site, scenario=scenario, variant=variant).values.astype(float)
    utc = pd.DatetimeIndex(store.time.values).tz_localize("UTC")
    local = utc.tz_convert("Asia/Shanghai")
    expected = (pd.Series(pue.mean(axis=0), index=local)
                .groupby([local.hour, local.dayofyear]).mean().unstack())
    assert expected.shape == (24, 365)  # each CST (hour, day) once: 1 Jan 00-07 from 31 Dec UTC
    np.testing.assert_allclose(grid, expected.to_numpy(), rtol=1e-6)
    # one cell by hand: 1 July 14:00 CST is 06:00 UTC on day 182
    hour = np.flatnonzero(utc == pd.Timestamp("2025-07-01 06:00", tz="UTC"))[0]
    assert grid[14, 181] == pytest.approx(pue[:, hour].mean(), rel=1e-6)


def test_available_duration_curves_fall_and_median_is_bold(store):
    fig = plot_available_duration(store, "golmud", "baseline", VARIANT)
    lines = fig.axes[0].get_lines()
    assert len(lines) == store.sizes["year"] + 1
    power_mw = store.it_available_power.sel(site="golmud", scenario="baseline",
                                            variant=VARIANT).values / 1e6
    for line in lines:
        x, y = line.get_xdata(), line.get_ydata()
        assert len(y) == 8760 and x[0] == 1 and x[-1] == 8760
        assert np.all(np.diff(y) <= 0)
    assert sorted(line.get_ydata()[0] for line in lines[:-1]) == pytest.approx(
        sorted(power_mw.max(axis=1)))
    assert lines[-1].get_linewidth() > lines[0].get_linewidth()


def test_supply_demand_months_and_units(store):
    fig = plot_supply_demand_by_month(store, "hami", "baseline", VARIANT)
    ax = fig.axes[0]
    assert "[MW]" in ax.get_ylabel()
    renewable, facility = ax.get_lines()
    assert list(renewable.get_xdata()) == list(range(1, 13))
    power = store.facility_power.sel(site="hami", scenario="baseline", variant=VARIANT)
    local = pd.DatetimeIndex(store.time.values).tz_localize("UTC").tz_convert("Asia/Shanghai")
    monthly_mw = (pd.DataFrame(power.values.T.astype(float), index=local)
                  .groupby(local.month).mean() / 1e6)
    np.testing.assert_allclose(facility.get_ydata(), monthly_mw.median(axis=1), rtol=1e-5)
    # the hourly mismatch monthly means hide: the grid's energy by CST month, median year
    grid = store.grid_import.sel(site="hami", scenario="baseline", variant=VARIANT)
    monthly_mwh = (pd.DataFrame(grid.values.T.astype(float), index=local)
                   .groupby(local.month).sum() / 1e6)
    bars = [b.get_height() for b in fig.axes[1].patches]
    assert monthly_mwh.to_numpy().sum() > 0
    np.testing.assert_allclose(bars, monthly_mwh.median(axis=1), rtol=1e-4)
    hours = (pd.DataFrame(grid.values.T > 0, index=local).groupby(local.month).sum())
    labels = [t.get_text() for t in fig.axes[1].texts]
    assert labels == [f"{h:.0f} h" for h in hours.median(axis=1)]


class TagChecker(HTMLParser):
    """Records every start tag and attribute, and mismatched or unclosed tags."""

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.attrs = [], [], []

    def handle_starttag(self, tag, attrs):
        self.attrs += attrs
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_html_report_is_one_self_contained_valid_file(store, tmp_path):
    path = html_report(store, tmp_path / "out" / "report.html")
    assert list((tmp_path / "out").iterdir()) == [path]
    text = path.read_text(encoding="utf-8")
    assert 'src="http' not in text and 'href="http' not in text and "<link" not in text
    assert "<script" not in text
    assert text.count("data:image/png;base64,") == 3 * len(combinations(store)) + 1
    assert '<a href="#deltas">' in text and "desert-twin" in text and "synthetic years" in text

    checker = TagChecker()
    checker.feed(text)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert all(not v.startswith(("http:", "https:", "//")) for k, v in checker.attrs
               if k in ("src", "href"))

    table = summary(store)
    p50 = table.loc[("golmud", "+2K", VARIANT), "renewable_fraction_p50"]
    assert f"<td>{100 * p50:.1f}</td>" in text
    emissions = table.loc[("hami", "baseline", VARIANT), "emissions_t_p90"]
    assert f"<td>{emissions:,.0f}</td>" in text
    # the table holds W and W h; the report shows MW and MWh
    available_w = table.loc[("golmud", "baseline", VARIANT), "it_available_mean_w_p50"]
    assert f"<td>{available_w / 1e6:.2f}</td>" in text
    curtailed_wh = table.loc[("hami", "+2K", VARIANT), "curtailed_energy_wh_p10"]
    assert curtailed_wh > 1e6 and f"<td>{curtailed_wh / 1e6:,.0f}</td>" in text
    for header in ("[%]", "[MWh]", "[t]", "[h]", "[L/kWh]", "[MW]"):
        assert header in text
    assert "hami, golmud" in text and "+2K" in text
    assert VARIANT in text  # the variant name, escaped text (nothing in it to escape)


def test_report_refuses_a_store_with_unfinished_years(store, tmp_path):
    partial = store.copy()
    partial["pue"] = partial.pue.where(partial.year != 2)
    with pytest.raises(ValueError, match=r"pue of hami/baseline/.* missing for years \[2\]"):
        plot_pue_heatmap(partial, "hami", "baseline", VARIANT)


def test_pue_heatmaps_share_one_colour_scale(store):
    # the study's extremes of the mean-over-years hourly PUE, computed here from the store
    mean = store["pue"].mean("year").values
    limits = pue_limits(store)
    assert limits == (pytest.approx(np.nanmin(mean)), pytest.approx(np.nanmax(mean)))
    clims = {site: plot_pue_heatmap(store, site, "baseline", VARIANT, limits)
             .axes[0].images[0].get_clim() for site in ("hami", "golmud")}
    assert clims["hami"] == clims["golmud"] == pytest.approx(limits)
    own = plot_pue_heatmap(store, "golmud", "baseline", VARIANT).axes[0].images[0].get_clim()
    assert own != pytest.approx(limits)  # the two sites' own ranges differ (the bug)


def test_deltas_against_the_reference_scenario_and_variant():
    # a summary by hand: two variants, two scenarios at one site
    index = pd.MultiIndex.from_tuples(
        [("hami", s, v) for s in ("baseline", "+2K") for v in ("air", "liquid")],
        names=["site", "scenario", "variant"])
    pue = [1.30, 1.15, 1.38, 1.18]
    table = pd.DataFrame({f"{col}_p{p}": 0.0 for col in (
        "renewable_fraction", "annual_pue", "wue_l_per_kwh", "grid_energy_wh", "emissions_t",
        "it_available_mean_w") for p in (10, 50, 90)}, index=index)
    table["annual_pue_p50"] = pue
    d = deltas(table)
    assert d.loc[("hami", "+2K", "liquid"), ("annual_pue", "scenario")] == pytest.approx(0.03)
    assert d.loc[("hami", "+2K", "liquid"), ("annual_pue", "variant")] == pytest.approx(-0.20)
    assert d.loc[("hami", "baseline", "air"), ("annual_pue", "variant")] == 0.0
    assert set(d.columns.get_level_values(0)) == set(COMPARED)


def test_deltas_of_the_study_are_differences_of_its_medians(store):
    table = summary(store)
    d = deltas(table)
    p50 = store["grid_energy"].quantile(0.5, dim="year")
    expected = float(p50.sel(site="hami", scenario="+2K", variant=VARIANT)
                     - p50.sel(site="hami", scenario="baseline", variant=VARIANT))
    assert d.loc[("hami", "+2K", VARIANT), ("grid_energy", "scenario")] == pytest.approx(expected)
    assert plot_comparison(table).axes[0].get_yticklabels()[0].get_text().startswith("hami")
