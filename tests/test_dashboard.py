"""The dashboard page at `/` (issue 8): served offline by the app (TestClient), and in a real
browser: headless Chromium driven by Selenium against `twin serve` in its own process. The charts
show the API's data for the chosen site and week, the site switch changes them, the window search
shows options (and the API's reason when it refuses), with no console error and no request off
loopback. The browser tests skip when chromium and chromedriver are not installed (Debian:
`apt-get install chromium chromium-driver`; `.ci/run` installs them). A full-page screenshot is
kept in artifacts/dashboard.png."""

from __future__ import annotations

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
CHARTS = ("chart-power", "chart-it", "chart-pue", "heatmap")
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
    """The dashboard freshly loaded, its first site's week and year drawn."""
    browser.get(f"{server.url}/")
    wait_for(browser, lambda d: status(d) == "ready")
    browser.get_log("browser")  # from here on, each test's own console
    return browser


def wait_for(driver, condition):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S).until(condition)


def status(driver) -> str:
    return driver.execute_script("return document.getElementById('status').dataset.state")


def charts(driver) -> dict:
    """Each chart's site and traces, as Plotly holds them."""
    return driver.execute_script("""
        const out = {};
        for (const id of arguments[0]) {
            const gd = document.getElementById(id);
            out[id] = {site: gd.dataset.site, drawn: gd.querySelectorAll('.main-svg').length,
                       traces: (gd.data || []).map((t) => ({name: t.name, type: t.type || 'scatter',
                                                           x: t.x, y: t.y, z: t.z}))};
        }
        return out;""", CHARTS)


def shown_site(driver, site_id):
    return lambda d: status(d) == "ready" and all(c["site"] == site_id
                                                  for c in charts(d).values())


def week_of(driver) -> tuple[str, str]:
    """The page's week as the timeseries query's start and end."""
    day = datetime.fromisoformat(driver.find_element("id", "week").get_attribute("value"))
    start = day.replace(tzinfo=UTC)
    return start.isoformat(), (start + timedelta(days=7)).isoformat()


def api_week(server, driver, site_id: str) -> dict:
    start, end = week_of(driver)
    return httpx.get(f"{server.url}/v1/sites/{site_id}/timeseries", params={
        "start": start, "end": end, "variables": "pv_power_w,facility_power_w,pue"}).json()


def mw(values) -> np.ndarray:
    return np.array([np.nan if v is None else v / 1e6 for v in values], dtype=float)


