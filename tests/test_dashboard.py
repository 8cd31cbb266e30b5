"""The dashboard page at `/` (issue 8): served offline by the app (TestClient), and in a real
browser: headless Chromium driven by Selenium against `twin serve` in its own process. The charts
show the API's data for the chosen site and week, the site switch changes them, the window search
shows options (and the API's reason when it refuses), with no console error and no request off
loopback. The browser tests skip when chromium and chromedriver are not installed (Debian:
`apt-get install chromium chromium-driver`; `.ci/run` installs them). A full-page screenshot is
kept in artifacts/dashboard.png."""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.test_service import ROOT, Server

SCREENSHOT = ROOT / "artifacts" / "dashboard.png"
# the README's pictures: test_screenshots writes them to artifacts/, and to docs/ (committed)
# with TWIN_DOCS_SCREENSHOTS=1
DOCS = ROOT / "docs"
CHARTS = ("chart-power", "chart-it", "chart-grid", "chart-pue", "heatmap")
WAIT_S = 60

# ---- without a browser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(Settings(db_path=tmp_path_factory.mktemp("db") / "r.sqlite3"))
    return TestClient(app)  # no lifespan: the page and its files need no twin data


def test_page_and_its_files_are_served_without_a_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/plotly.min.js" in page.text and "cdn" not in page.text.lower()
    assert not re.search(r"https?://", page.text)  # every script and style from the server
    assert "{{" not in page.text  # the plotly version is filled in
    for url in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert "cdn" not in answer.text.lower() or url.startswith("/static/plotly")
        assert not re.search(r"https?://", answer.text) or url.startswith("/static/plotly")
    plotly = client.get("/static/plotly.min.js")
    assert plotly.status_code == 200
    assert plotly.headers["content-type"].startswith("text/javascript")
    assert "max-age=31536000" in plotly.headers["cache-control"]
    assert len(plotly.content) > 1_000_000 and b"plotly" in plotly.content[:2000].lower()
    assert plotly.headers["content-encoding"] == "gzip"  # httpx asks for it, and decodes it
    assert int(plotly.headers["content-length"]) < len(plotly.content) / 2
    plain = client.get("/static/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == plotly.content
    assert client.get("/static/dashboard.js").headers["content-type"].startswith(
        "text/javascript")
    assert client.get("/static/nothing.js").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(p.startswith("/static") for p in paths)


# ---- in a real browser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("dashboard") / "reservations.sqlite3").start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium "
                    "chromium-driver; .ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # explicit paths: Selenium Manager never downloads
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1400,2200",
                # any host but loopback fails to resolve: a CDN would break the page
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(chromedriver), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, server):
    """The dashboard freshly loaded, its opening site's next 48 h, the fleet and the year
    drawn."""
    browser.get(f"{server.url}/")
    wait_for(browser, lambda d: status(d) == "ready")
    browser.get_log("browser")  # from here on, each test's own console
    return browser


def wait_for(driver, condition):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S).until(condition)


def status(driver) -> str:
    return driver.execute_script("return document.getElementById('status').dataset.state")


def charts(driver, ids=CHARTS) -> dict:
    """Each chart's site, traces and layout, as Plotly holds them."""
    return driver.execute_script("""
        const out = {};
        for (const id of arguments[0]) {
            const gd = document.getElementById(id);
            out[id] = {site: gd.dataset.site, drawn: gd.querySelectorAll('.main-svg').length,
                       layout: JSON.parse(JSON.stringify(gd.layout || {})),
                       traces: (gd.data || []).map((t) => ({name: t.name, type: t.type || 'scatter',
                                                           x: t.x, y: t.y, z: t.z,
                                                           colorscale: t.colorscale}))};
        }
        return out;""", list(ids))


def shown_site(driver, site_id):
    return lambda d: status(d) == "ready" and all(c["site"] == site_id
                                                  for c in charts(d).values())


