// IoT page: fleet health and RUL, a live chart of one device (polled), open alerts, asset tree.
import { apiCall } from "/static/console/api.js";
import { drawChart } from "/static/console/chart.js";
import { renderGrid } from "/static/console/grid.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;
let device = null;

function showError(err) {
  $("iot-error").textContent = err ? err.message : "";
  $("iot-error").hidden = !err;
}

const fmt = (v, d = 1) => (v === null || v === undefined ? "" : Number(v).toFixed(d));

async function refreshFleet() {
  const res = await apiCall("/api/iot/fleet");
  $("iot-updated").textContent = res.updated_ms ? `updated ${new Date(res.updated_ms).toLocaleTimeString()}` : "no data yet: run `laketown demo` or `laketown iot simulate`";
  const cols = [{ name: "device_id", type: "string" }, { name: "health", type: "string" }, { name: "rul", type: "double" },
    { name: "temp", type: "double" }, { name: "anomalies", type: "bigint" }, { name: "last_reading", type: "string" }];
  renderGrid($("iot-fleet"), cols, res.devices.map((d) => [d.device_id, d.health, d.rul, d.temp, d.anomalies,
    new Date(d.last_ts).toISOString()]), { emptyText: "No devices yet" });
  for (const row of $("iot-fleet").querySelectorAll("tbody tr")) {
    row.style.cursor = "pointer";
    row.addEventListener("click", () => { device = row.firstChild.textContent; refreshChart(); });
  }
  if (!device && res.devices.length) device = res.devices[0].device_id;
}

async function refreshChart() {
  if (!device) return;
  const sensor = $("iot-sensor").value;
  const res = await apiCall(`/api/iot/devices/${encodeURIComponent(device)}/readings?limit=300`);
  $("iot-chart-title").textContent = `Live readings of ${device}: ${sensor}`;
  const columns = [{ name: "time", type: "timestamp" }, { name: sensor, type: "double" }];
  const rows = res.readings.map((r) => [new Date(r.ts).toISOString(), r[sensor]]);
  drawChart($("iot-chart"), columns, rows, { x: 0, y: 1, kind: "line" });
}

async function refreshAlerts() {
  const res = await apiCall("/api/iot/alerts");
  const cols = ["severity", "device_id", "kind", "message", "count", "opened"].map((name) => ({ name, type: "string" }));
  renderGrid($("iot-alerts"), cols, res.alerts.map((a) => [a.severity, a.device_id, a.kind, a.message, a.count,
    new Date(a.opened_ms).toISOString()]), { emptyText: "No open alerts" });
}

async function refreshAssets() {
  const res = await apiCall("/api/iot/assets");
  const rows = [];
  const walk = (node, depth) => {
    const m = node.metrics || {};
    rows.push(["\u00a0\u00a0".repeat(depth * 2) + node.name, node.kind, m.n, fmt(m.temp_mean, 2), fmt(m.temp_max, 2), fmt(m.vibration_mean, 3)]);
    for (const child of node.children || []) walk(child, depth + 1);
  };
  for (const site of res.assets) walk(site, 0);
  const cols = ["asset", "kind", "readings", "temp_mean", "temp_max", "vibration_mean"].map((name) => ({ name, type: "string" }));
  renderGrid($("iot-assets"), cols, rows, { emptyText: "No assets yet" });
}

async function tick() {
  try {
    await refreshFleet();
    await refreshChart();
    await refreshAlerts();
    showError(null);
  } catch (err) {
    showError(err);
  }
}

$("iot-sensor").addEventListener("change", () => refreshChart().catch(showError));
tick().then(() => refreshAssets().catch(showError));
setInterval(tick, POLL_MS);
setInterval(() => refreshAssets().catch(showError), 15000);
