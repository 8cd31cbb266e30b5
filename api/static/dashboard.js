// The dashboard of `twin serve`: the catalog, the fleet's free IT power, one site's next 48 h
// (or a week), the year's PUE by day and hour, and a window search whose options can be held. Only the public HTTP API (fetch, same origin); charts with Plotly, which
// the service serves from its Python package. No build step, no framework.
"use strict";

const W_PER_MW = 1e6;
const HOUR_MS = 3600e3;
const DAY_MS = 24 * HOUR_MS;
const WEEK_H = 168;
const SEARCH_LIMIT = 10;
// the search asks for this many ranked options and keeps the best of each site
const SEARCH_ASKED = 50;
const VIEW_VARIABLES = ["pv_power_w", "wind_power_w", "facility_power_w", "battery_power_w",
  "grid_import_w", "curtailment_w", "battery_soc", "it_available_power_w", "it_headroom_w",
  "carbon_intensity_g_per_kwh", "electricity_price_per_kwh", "pue"];
const FLEET_VARIABLES = ["it_available_power_w", "it_headroom_w"];
// where the page opens: a desert hub (Turpan, Xinjiang), the first site where it is absent
const DEFAULT_SITE = "turpan";
// the PUE the "East Data, West Computing" approvals set for the western hubs (NDRC 2022)
const WESTERN_HUB_PUE = 1.2;
// the PUE axis spans at least this much: a flat PUE looks flat
const PUE_MIN_SPAN = 0.3;
// ColorBrewer YlOrRd (9 classes, Brewer 2002): pale at low PUE, dark red at high. Plotly's
// named "YlOrRd" runs the other way (dark red at its low end).
const YLORRD = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c",
  "#bd0026", "#800026"].map((c, i, all) => [i / (all.length - 1), c]);
// ColorBrewer Greens (9 classes): pale where no IT power is free, dark green where much is
const GREENS = ["#f7fcf5", "#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#41ab5d", "#238b45",
  "#006d2c", "#00441b"].map((c, i, all) => [i / (all.length - 1), c]);
const PLOT_CONFIG = {displaylogo: false, responsive: true};
const COLOURS = {pv: "#f2a900", wind: "#3b8ec2", facility: "#222", battery: "#2ca02c",
  grid: "#c0392b", available: "#6a3d9a", headroom: "#b39ddb", pue: "#d35400",
  curtailed: "#8c8c8c", soc: "#1b7837", held: "#f4a582", mine: "#b2182b", carbon: "#555",
  price: "#2166ac", now: "#d6604d"};

const state = {sites: [], site: null, viewTicket: 0, heatmapKey: null, notice: "",
  context: {currency: "", sheltered_scale: Infinity, wind_speed_scale: {}}, options: []};
const $ = (id) => document.getElementById(id);

async function api(path, init) {
  const response = await fetch(path, init);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.detail || `${response.status} ${response.statusText}`);
  }
  return body;
}

const iso = (date) => date.toISOString().replace(".000Z", "Z");
const fixed = (x, digits) => (x == null ? "–" : x.toFixed(digits));
const percent = (x) => fixed(x == null ? null : 100 * x, 1);
const inMW = (values) => values.map((v) => (v == null ? null : v / W_PER_MW));
const siteName = (id) => state.sites.find((s) => s.id === id)?.name ?? id;

function status(text, kind) {
  $("status").textContent = text;
  $("status").dataset.state = kind;
}

// the charts' clock: UTC or China Standard Time (every catalog site's, UTC+8 all year)
const offsetMs = () => Number($("clock").value) * HOUR_MS;
const clockName = () => (offsetMs() ? "UTC+8" : "UTC");
// an answer's UTC time as the chart's clock shows it (Plotly reads a time without zone as is)
const onClock = (t) => new Date(Date.parse(t) + offsetMs()).toISOString().slice(0, 19);
// an answer's UTC time as a table shows it, on the clock: "2026-12-05 14:00"
const shown = (t) => onClock(t).slice(0, 16).replace("T", " ");

// a <datetime-local> value is read on the chart's clock; a Date as that input's value
const fromInput = (id) => new Date(Date.parse(`${$(id).value}:00Z`) - offsetMs());
const toInput = (date) => new Date(date.getTime() + offsetMs()).toISOString().slice(0, 16);