def next_hours(hours: int = 48) -> tuple[str, str]:
    """The default view: this UTC hour and the 47 after it."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return start.isoformat(), (start + timedelta(hours=hours)).isoformat()


def week_of(driver) -> tuple[str, str]:
    """The page's week (the week view, UTC clock) as the timeseries query's start and end."""
    day = datetime.fromisoformat(driver.find_element("id", "week").get_attribute("value"))
    start = day.replace(tzinfo=UTC)
    return start.isoformat(), (start + timedelta(days=7)).isoformat()


VIEW_VARIABLES = ("pv_power_w,facility_power_w,pue,curtailment_w,battery_soc,"
                  "carbon_intensity_g_per_kwh,electricity_price_per_kwh,it_available_power_w,"
                  "it_headroom_w")


def api_hours(server, site_id: str, period: tuple[str, str]) -> dict:
    return httpx.get(f"{server.url}/v1/sites/{site_id}/timeseries", params={
        "start": period[0], "end": period[1], "variables": VIEW_VARIABLES}).json()


def mw(values) -> np.ndarray:
    return np.array([np.nan if v is None else v / 1e6 for v in values], dtype=float)


def trace(chart: dict, name: str) -> dict:
    return next(t for t in chart["traces"] if t["name"] == name)


def luminance(colour: str) -> float:
    """Relative luminance (ITU-R BT.709 weights) of "#rrggbb"."""
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def assert_clean(driver, server, allowed=(), min_requests=10):
    """No console error but the ``allowed`` patterns; every request (at least
    ``min_requests``) to the server itself."""
    severe = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert [m for m in severe if not any(re.search(a, m) for a in allowed)] == [], severe
    requests = driver.execute_script(
        "return [location.href, ...performance.getEntriesByType('resource').map((e) => e.name)]")
    assert len(requests) > min_requests and all(r.startswith(f"{server.url}/")
                                                for r in requests), requests


def test_catalog_lists_every_site_with_figures(page, server):
    sites = httpx.get(f"{server.url}/v1/sites").json()
    rows = page.execute_script("""
        return [...document.querySelectorAll('#sites tbody tr')].map(
            (r) => [r.dataset.site, ...[...r.cells].map((c) => c.textContent)]);""")
    assert [r[0] for r in rows] == [s["id"] for s in sites]
    for row, site in zip(rows, sites):
        assert row[1] == site["name"] and row[2] == site["province"]  # names, not ids too
        assert float(row[3]) == pytest.approx(site["it_capacity_w"] / 1e6, abs=0.005)
        assert float(row[4]) == pytest.approx(100 * site["annual"]["renewable_fraction"], abs=0.05)
        assert float(row[5]) == pytest.approx(site["annual"]["pue"], abs=0.0005)
    options = page.execute_script(
        "return [...document.getElementById('site-select').options].map((o) => o.value)")
    assert options == [s["id"] for s in sites]
    # it opens on a desert hub (Turpan), not on the catalog's first site (Beijing)
    chosen = page.find_elements("css selector", "#sites tr.chosen")
    assert [r.get_attribute("data-site") for r in chosen] == ["turpan"] != [sites[0]["id"]]
    assert_clean(page, server)


def test_charts_show_the_next_48_hours_and_the_year(page, server):
    drawn = charts(page)
    for chart_id, chart in drawn.items():
        assert chart["site"] == "turpan" and chart["drawn"] > 0, chart_id
        for t in chart["traces"]:
            values = np.array(t["z"] if t["type"] == "heatmap" else t["y"], dtype=float)
            assert values.size and np.isfinite(values).all(), (chart_id, t["name"])
    names = {k: [t["name"] for t in c["traces"]] for k, c in drawn.items()}
    assert {"PV", "wind", "facility demand", "battery (+ discharging)", "grid import",
            "curtailed", "battery charge [%]"} <= set(names["chart-power"])
    assert {"available IT power", "IT headroom (after reservations)",
            "held (all tenants)"} <= set(names["chart-it"])
    assert "held by you" not in names["chart-it"]  # no API key given
    assert {"grid carbon intensity", "electricity price"} <= set(names["chart-grid"])
    hours = api_hours(server, "turpan", next_hours())
    v = hours["values"]
    power = drawn["chart-power"]
    assert len(trace(power, "PV")["y"]) == 48
    np.testing.assert_allclose(trace(power, "PV")["y"], mw(v["pv_power_w"]))
    np.testing.assert_allclose(trace(power, "facility demand")["y"], mw(v["facility_power_w"]))
    np.testing.assert_allclose(trace(power, "curtailed")["y"], mw(v["curtailment_w"]))
    np.testing.assert_allclose(trace(power, "battery charge [%]")["y"],
                               100 * np.array(v["battery_soc"]))
    grid = drawn["chart-grid"]
    np.testing.assert_allclose(trace(grid, "grid carbon intensity")["y"],
                               v["carbon_intensity_g_per_kwh"])
    np.testing.assert_allclose(trace(grid, "electricity price")["y"],
                               v["electricity_price_per_kwh"])
    it = drawn["chart-it"]
    np.testing.assert_allclose(trace(it, "held (all tenants)")["y"],
                               mw(v["it_available_power_w"]) - mw(v["it_headroom_w"]), atol=1e-6)
    np.testing.assert_allclose(trace(drawn["chart-pue"], "PUE")["y"], v["pue"])
    # the PUE axis: from 1, at least 0.3 wide (a flat PUE looks flat), the 1.2 target on it
    low, high = drawn["chart-pue"]["layout"]["yaxis"]["range"]
    assert low == 1 and high - low >= 0.3 and high >= max(v["pue"])
    # a "now" line on each chart of the hours, at this hour on the chart's clock
    now = datetime.now(UTC).replace(tzinfo=None)
    for chart_id in ("chart-power", "chart-it", "chart-grid", "chart-pue"):
        (line,) = drawn[chart_id]["layout"]["shapes"]
        at = datetime.fromisoformat(line["x0"])
        assert line["x0"] == line["x1"] and abs(at - now) < timedelta(minutes=2), chart_id
    assert page.find_element("id", "data-mode").text == f"data: {hours['data_mode']}"
    # caveats: the data are a typical year, and Turpan's station wind is scaled x7.2
    caveats = page.find_element("id", "caveats").text
    if hours["data_mode"] == "typical_year":
        assert "typical year, not a forecast" in caveats
    assert "x7.2" in caveats
    # the heatmap: every hour of the year; colours pale at low PUE, dark red at high
    heat = drawn["heatmap"]["traces"][0]
    year = int(page.find_element("id", "week").get_attribute("value")[:4])
    days = (datetime(year + 1, 1, 1) - datetime(year, 1, 1)).days
    z = np.array(heat["z"], dtype=float)
    assert z.shape == (days, 24) and (z >= 1).all()
    assert heat["y"][0] == f"{year}-01-01" and heat["y"][-1] == f"{year}-12-31"
    scale = heat["colorscale"]
    assert scale[0][0] == 0 and scale[-1][0] == 1
    assert luminance(scale[0][1]) > 0.9 > 0.3 > luminance(scale[-1][1])
    assert all(luminance(a[1]) > luminance(b[1]) for a, b in zip(scale, scale[1:]))
    assert_clean(page, server)


def test_the_fleet_shows_every_sites_headroom(page, server):
    sites = httpx.get(f"{server.url}/v1/sites").json()
    fleet = charts(page, ["chart-fleet"])["chart-fleet"]["traces"][0]
    assert fleet["type"] == "heatmap" and fleet["y"] == [s["name"] for s in sites]
    scale = fleet["colorscale"]  # pale where nothing is free, dark where much is
    assert luminance(scale[0][1]) > 0.9 > 0.3 > luminance(scale[-1][1])
    period = next_hours()
    for row, site in zip(fleet["z"], sites):
        hours = api_hours(server, site["id"], period)["values"]
        np.testing.assert_allclose(row, mw(hours["it_headroom_w"]), err_msg=site["id"])
    assert_clean(page, server)


def test_switching_the_site_changes_the_charts(page, server):
    from selenium.webdriver.support.ui import Select

    sites = [s["id"] for s in httpx.get(f"{server.url}/v1/sites").json()]
    before = charts(page)
    Select(page.find_element("id", "site-select")).select_by_value(sites[1])
    wait_for(page, shown_site(page, sites[1]))
    after = charts(page)
    for chart_id, name in (("chart-power", "facility demand"), ("chart-it", "available IT power"),
                           ("chart-grid", "grid carbon intensity"), ("chart-pue", "PUE"),
                           ("heatmap", None)):
        old, new = (trace(c[chart_id], name) if name else c[chart_id]["traces"][0]
                    for c in (before, after))
        key = "z" if chart_id == "heatmap" else "y"
        assert old[key] != new[key], chart_id
    pv = api_hours(server, sites[1], next_hours())["values"]["pv_power_w"]
    np.testing.assert_allclose(trace(after["chart-power"], "PV")["y"], mw(pv))
    assert "x7.2" not in page.find_element("id", "caveats").text  # Turpan's, not Chongqing's
    page.find_element("css selector", f'#sites tr[data-site="{sites[2]}"]').click()  # a row
    wait_for(page, shown_site(page, sites[2]))
    assert page.find_element("id", "site-select").get_attribute("value") == sites[2]
    pv = api_hours(server, sites[2], next_hours())["values"]["pv_power_w"]
    np.testing.assert_allclose(trace(charts(page)["chart-power"], "PV")["y"], mw(pv))
    assert_clean(page, server)


def test_the_address_keeps_the_site_and_week(browser, server):
    from selenium.webdriver.support.ui import Select

    sites = [s["id"] for s in httpx.get(f"{server.url}/v1/sites").json()]
    browser.get(f"{server.url}/?site={sites[2]}&week=2026-07-13")  # a link someone shared
    wait_for(browser, shown_site(browser, sites[2]))
    assert browser.find_element("id", "week").get_attribute("value") == "2026-07-13"
    assert browser.find_element("id", "span").get_attribute("value") == "week"
    power = charts(browser)["chart-power"]
    assert len(trace(power, "PV")["y"]) == 168
    np.testing.assert_allclose(trace(power, "PV")["y"], mw(api_hours(
        server, sites[2], week_of(browser))["values"]["pv_power_w"]))
    assert "shapes" not in power["layout"] or not power["layout"]["shapes"]  # now is not in July
    Select(browser.find_element("id", "site-select")).select_by_value(sites[1])
    wait_for(browser, shown_site(browser, sites[1]))
    assert browser.execute_script("return location.search") == f"?site={sites[1]}&week=2026-07-13"
    browser.get(f"{server.url}/?site=atlantis&week=not-a-date")  # neither is known
    wait_for(browser, shown_site(browser, "turpan"))
    assert browser.find_element("id", "status").text.startswith("no site atlantis in the catalog")
    assert browser.find_element("id", "span").get_attribute("value") == "48"
    monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
    assert browser.find_element("id", "week").get_attribute("value") == monday.isoformat()
    assert_clean(browser, server)


def test_the_china_standard_time_clock_shifts_the_charts_and_the_search(page, server):
    from selenium.webdriver.support.ui import Select

    before = charts(page)
    earliest = page.find_element("id", "search-earliest").get_attribute("value")
    Select(page.find_element("id", "clock")).select_by_value("8")
    wait_for(page, lambda d: status(d) == "ready" and "hour of day (UTC+8)" in d.execute_script(
        "return JSON.stringify(document.getElementById('heatmap').layout.xaxis.title)"))
    after = charts(page)
    assert "clock=8" in page.execute_script("return location.search")
    # the same 48 hours, 8 h later on the axis
    utc, cst = trace(before["chart-pue"], "PUE"), trace(after["chart-pue"], "PUE")
    assert cst["y"] == utc["y"]
    assert datetime.fromisoformat(cst["x"][0]) - datetime.fromisoformat(utc["x"][0]) == \
        timedelta(hours=8)
    # the heatmap's hour h of a day is UTC hour h - 8 (of the day before for h < 8)
    z_utc = np.array(before["heatmap"]["traces"][0]["z"], dtype=float)
    z_cst = np.array(after["heatmap"]["traces"][0]["z"], dtype=float)
    np.testing.assert_allclose(z_cst[1:, 8:], z_utc[1:, :16])
    np.testing.assert_allclose(z_cst[1:, :8], z_utc[:-1, 16:])
    # the search form shows the same instants on the new clock, and its answers on it too
    shifted = page.find_element("id", "search-earliest").get_attribute("value")
    assert datetime.fromisoformat(shifted) - datetime.fromisoformat(earliest) == timedelta(hours=8)
    assert search(page) == "ready"
    answer = httpx.post(f"{server.url}/v1/windows:search", json=form_body(page)).json()
    first = page.execute_script("return [...document.querySelector('#search-results tbody tr')"
                                ".cells].map((c) => c.textContent)")
    best = answer["options"][0]
    start = datetime.fromisoformat(best["start"].replace("Z", "+00:00")) + timedelta(hours=8)
    assert first[2] == start.strftime("%Y-%m-%d %H:%M")
    assert "UTC+8" in page.find_element("css selector", "#search-results thead").text
    assert_clean(page, server)


def form_body(driver) -> dict:
    """The search form's request, as the page sends it (the inputs are on the page's clock)."""
    def value(id_):
        return driver.find_element("id", id_).get_attribute("value")

    offset = timedelta(hours=int(value("clock")))

    def utc(local: str) -> str:
        return (datetime.fromisoformat(local) - offset).isoformat() + "Z"

    body = {"it_power_w": float(value("search-it-mw")) * 1e6,
            "duration_h": int(value("search-duration")),
            "earliest_start": utc(value("search-earliest")),
            "deadline": utc(value("search-deadline")),
            "interruptible": driver.find_element("id", "search-interruptible").is_selected(),
            "objective": value("search-objective"), "limit": 50}
    if value("search-sites") == "chosen":
        body["sites"] = [driver.find_element("id", "site-select").get_attribute("value")]
    return body


def search(driver):
    driver.find_element("id", "search-submit").click()
    wait_for(driver, lambda d: d.find_element("id", "search-results").get_attribute(
        "data-state") in ("ready", "error"))
    return driver.find_element("id", "search-results").get_attribute("data-state")


def set_value(driver, id_, value):
    driver.execute_script("document.getElementById(arguments[0]).value = arguments[1]", id_, value)


def result_rows(driver) -> list[dict]:
    return driver.execute_script("""
        return [...document.querySelectorAll('#search-results tbody tr')].map(
            (r) => ({site: r.dataset.site, cells: [...r.cells].map((c) => c.textContent),
                     runNow: r.classList.contains('run-now')}));""")


def test_search_shows_the_best_window_of_each_site(page, server):
    from selenium.webdriver.support.ui import Select

    Select(page.find_element("id", "search-objective")).select_by_value("carbon")
    assert search(page) == "ready"
    answer = httpx.post(f"{server.url}/v1/windows:search", json=form_body(page)).json()
    rows = result_rows(page)
    ranked_rows = [r for r in rows if r["cells"][0] != "–"]
    # diverse: one row per site, each that site's best option, in the API's order, ranked
    sites = [r["site"] for r in ranked_rows]
    assert [r["cells"][0] for r in ranked_rows] == [str(i + 1) for i in range(len(sites))]
    assert len(sites) == len(set(sites)) == min(10, len({o["site"] for o in answer["options"]}))
    assert len(sites) > 1
    firsts = {}
    for o in answer["options"]:
        firsts.setdefault(o["site"], o)
    assert sites == list(firsts)[:len(sites)]
    for row in ranked_rows:
        best = firsts[row["site"]]
        assert row["cells"][2] == best["start"].replace("T", " ")[:16]
        assert float(row["cells"][4]) == pytest.approx(100 * best["renewable_fraction"], abs=0.05)
        assert row["runNow"] == best["run_now"]
    # the run-now option: among them, or last and unranked, for comparison
    (run_now,) = [o for o in answer["options"] if o["run_now"]]
    flagged = [r for r in rows if r["runNow"]]
    assert len(flagged) == 1 and flagged[0]["site"] == run_now["site"]
    assert flagged[0]["cells"][2] == run_now["start"].replace("T", " ")[:16]
    assert flagged[0] in ranked_rows or rows[-1] == flagged[0]
    assert all((r["cells"][-2] == "run now") == r["runNow"] for r in rows)
    assert answer["data_mode"] in page.find_element("id", "search-summary").text
    assert not page.find_element("id", "search-error").is_displayed()
    assert_clean(page, server)


def test_hold_reserves_the_window_with_the_viewers_key(page, server):
    """The hold button posts the option's blocks with the viewer's API key; the reservation is
    then the tenant's (listed with that key), drawn as held MW at those hours, and the fleet's
    headroom drops there."""
    from selenium.webdriver.support.ui import Select

    Select(page.find_element("id", "search-sites")).select_by_value("chosen")  # Turpan
    set_value(page, "search-it-mw", "0.4")
    assert search(page) == "ready"
    page.find_element("css selector", "#search-results tbody tr button.hold").click()
    result = page.find_element("id", "hold-result")
    wait_for(page, lambda d: result.get_attribute("data-state") == "error")
    assert "API key" in result.text  # none given yet: nothing is sent
    page.find_element("id", "api-key").send_keys("key-a")
    answer = httpx.post(f"{server.url}/v1/windows:search", json=form_body(page)).json()
    best = answer["options"][0]  # the first row
    page.find_element("css selector", "#search-results tbody tr button.hold").click()
    wait_for(page, lambda d: result.get_attribute("data-state") in ("held", "error"))
    assert result.get_attribute("data-state") == "held", result.text
    ids = result.get_attribute("data-ids").split(",")
    mine = httpx.get(f"{server.url}/v1/reservations", params={"status": "held"},
                     headers={"X-API-Key": "key-a"}).json()
    held = [r for r in mine if r["id"] in ids]
    try:
        assert [(r["site"], r["start"], r["end"], r["it_power_w"]) for r in held] == [
            (b["site"], b["start"], b["end"], b["it_power_w"]) for b in best["holds"]]
        others = httpx.get(f"{server.url}/v1/reservations", headers={"X-API-Key": "key-b"}).json()
        assert not {r["id"] for r in others} & set(ids)  # another tenant does not see them
        wait_for(page, lambda d: status(d) == "ready" and "held by you" in [
            t["name"] for t in charts(d, ["chart-it"])["chart-it"]["traces"]])
        drawn = charts(page)
        x = trace(drawn["chart-it"], "held by you")["x"]
        by_you = trace(drawn["chart-it"], "held by you")["y"]
        all_held = trace(drawn["chart-it"], "held (all tenants)")["y"]
        expected = np.zeros(len(x))
        for r in held:
            start, end = (datetime.fromisoformat(r[k].replace("Z", "")).replace(tzinfo=None)
                          for k in ("start", "end"))
            expected += [r["it_power_w"] / 1e6 if start <= datetime.fromisoformat(t) < end
                         else 0 for t in x]
        assert expected.max() > 0  # the window falls in the next 48 hours
        np.testing.assert_allclose(by_you, expected, atol=1e-6)
        assert (np.array(all_held) >= expected - 1e-6).all()
        hours = api_hours(server, "turpan", next_hours())["values"]
        fleet = charts(page, ["chart-fleet"])["chart-fleet"]["traces"][0]
        row = fleet["y"].index("Turpan")
        np.testing.assert_allclose(fleet["z"][row], mw(hours["it_headroom_w"]))
        assert_clean(page, server)
    finally:
        for reservation_id in ids:  # the module's server is shared: leave it as found
            httpx.delete(f"{server.url}/v1/reservations/{reservation_id}",
                         headers={"X-API-Key": "key-a"})


def test_a_refused_search_shows_the_apis_reason(page, server):
    earliest = page.find_element("id", "search-earliest").get_attribute("value")
    before = (datetime.fromisoformat(earliest) - timedelta(hours=12)).isoformat()[:16]
    set_value(page, "search-deadline", before)  # the deadline before the earliest start
    assert search(page) == "error"
    refused = httpx.post(f"{server.url}/v1/windows:search", json=form_body(page))
    assert refused.status_code == 422
    reason = page.find_element("id", "search-error")
    assert reason.is_displayed() and reason.text == refused.json()["detail"]
    assert "deadline" in reason.text
    assert page.find_elements("css selector", "#search-results tbody tr") == []
    deadline = (datetime.fromisoformat(earliest) + timedelta(hours=48)).isoformat()[:16]
    set_value(page, "search-deadline", deadline)
    set_value(page, "search-it-mw", "900")  # far beyond any one site's IT capacity
    set_value(page, "search-sites", "chosen")
    assert search(page) == "error"
    refused = httpx.post(f"{server.url}/v1/windows:search", json=form_body(page))
    assert refused.status_code == 422 and reason.text == refused.json()["detail"]
    # the browser reports each refused request on its console: those two and nothing else
    assert_clean(page, server, allowed=[r"windows:search .*status of 422"])


def test_screenshots(page, server):
    """The page as a person sees it, everything drawn: the whole page as the test's artifact,
    and its top (header, caveats, catalog, fleet) and the chosen site's charts at 1200 x 800
    for the README (also into docs/ with TWIN_DOCS_SCREENSHOTS=1), a window held by a tenant."""
    # a window held, so that the pictures show a reservation
    page.find_element("id", "api-key").send_keys("key-b")
    set_value(page, "search-sites", "chosen")
    set_value(page, "search-it-mw", "0.5")
    assert search(page) == "ready"
    page.find_element("css selector", "#search-results tbody tr button.hold").click()
    result = page.find_element("id", "hold-result")
    wait_for(page, lambda d: result.get_attribute("data-state") == "held")
    ids = result.get_attribute("data-ids").split(",")
    try:
        wait_for(page, lambda d: status(d) == "ready" and "held by you" in [
            t["name"] for t in charts(d, ["chart-it"])["chart-it"]["traces"]])
        take_screenshots(page, server)
    finally:
        for reservation_id in ids:
            httpx.delete(f"{server.url}/v1/reservations/{reservation_id}",
                         headers={"X-API-Key": "key-b"})


def take_screenshots(page, server):
    from PIL import Image  # matplotlib's dependency

    height = page.execute_script("window.scrollTo(0, 0); return window.outerHeight - "
                                 "window.innerHeight + document.documentElement.scrollHeight")
    page.set_window_size(1400, height)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert page.save_screenshot(str(SCREENSHOT)) and SCREENSHOT.stat().st_size > 50_000
    page.set_window_size(1200, 800)
    inner = page.execute_script("return [window.innerWidth, window.innerHeight]")
    page.set_window_size(1200 + 1200 - inner[0], 800 + 800 - inner[1])  # the viewport 1200 x 800
    wait_for(page, lambda d: d.execute_script("return window.innerWidth") == 1200)
    for name, element in (("dashboard.png", None), ("dashboard-site.png", "view-title")):
        if element:
            page.execute_script("document.getElementById(arguments[0]).scrollIntoView()", element)
        page.execute_script("return new Promise((done) => setTimeout(done, 500))")
        path = SCREENSHOT.parent / name.replace(".png", "-1200.png")
        assert page.save_screenshot(str(path))
        with Image.open(path) as shot:  # 256 colours: a third of the bytes, for the repository
            shot.convert("RGB").quantize(256).save(path, optimize=True)
        png = path.read_bytes()
        assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (
            1200, 800)
        if os.environ.get("TWIN_DOCS_SCREENSHOTS") == "1":
            (DOCS / name).write_bytes(png)
    assert_clean(page, server)


def test_api_docs_are_served_without_a_cdn(client):
    """/docs (Swagger UI) and /redoc (ReDoc) load their scripts and styles from the service
    (the fastapi-offline package's files), never from a CDN: cluster nodes have no internet."""
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets and not [a for a in assets if re.match(r"(https?:)?//", a)], assets
        for url in assets:
            assert client.get(url).status_code == 200, url
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": "an API key of the service (TWIN_API_KEYS): writes need one"}
    tags = {t for p in spec["paths"].values() for op in p.values() for t in op.get("tags", [])}
    assert {"sites", "scheduling", "reservations", "Carbon Aware SDK"} <= tags


def test_swagger_ui_and_redoc_render_offline(browser, server):
    """In the browser, with every host but loopback unresolvable: Swagger UI draws every
    operation and its Authorize button; ReDoc draws the API's title."""
    spec = httpx.get(f"{server.url}/openapi.json").json()
    operations = sum(len(p) for p in spec["paths"].values())
    browser.get(f"{server.url}/docs")
    wait_for(browser, lambda d: len(d.find_elements("css selector", ".opblock")) == operations)
    assert browser.find_elements("css selector", ".btn.authorize")
    assert_clean(browser, server, min_requests=3)
    browser.get(f"{server.url}/redoc")
    wait_for(browser, lambda d: spec["info"]["title"] in d.execute_script(
        "return document.body.innerText"))
    assert_clean(browser, server, min_requests=2)  # not even ReDoc's logo from its CDN