def trace(chart: dict, name: str) -> dict:
    return next(t for t in chart["traces"] if t["name"] == name)


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
            (r) => [...r.cells].map((c) => c.textContent));""")
    assert [r[0] for r in rows] == [s["id"] for s in sites]
    for row, site in zip(rows, sites):
        assert row[1] == site["name"] and row[2] == site["province"]
        assert float(row[4]) == pytest.approx(100 * site["annual"]["renewable_fraction"], abs=0.05)
        assert float(row[5]) == pytest.approx(site["annual"]["pue"], abs=0.0005)
    options = page.execute_script(
        "return [...document.getElementById('site-select').options].map((o) => o.value)")
    assert options == [s["id"] for s in sites]
    chosen = page.find_elements("css selector", "#sites tr.chosen")
    assert [r.get_attribute("data-site") for r in chosen] == [sites[0]["id"]]
    assert_clean(page, server)


def test_charts_show_the_first_sites_week_and_year(page, server):
    first = httpx.get(f"{server.url}/v1/sites").json()[0]["id"]
    drawn = charts(page)
    for chart_id, chart in drawn.items():
        assert chart["site"] == first and chart["drawn"] > 0, chart_id
        for t in chart["traces"]:
            values = np.array(t["z"] if t["type"] == "heatmap" else t["y"], dtype=float)
            assert values.size and np.isfinite(values).all(), (chart_id, t["name"])
    names = {k: [t["name"] for t in c["traces"]] for k, c in drawn.items()}
    assert {"PV", "wind", "facility demand", "battery (+ discharging)",
            "grid import"} <= set(names["chart-power"])
    assert {"available IT power", "IT headroom (after reservations)"} <= set(names["chart-it"])
    week = api_week(server, page, first)
    power = drawn["chart-power"]
    assert len(trace(power, "PV")["y"]) == 168
    np.testing.assert_allclose(trace(power, "PV")["y"], mw(week["values"]["pv_power_w"]))
    np.testing.assert_allclose(trace(power, "facility demand")["y"],
                               mw(week["values"]["facility_power_w"]))
    np.testing.assert_allclose(trace(drawn["chart-pue"], "PUE")["y"], week["values"]["pue"])
    assert page.find_element("id", "data-mode").text == f"data: {week['data_mode']}"
    heat = drawn["heatmap"]["traces"][0]
    year = int(week_of(page)[0][:4])
    days = (datetime(year + 1, 1, 1) - datetime(year, 1, 1)).days
    z = np.array(heat["z"], dtype=float)
    assert z.shape == (days, 24) and (z >= 1).all()
    assert heat["y"][0] == f"{year}-01-01" and heat["y"][-1] == f"{year}-12-31"
    assert_clean(page, server)


def test_switching_the_site_changes_the_charts(page, server):
    from selenium.webdriver.support.ui import Select

    sites = [s["id"] for s in httpx.get(f"{server.url}/v1/sites").json()]
    before = charts(page)
    Select(page.find_element("id", "site-select")).select_by_value(sites[1])
    wait_for(page, shown_site(page, sites[1]))
    after = charts(page)
    for chart_id in CHARTS:
        old, new = before[chart_id]["traces"][0], after[chart_id]["traces"][0]
        key = "z" if chart_id == "heatmap" else "y"
        assert old[key] != new[key], chart_id
    np.testing.assert_allclose(trace(after["chart-power"], "PV")["y"],
                               mw(api_week(server, page, sites[1])["values"]["pv_power_w"]))
    page.find_element("css selector", f'#sites tr[data-site="{sites[2]}"]').click()  # a row
    wait_for(page, shown_site(page, sites[2]))
    assert page.find_element("id", "site-select").get_attribute("value") == sites[2]
    np.testing.assert_allclose(trace(charts(page)["chart-power"], "PV")["y"],
                               mw(api_week(server, page, sites[2])["values"]["pv_power_w"]))
    assert_clean(page, server)


def test_the_address_keeps_the_site_and_week(browser, server):
    from selenium.webdriver.support.ui import Select

    sites = [s["id"] for s in httpx.get(f"{server.url}/v1/sites").json()]
    browser.get(f"{server.url}/?site={sites[2]}&week=2026-07-13")  # a link someone shared
    wait_for(browser, shown_site(browser, sites[2]))
    assert browser.find_element("id", "week").get_attribute("value") == "2026-07-13"
    assert week_of(browser)[0].startswith("2026-07-13")
    np.testing.assert_allclose(trace(charts(browser)["chart-power"], "PV")["y"],
                               mw(api_week(server, browser, sites[2])["values"]["pv_power_w"]))
    Select(browser.find_element("id", "site-select")).select_by_value(sites[1])
    wait_for(browser, shown_site(browser, sites[1]))
    assert browser.execute_script("return location.search") == f"?site={sites[1]}&week=2026-07-13"
    browser.get(f"{server.url}/?site=atlantis&week=not-a-date")  # neither is known
    wait_for(browser, shown_site(browser, sites[0]))
    assert browser.find_element("id", "status").text.startswith("no site atlantis in the catalog")
    monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
    assert browser.find_element("id", "week").get_attribute("value") == monday.isoformat()
    assert_clean(browser, server)


def test_the_china_standard_time_clock_shifts_the_charts(page, server):
    from selenium.webdriver.support.ui import Select

    before = charts(page)
    Select(page.find_element("id", "clock")).select_by_value("8")
    wait_for(page, lambda d: status(d) == "ready" and "hour of day (UTC+8)" in d.execute_script(
        "return JSON.stringify(document.getElementById('heatmap').layout.xaxis.title)"))
    after = charts(page)
    assert "clock=8" in page.execute_script("return location.search")
    # the week starts at midnight UTC+8, 8 h earlier: the same PUE, 8 h later on the axis
    utc, cst = trace(before["chart-pue"], "PUE"), trace(after["chart-pue"], "PUE")
    assert cst["x"][0] == utc["x"][0] and cst["x"][0].endswith("T00:00:00")
    np.testing.assert_allclose(cst["y"][8:], utc["y"][:-8])
    # the heatmap's hour h of a day is UTC hour h - 8 (of the day before for h < 8)
    z_utc = np.array(before["heatmap"]["traces"][0]["z"], dtype=float)
    z_cst = np.array(after["heatmap"]["traces"][0]["z"], dtype=float)
    np.testing.assert_allclose(z_cst[1:, 8:], z_utc[1:, :16])
    np.testing.assert_allclose(z_cst[1:, :8], z_utc[:-1, 16:])
    assert_clean(page, server)


def form_body(driver) -> dict:
    """The search form's request, as the page sends it."""
    def value(id_):
        return driver.find_element("id", id_).get_attribute("value")

    body = {"it_power_w": float(value("search-it-mw")) * 1e6,
            "duration_h": int(value("search-duration")),
            "earliest_start": value("search-earliest") + ":00Z",
            "deadline": value("search-deadline") + ":00Z",
            "interruptible": driver.find_element("id", "search-interruptible").is_selected(),
            "objective": value("search-objective"), "limit": 10}
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


def test_search_shows_the_options(page, server):
    from selenium.webdriver.support.ui import Select

    Select(page.find_element("id", "search-objective")).select_by_value("carbon")
    assert search(page) == "ready"
    answer = httpx.post(f"{server.url}/v1/windows:search", json=form_body(page)).json()
    rows = page.execute_script("""
        return [...document.querySelectorAll('#search-results tbody tr')].map(
            (r) => ({cells: [...r.cells].map((c) => c.textContent),
                     runNow: r.classList.contains('run-now')}));""")
    assert len(rows) == len(answer["options"]) >= 1
    for row, option in zip(rows, answer["options"]):
        assert row["cells"][1].endswith(f"({option['site']})")
        assert row["cells"][2] == option["start"].replace("T", " ")[:16]
        assert row["runNow"] == option["run_now"] == (row["cells"][-1] == "run now")
    assert answer["data_mode"] in page.find_element("id", "search-summary").text
    assert not page.find_element("id", "search-error").is_displayed()
    assert_clean(page, server)
    # the page as a person sees it, everything drawn: kept as the test's artifact
    height = page.execute_script("window.scrollTo(0, 0); return window.outerHeight - "
                                 "window.innerHeight + document.documentElement.scrollHeight")
    page.set_window_size(1400, height)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert page.save_screenshot(str(SCREENSHOT)) and SCREENSHOT.stat().st_size > 50_000


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