const thisHour = () => new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS);

// the hours shown: from this hour, 48 of them; or the week from midnight of the chosen day on
// the chart's clock
function view() {
  if ($("span").value === "48") {
    const start = thisHour();
    return {start, hours: 48, label: "next 48 h"};
  }
  const start = new Date(Date.parse(`${$("week").value}T00:00:00Z`) - offsetMs());
  return {start, hours: WEEK_H, label: `week from ${$("week").value}`};
}

// a vertical line at this moment on a time chart (when it falls on the chart)
function nowLine(x) {
  const now = onClock(new Date().toISOString());
  if (!x.length || now < x[0] || now > x[x.length - 1]) return {};
  return {shapes: [{type: "line", xref: "x", yref: "paper", x0: now, x1: now, y0: 0, y1: 1,
    line: {color: COLOURS.now, width: 2}}],
  annotations: [{x: now, xref: "x", y: 1, yref: "paper", text: "now", showarrow: false,
    yanchor: "bottom", font: {color: COLOURS.now}}]};
}

function plot(id, traces, layout, site) {
  const element = $(id);
  Plotly.react(element, traces, {margin: {t: 40, r: 20, b: 40, l: 70}, hovermode: "x unified",
    legend: {orientation: "h", y: -0.15}, ...layout}, PLOT_CONFIG);
  const points = traces.reduce((n, t) => n + (t.z ?? t.y).flat().filter((v) => v != null)
    .length, 0);
  Object.assign(element.dataset, {points, site});
}

// ---- the catalog ---------------------------------------------------------------------------

// a site's label below its point when a neighbour to the west would cover it from above
function labelPosition(site) {
  const crowded = state.sites.some((s) => s.longitude < site.longitude &&
    site.longitude - s.longitude < 4 && Math.abs(s.latitude - site.latitude) < 2);
  return crowded ? "bottom center" : "top center";
}

function renderCatalog() {
  const rows = state.sites.map((s) => {
    const row = document.createElement("tr");
    row.dataset.site = s.id;
    for (const text of [s.name, s.province, fixed(s.it_capacity_w / W_PER_MW, 2),
      percent(s.annual.renewable_fraction), fixed(s.annual.pue, 3)]) {
      row.insertCell().textContent = text;
    }
    row.addEventListener("click", () => choose(s.id));
    return row;
  });
  $("sites").tBodies[0].replaceChildren(...rows);
  $("site-select").replaceChildren(...state.sites.map((s) => new Option(s.name, s.id)));
  const renewable = state.sites.map((s) => 100 * (s.annual.renewable_fraction ?? 0));
  plot("chart-map", [{
    type: "scatter", mode: "markers+text", x: state.sites.map((s) => s.longitude),
    y: state.sites.map((s) => s.latitude), text: state.sites.map((s) => s.name),
    customdata: state.sites.map((s) => s.id), textposition: state.sites.map(labelPosition),
    marker: {size: 12, color: renewable, colorscale: "Viridis",
      colorbar: {title: {text: "renewable [%]"}}},
    hovertemplate: "%{text}: %{marker.color:.1f} % renewable<extra></extra>",
  }], {title: {text: "where they are (click one)", x: 0.02}, hovermode: "closest",
    xaxis: {title: {text: "longitude [°E]"}},
    yaxis: {title: {text: "latitude [°N]"}, scaleanchor: "x"}}, "");
  $("chart-map").on("plotly_click", (event) => choose(event.points[0].customdata));
}

function choose(siteId) {
  state.site = siteId;
  $("site-select").value = siteId;
  for (const row of $("sites").tBodies[0].rows) {
    row.classList.toggle("chosen", row.dataset.site === siteId);
  }
  refresh();
}

