// The dashboard of `twin serve`: the catalog, one site's week, the year's PUE by day and hour,
// and a window search. Only the public HTTP API (fetch, same origin); charts with Plotly, which
// the service serves from its Python package. No build step, no framework.
"use strict";

const W_PER_MW = 1e6;
const HOUR_MS = 3600e3;
const DAY_MS = 24 * HOUR_MS;
const WEEK_H = 168;
const SEARCH_LIMIT = 10;
const WEEK_VARIABLES = ["pv_power_w", "wind_power_w", "facility_power_w", "battery_power_w",
  "grid_import_w", "it_available_power_w", "it_headroom_w", "pue"];
const PLOT_CONFIG = {displaylogo: false, responsive: true};
const COLOURS = {pv: "#f2a900", wind: "#3b8ec2", facility: "#222", battery: "#2ca02c",
  grid: "#c0392b", available: "#6a3d9a", headroom: "#b39ddb", pue: "#d35400"};

const state = {sites: [], site: null, weekTicket: 0, heatmapKey: null, notice: ""};
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
const shown = (t) => t.replace("T", " ").replace(/:00(Z|\+00:00)$/, "");
const fixed = (x, digits) => (x == null ? "–" : x.toFixed(digits));
const percent = (x) => fixed(x == null ? null : 100 * x, 1);
const inMW = (values) => values.map((v) => (v == null ? null : v / W_PER_MW));
const siteName = (id) => state.sites.find((s) => s.id === id)?.name ?? id;

function status(text, kind) {
  $("status").textContent = text;
  $("status").dataset.state = kind;
}

// a <datetime-local> value is read as UTC; a Date as that input's value
const fromInput = (id) => new Date(`${$(id).value}:00Z`);
const toInput = (date) => date.toISOString().slice(0, 16);

// the charts' clock: UTC or China Standard Time (every catalog site's, UTC+8 all year)
const offsetMs = () => Number($("clock").value) * HOUR_MS;
const clockName = () => (offsetMs() ? "UTC+8" : "UTC");
// an answer's UTC time as the chart's clock shows it (Plotly reads a time without zone as is)
const onClock = (t) => new Date(Date.parse(t) + offsetMs()).toISOString().slice(0, 19);