// what the data are, and where they are weak: said under the header
function showCaveats(mode) {
  const lines = [];
  if (mode.includes("typical_year")) {
    lines.push("typical year, not a forecast: each hour shows the site's climate year at that " +
      "date (weather of no particular year), not a prediction of this week's weather");
  }
  const scale = state.context.wind_speed_scale[state.site];
  if (scale > state.context.sheltered_scale) {
    lines.push(`${siteName(state.site)}'s station wind is scaled x${scale.toFixed(1)} to the ` +
      "wind farms' mean: a sheltered town station, so its hourly wind (calms, gusts) is not " +
      "the farms'; treat hourly wind power with care");
  }
  $("caveats").replaceChildren(...lines.map((text) => {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }));
}

// the view in the address (?site=turpan&week=2026-07-13&clock=8): a link shows the same view
function remember() {
  const query = new URLSearchParams({site: state.site});
  if ($("span").value === "week") query.set("week", $("week").value);
  if (offsetMs()) query.set("clock", $("clock").value);
  history.replaceState(null, "", `${location.pathname}?${query}`);
}

// ---- the fleet, one site's hours and its year ----------------------------------------------

async function refresh() {
  remember();
  for (const label of document.querySelectorAll(".clock-name")) label.textContent = clockName();
  status(`loading ${siteName(state.site)}…`, "loading");
  try {
    await Promise.all([loadView(), loadFleet(), loadHeatmap()]);
    status(`${state.notice}${state.sites.length} sites; showing ${siteName(state.site)}`,
      "ready");
  } catch (err) {
    status(`could not load ${state.site}: ${err.message}`, "error");
  }
}

const apiKey = () => $("api-key").value.trim();

// the viewer's own held reservations at a site, as MW per hour of the view (its API key: the
// service lists only that tenant's)
async function myHeld(site, start, hours) {
  if (!apiKey()) return null;
  const end = new Date(start.getTime() + hours * HOUR_MS);
  const query = new URLSearchParams({site, status: "held", start: iso(start), end: iso(end)});
  const mine = await api(`/v1/reservations?${query}`, {headers: {"X-API-Key": apiKey()}});
  const mw = Array(hours).fill(0);
  for (const r of mine) {
    for (let h = 0; h < hours; h++) {
      const t = start.getTime() + h * HOUR_MS;
      if (Date.parse(r.start) <= t && t < Date.parse(r.end)) mw[h] += r.it_power_w / W_PER_MW;
    }
  }
  return mw;
}

async function loadView() {
  const ticket = ++state.viewTicket;
  const site = state.site;
  const {start, hours, label} = view();
  const query = new URLSearchParams({start: iso(start),
    end: iso(new Date(start.getTime() + hours * HOUR_MS)), variables: VIEW_VARIABLES.join(",")});
  const [answer, mine] = await Promise.all([
    api(`/v1/sites/${encodeURIComponent(site)}/timeseries?${query}`),
    myHeld(site, start, hours)]);
  if (ticket !== state.viewTicket) return; // a later choice is on its way
  const x = answer.time.map(onClock);
  const v = answer.values;
  const title = (what) => ({text: `${what}: ${siteName(site)}, ${label} (${clockName()})`});
  const now = nowLine(x);
  $("view-title").textContent = `${siteName(site)}, ${label}`;
  $("data-mode").textContent = `data: ${answer.data_mode}`;
  showCaveats(answer.data_mode);
  plot("chart-power", [
    {name: "PV", x, y: inMW(v.pv_power_w), stackgroup: "renewable", line: {color: COLOURS.pv}},
    {name: "wind", x, y: inMW(v.wind_power_w), stackgroup: "renewable",
      line: {color: COLOURS.wind}},
    {name: "facility demand", x, y: inMW(v.facility_power_w),
      line: {color: COLOURS.facility, width: 2}},
    {name: "battery (+ discharging)", x, y: inMW(v.battery_power_w),
      line: {color: COLOURS.battery}},
    {name: "grid import", x, y: inMW(v.grid_import_w), line: {color: COLOURS.grid}},
    {name: "curtailed", x, y: inMW(v.curtailment_w),
      line: {color: COLOURS.curtailed, dash: "dot"}},
    {name: "battery charge [%]", x, y: v.battery_soc.map((f) => (f == null ? null : 100 * f)),
      yaxis: "y2", line: {color: COLOURS.soc, dash: "dash", width: 1}},
  ], {title: title("power"), yaxis: {title: {text: "MW"}},
    yaxis2: {title: {text: "battery charge [%]"}, overlaying: "y", side: "right",
      range: [0, 100], tickmode: "linear", dtick: 25, showgrid: false}, margin: {t: 40, r: 70, b: 40, l: 70}, ...now}, site);
  const capacity = state.sites.find((s) => s.id === site).it_capacity_w / W_PER_MW;
  const available = inMW(v.it_available_power_w);
  const headroom = inMW(v.it_headroom_w);
  const held = available.map((a, i) => (a == null || headroom[i] == null ? null
    : a - headroom[i]));
  const it = [
    {name: "held (all tenants)", type: "bar", x, y: held, marker: {color: COLOURS.held},
      opacity: 0.8},
    {name: "available IT power", x, y: available, line: {color: COLOURS.available}},
    {name: "IT headroom (after reservations)", x, y: headroom,
      line: {color: COLOURS.headroom, dash: "dot"}},
    {name: "IT capacity", x: [x[0], x[x.length - 1]], y: [capacity, capacity],
      mode: "lines", line: {color: "#999", dash: "dash"}},
  ];
  if (mine) {
    it.splice(1, 0, {name: "held by you", type: "bar", x, y: mine,
      marker: {color: COLOURS.mine}});
  }
  plot("chart-it", it, {title: title("IT power renewables and battery can carry, and held"),
    barmode: "overlay", bargap: 0.1, yaxis: {title: {text: "MW"}, rangemode: "tozero"}, ...now},
  site);
  plot("chart-grid", [
    {name: "grid carbon intensity", x, y: v.carbon_intensity_g_per_kwh,
      line: {color: COLOURS.carbon}},
    {name: "electricity price", x, y: v.electricity_price_per_kwh, yaxis: "y2",
      line: {color: COLOURS.price, shape: "hv"}},
  ], {title: title("the grid"), yaxis: {title: {text: "g CO2 / kWh"}, rangemode: "tozero"},
    yaxis2: {title: {text: `price [${state.context.currency} / kWh]`}, overlaying: "y",
      side: "right", rangemode: "tozero", showgrid: false},
    margin: {t: 40, r: 70, b: 40, l: 70}, ...now}, site);
  const pue = v.pue.filter((p) => p != null);
  const top = Math.max(1 + PUE_MIN_SPAN, ...pue.map((p) => p + 0.02));
  plot("chart-pue", [{name: "PUE", x, y: v.pue, line: {color: COLOURS.pue}},
    {name: `western hubs' target ${WESTERN_HUB_PUE}`, x: [x[0], x[x.length - 1]],
      y: [WESTERN_HUB_PUE, WESTERN_HUB_PUE], mode: "lines", line: {color: "#999", dash: "dash"}}],
  {title: title("PUE"), yaxis: {title: {text: "facility / IT"}, range: [1, top]}, ...now},
  site);
}

// every site's available IT power and headroom over the view's hours: where capacity is free
async function loadFleet() {
  const {start, hours, label} = view();
  const query = new URLSearchParams({start: iso(start),
    end: iso(new Date(start.getTime() + hours * HOUR_MS)), variables: FLEET_VARIABLES.join(",")});
  const answers = await Promise.all(state.sites.map((s) =>
    api(`/v1/sites/${encodeURIComponent(s.id)}/timeseries?${query}`)));
  const x = answers[0].time.map(onClock);
  const z = answers.map((a) => inMW(a.values.it_headroom_w));
  const customdata = answers.map((a) => inMW(a.values.it_available_power_w));
  plot("chart-fleet", [{type: "heatmap", x, y: state.sites.map((s) => s.name), z, customdata,
    colorscale: GREENS, zmin: 0, colorbar: {title: {text: "headroom [MW]"}},
    hovertemplate: `%{y} %{x} ${clockName()}: headroom %{z:.2f} MW of %{customdata:.2f} MW ` +
      "available<extra></extra>"}],
  {title: {text: `IT headroom after reservations, every site, ${label} (${clockName()}); ` +
    "hover for the available IT power"}, hovermode: "closest",
  yaxis: {autorange: "reversed"}, ...nowLine(x)}, "fleet");
}