// midnight of the chosen day on the chart's clock
function weekStart() {
  return new Date(Date.parse(`${$("week").value}T00:00:00Z`) - offsetMs());
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
    for (const text of [s.id, s.name, s.province, fixed(s.it_capacity_w / W_PER_MW, 1),
      percent(s.annual.renewable_fraction), fixed(s.annual.pue, 3)]) {
      row.insertCell().textContent = text;
    }
    row.addEventListener("click", () => choose(s.id));
    return row;
  });
  $("sites").tBodies[0].replaceChildren(...rows);
  $("site-select").replaceChildren(...state.sites.map((s) => new Option(`${s.name} (${s.id})`,
    s.id)));
  const renewable = state.sites.map((s) => 100 * (s.annual.renewable_fraction ?? 0));
  plot("chart-map", [{
    type: "scatter", mode: "markers+text", x: state.sites.map((s) => s.longitude),
    y: state.sites.map((s) => s.latitude), text: state.sites.map((s) => s.id),
    customdata: state.sites.map((s) => s.id), textposition: state.sites.map(labelPosition),
    marker: {size: 12, color: renewable, colorscale: "Viridis",
      colorbar: {title: {text: "renewable [%]"}}},
    hovertemplate: "%{customdata}: %{marker.color:.1f} % renewable<extra></extra>",
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

// the view in the address (?site=turpan&week=2026-07-13): a link shows the same site and week
function remember() {
  const query = new URLSearchParams({site: state.site, week: $("week").value});
  if (offsetMs()) query.set("clock", $("clock").value);
  history.replaceState(null, "", `${location.pathname}?${query}`);
}

// ---- one site's week and its year ----------------------------------------------------------

async function refresh() {
  remember();
  status(`loading ${siteName(state.site)}…`, "loading");
  try {
    await Promise.all([loadWeek(), loadHeatmap()]);
    const showing = `${siteName(state.site)} (${state.site})`;
    status(`${state.notice}${state.sites.length} sites; showing ${showing}`, "ready");
  } catch (err) {
    status(`could not load ${state.site}: ${err.message}`, "error");
  }
}

async function loadWeek() {
  const ticket = ++state.weekTicket;
  const site = state.site;
  const start = weekStart();
  const query = new URLSearchParams({start: iso(start),
    end: iso(new Date(start.getTime() + WEEK_H * HOUR_MS)), variables: WEEK_VARIABLES.join(",")});
  const answer = await api(`/v1/sites/${encodeURIComponent(site)}/timeseries?${query}`);
  if (ticket !== state.weekTicket) return; // a later choice is on its way
  const x = answer.time.map(onClock);
  const v = answer.values;
  const title = (what) => ({text: `${what}: ${siteName(site)}, week from ${$("week").value}`});
  $("data-mode").textContent = `data: ${answer.data_mode}`;
  plot("chart-power", [
    {name: "PV", x, y: inMW(v.pv_power_w), stackgroup: "renewable", line: {color: COLOURS.pv}},
    {name: "wind", x, y: inMW(v.wind_power_w), stackgroup: "renewable",
      line: {color: COLOURS.wind}},
    {name: "facility demand", x, y: inMW(v.facility_power_w),
      line: {color: COLOURS.facility, width: 2}},
    {name: "battery (+ discharging)", x, y: inMW(v.battery_power_w),
      line: {color: COLOURS.battery}},
    {name: "grid import", x, y: inMW(v.grid_import_w), line: {color: COLOURS.grid}},
  ], {title: title("power"), yaxis: {title: {text: "MW"}}}, site);
  const capacity = state.sites.find((s) => s.id === site).it_capacity_w / W_PER_MW;
  plot("chart-it", [
    {name: "available IT power", x, y: inMW(v.it_available_power_w),
      line: {color: COLOURS.available}},
    {name: "IT headroom (after reservations)", x, y: inMW(v.it_headroom_w),
      line: {color: COLOURS.headroom, dash: "dot"}},
    {name: "IT capacity", x: [x[0], x[x.length - 1]], y: [capacity, capacity],
      mode: "lines", line: {color: "#999", dash: "dash"}},
  ], {title: title("IT power renewables and battery can carry"),
    yaxis: {title: {text: "MW"}, rangemode: "tozero"}}, site);
  plot("chart-pue", [{name: "PUE", x, y: v.pue, line: {color: COLOURS.pue}}],
    {title: title("PUE"), yaxis: {title: {text: "facility / IT"}}, showlegend: false}, site);
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
  plot("heatmap", [{type: "heatmap", x: [...Array(24).keys()], y, z, colorscale: "YlOrRd",
    colorbar: {title: {text: "PUE"}},
    hovertemplate: `%{y} %{x}:00 ${clockName()}: PUE %{z:.3f}<extra></extra>`}],
  {title: {text: `PUE by day and hour: ${siteName(site)}, ${year}`}, hovermode: "closest",
    xaxis: {title: {text: `hour of day (${clockName()})`}, dtick: 3},
    yaxis: {autorange: "reversed"}}, site);
}

// ---- the window search ---------------------------------------------------------------------

async function search(event) {
  event.preventDefault();
  const body = {it_power_w: Number($("search-it-mw").value) * W_PER_MW,
    duration_h: Number($("search-duration").value),
    earliest_start: iso(fromInput("search-earliest")), deadline: iso(fromInput("search-deadline")),
    interruptible: $("search-interruptible").checked, objective: $("search-objective").value,
    limit: SEARCH_LIMIT};
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
  $("search-summary").textContent = `${answer.options.length} options for ` +
    `${fixed(answer.it_power_w / W_PER_MW, 3)} MW, best ${answer.objective.replace("_", " ")} first ` +
    `(data: ${answer.data_mode})`;
  $("search-results").tBodies[0].replaceChildren(...answer.options.map((o, i) => {
    const row = document.createElement("tr");
    row.classList.toggle("run-now", o.run_now);
    // past the limit: the run-now option, appended for comparison, unranked
    for (const text of [i < SEARCH_LIMIT ? i + 1 : "–", `${siteName(o.site)} (${o.site})`,
      shown(o.start), shown(o.end), percent(o.renewable_fraction), fixed(o.grid_energy_wh / W_PER_MW, 2),
      fixed(o.emissions_kg_co2, 0),
      `${fixed(o.cost, 0)} ${o.currency}`, fixed(o.mean_pue, 3), o.run_now ? "run now" : ""]) {
      row.insertCell().textContent = text;
    }
    return row;
  }));
}

// ---- start ---------------------------------------------------------------------------------

async function start() {
  const asked = new URLSearchParams(location.search);
  const now = new Date();
  const monday = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(),
    now.getUTCDate() - ((now.getUTCDay() + 6) % 7));
  const week = asked.get("week");
  if (asked.get("clock") === "8") $("clock").value = "8";
  $("week").value = /^\d{4}-\d{2}-\d{2}$/.test(week ?? "") && !isNaN(Date.parse(week)) ? week
    : new Date(monday).toISOString().slice(0, 10);
  const nextHour = new Date(Math.ceil(now.getTime() / HOUR_MS) * HOUR_MS);
  $("search-earliest").value = toInput(nextHour);
  $("search-deadline").value = toInput(new Date(nextHour.getTime() + 48 * HOUR_MS));
  $("site-select").addEventListener("change", (e) => choose(e.target.value));
  $("week").addEventListener("change", () => {
    if ($("week").value) refresh();
  });
  $("clock").addEventListener("change", refresh);
  $("search-form").addEventListener("submit", search);
  try {
    state.sites = await api("/v1/sites");
  } catch (err) {
    status(`could not load the catalog: ${err.message}`, "error");
    return;
  }
  renderCatalog();
  const site = asked.get("site");
  const known = state.sites.some((s) => s.id === site);
  if (site && !known) state.notice = `no site ${site} in the catalog; `;
  choose(known ? site : state.sites[0].id);
}

start();