async function loadHeatmap() {
  const site = state.site;
  const year = Number($("week").value.slice(0, 4));
  const offset = offsetMs();
  const key = `${site} ${year} ${offset}`;
  if (key === state.heatmapKey) return;
  state.heatmapKey = key;
  // month by month on the chart's clock: each request within the service's horizon (744 h),
  // all in parallel
  const months = await Promise.all([...Array(12).keys()].map((m) => {
    const query = new URLSearchParams({start: iso(new Date(Date.UTC(year, m, 1) - offset)),
      end: iso(new Date(Date.UTC(year, m + 1, 1) - offset)), variables: "pue"});
    return api(`/v1/sites/${encodeURIComponent(site)}/timeseries?${query}`);
  }));
  if (key !== state.heatmapKey) return;
  const first = Date.UTC(year, 0, 1);
  const days = Math.round((Date.UTC(year + 1, 0, 1) - first) / DAY_MS);
  const z = Array.from({length: days}, () => Array(24).fill(null));
  for (const month of months) {
    month.time.forEach((t, i) => {
      const ms = Date.parse(t) + offset;
      z[Math.floor((ms - first) / DAY_MS)][new Date(ms).getUTCHours()] = month.values.pue[i];
    });
  }
  const y = z.map((_, d) => new Date(first + d * DAY_MS).toISOString().slice(0, 10));
  const modes = [...new Set(months.map((m) => m.data_mode))].join(", ");
  $("heatmap-mode").textContent = `data: ${modes}`;
  plot("heatmap", [{type: "heatmap", x: [...Array(24).keys()], y, z, colorscale: YLORRD,
    colorbar: {title: {text: "PUE"}},
    hovertemplate: `%{y} %{x}:00 ${clockName()}: PUE %{z:.3f}<extra></extra>`}],
  {title: {text: `PUE by day and hour: ${siteName(site)}, ${year}`}, hovermode: "closest",
    xaxis: {title: {text: `hour of day (${clockName()})`}, dtick: 3},
    yaxis: {autorange: "reversed"}}, site);
}

// ---- the window search ---------------------------------------------------------------------

// the best option of each site, in the API's ranking, at most SEARCH_LIMIT of them, ranked; the
// run-now option (flagged by the API) last and unranked when it is not among them
function diverse(options) {
  const seen = new Set();
  const kept = [];
  for (const o of options) {
    if (!seen.has(o.site) && kept.length < SEARCH_LIMIT) {
      seen.add(o.site);
      kept.push({...o, rank: kept.length + 1});
    }
  }
  const runNow = options.find((o) => o.run_now);
  if (runNow && !kept.some((o) => o.run_now)) kept.push({...runNow, rank: null});
  return kept;
}

async function search(event) {
  event.preventDefault();
  const body = {it_power_w: Number($("search-it-mw").value) * W_PER_MW,
    duration_h: Number($("search-duration").value),
    earliest_start: iso(fromInput("search-earliest")), deadline: iso(fromInput("search-deadline")),
    interruptible: $("search-interruptible").checked, objective: $("search-objective").value,
    limit: SEARCH_ASKED};
  if ($("search-sites").value === "chosen") body.sites = [state.site];
  const table = $("search-results");
  table.dataset.state = "loading";
  $("search-error").hidden = true;
  try {
    const answer = await api("/v1/windows:search", {method: "POST",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    showOptions(answer);
    table.dataset.state = "ready";
  } catch (err) {
    $("search-error").textContent = err.message;
    $("search-error").hidden = false;
    $("search-summary").textContent = "";
    table.tBodies[0].replaceChildren();
    table.dataset.state = "error";
  }
}

function showOptions(answer) {
  const options = diverse(answer.options);
  state.options = options;
  const sites = options.filter((o) => o.rank).length;
  $("search-summary").textContent = `the best window of each of ${sites} site(s) for ` +
    `${fixed(answer.it_power_w / W_PER_MW, 3)} MW, best ${answer.objective.replace("_", " ")} ` +
    `first, times ${clockName()} (data: ${answer.data_mode})`;
  $("search-results").tBodies[0].replaceChildren(...options.map((o) => {
    const row = document.createElement("tr");
    row.classList.toggle("run-now", o.run_now);
    row.dataset.site = o.site;
    for (const text of [o.rank ?? "–", siteName(o.site), shown(o.start), shown(o.end),
      percent(o.renewable_fraction), fixed(o.grid_energy_wh / W_PER_MW, 2),
      fixed(o.emissions_kg_co2, 0), `${fixed(o.cost, 0)} ${o.currency}`, fixed(o.mean_pue, 3),
      o.run_now ? "run now" : ""]) {
      row.insertCell().textContent = text;
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "hold";
    button.textContent = "hold";
    button.title = "reserve this window's IT power with your API key";
    button.addEventListener("click", () => hold(o));
    row.insertCell().append(button);
    return row;
  }));
}

// reserve an option's IT power (its blocks, all or none) as the viewer's tenant
async function hold(option) {
  const result = $("hold-result");
  if (!apiKey()) {
    result.textContent = "enter your API key (above) to hold a window";
    result.dataset.state = "error";
    return;
  }
  result.dataset.state = "loading";
  try {
    const held = await api("/v1/reservations:batch", {method: "POST",
      headers: {"Content-Type": "application/json", "X-API-Key": apiKey()},
      body: JSON.stringify({reservations: option.holds.map((b) => ({site: b.site,
        start: b.start, end: b.end, it_power_w: b.it_power_w}))})});
    result.textContent = `held at ${siteName(option.site)}: ` + held.map((r) =>
      `${shown(r.start)} to ${shown(r.end)} ${clockName()}, ${fixed(r.it_power_w / W_PER_MW, 3)}` +
      ` MW (${r.id})`).join("; ");
    result.dataset.state = "held";
    result.dataset.ids = held.map((r) => r.id).join(",");
    if (option.site !== state.site) choose(option.site);
    else refresh();
  } catch (err) {
    result.textContent = `could not hold: ${err.message}`;
    result.dataset.state = "error";
  }
}

// keep the search's times when the clock changes: the inputs show the same instants
function reclock(previousOffsetMs) {
  for (const id of ["search-earliest", "search-deadline"]) {
    const utc = Date.parse(`${$(id).value}:00Z`) - previousOffsetMs;
    $(id).value = toInput(new Date(utc));
  }
}

// ---- start ---------------------------------------------------------------------------------

async function start() {
  const asked = new URLSearchParams(location.search);
  const now = new Date();
  const monday = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(),
    now.getUTCDate() - ((now.getUTCDay() + 6) % 7));
  const week = asked.get("week");
  if (asked.get("clock") === "8") $("clock").value = "8";
  const goodWeek = /^\d{4}-\d{2}-\d{2}$/.test(week ?? "") && !isNaN(Date.parse(week));
  $("week").value = goodWeek ? week : new Date(monday).toISOString().slice(0, 10);
  if (goodWeek) $("span").value = "week";
  const nextHour = new Date(Math.ceil(now.getTime() / HOUR_MS) * HOUR_MS);
  $("search-earliest").value = toInput(nextHour);
  $("search-deadline").value = toInput(new Date(nextHour.getTime() + 48 * HOUR_MS));
  $("site-select").addEventListener("change", (e) => choose(e.target.value));
  $("week").addEventListener("change", () => {
    if ($("week").value) {
      $("span").value = "week";
      refresh();
    }
  });
  $("span").addEventListener("change", refresh);
  let offset = offsetMs();
  $("clock").addEventListener("change", () => {
    reclock(offset);
    offset = offsetMs();
    refresh();
  });
  $("api-key").addEventListener("change", refresh);
  $("search-form").addEventListener("submit", search);
  try {
    [state.sites, state.context] = await Promise.all([api("/v1/sites"),
      api("/dashboard/context.json")]);
  } catch (err) {
    status(`could not load the catalog: ${err.message}`, "error");
    return;
  }
  renderCatalog();
  const site = asked.get("site");
  const known = state.sites.some((s) => s.id === site);
  if (site && !known) state.notice = `no site ${site} in the catalog; `;
  const opening = state.sites.some((s) => s.id === DEFAULT_SITE) ? DEFAULT_SITE
    : state.sites[0].id;
  choose(known ? site : opening);
}

start();
