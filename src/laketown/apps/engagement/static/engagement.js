// Engagement page: campaigns with their KPIs, journeys with users per step, KPIs per hour from
// raw.engagement_events, the churn model's metrics, and a segment builder producing rule JSON.
import { apiCall } from "/static/console/api.js";
import { drawChart } from "/static/console/chart.js";
import { renderGrid, el } from "/static/console/grid.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 4000;
const RATE_COLS = ["sent", "delivered", "bounced", "opened", "clicked", "converted", "unsubscribed",
  "delivery_rate", "open_rate", "click_through_rate", "conversion_rate", "unsubscribe_rate"];

function cardNode(label, value) {
  const card = el("div", { className: "card" });
  card.append(el("div", { className: "card-label" }, label), el("div", { className: "card-value" }, String(value)));
  return card;
}

function cols(names) {
  return names.map((n) => ({ name: n, type: /rate|^(sent|delivered|bounced|opened|clicked|converted|unsubscribed|reached|waiting)$/.test(n) ? "double" : "string" }));
}

async function refreshCampaigns() {
  const [campaigns, kpis] = await Promise.all([apiCall("/api/engagement/campaigns"), apiCall("/api/engagement/kpis?by=campaign")]);
  const byId = Object.fromEntries(kpis.map((k) => [k.campaign_id, k]));
  const names = ["campaign_id", "status", "runs", ...RATE_COLS];
  const rows = campaigns.map((c) => names.map((n) => (n in c ? c[n] : (byId[c.campaign_id] || {})[n] ?? null)));
  renderGrid($("eng-campaigns"), cols(names), rows, { emptyText: "No campaign yet: `laketown engagement campaign create`" });
  return campaigns.length;
}

async function refreshJourneys() {
  const journeys = await apiCall("/api/engagement/journeys");
  const names = ["journey_id", "step_id", "type", "reached", "waiting", "sent", "bounced"];
  const rows = [];
  for (const j of journeys) for (const s of j.steps) rows.push([j.journey_id, s.step_id, s.type, s.reached, s.waiting, s.sent, s.bounced]);
  renderGrid($("eng-journeys"), cols(names), rows, { emptyText: "No journey yet" });
  return journeys.length;
}

async function refreshTime() {
  const rows = await apiCall("/api/engagement/kpis?by=hour");
  const sum = (k) => rows.reduce((a, r) => a + (r[k] || 0), 0);
  const names = ["hour", ...RATE_COLS];
  const data = rows.map((r) => names.map((n) => (n === "hour" ? String(r.hour).slice(0, 16) : r[n])));
  renderGrid($("eng-kpi-time"), cols(names), data, { emptyText: "No engagement event in the lake yet" });
  if (data.length) drawChart($("eng-kpi-chart"), cols(names), data, { x: 0, y: 1, kind: "bar" });
  return { delivered: sum("delivered"), opened: sum("opened"), clicked: sum("clicked") };
}

async function refreshChurn() {
  const m = await apiCall("/api/engagement/churn");
  const flat = [];
  const walk = (prefix, obj) => {
    for (const [k, v] of Object.entries(obj || {})) {
      if (v && typeof v === "object" && !Array.isArray(v)) walk(prefix + k + ".", v);
      else if (typeof v !== "object") flat.push([prefix + k, v]);
    }
  };
  walk("", m);
  for (const f of m.top_features || []) flat.push([`top feature: ${f.feature} (AUC drop)`, f.auc_drop]);
  const bins = (m.calibration || {}).bins || [];
  if (bins.length) {
    drawChart($("eng-churn-calibration"), [{ name: "mean predicted", type: "double" }, { name: "observed churn rate", type: "double" }],
      bins.map((b) => [b.mean_predicted, b.observed_rate]), { x: 0, y: 1, kind: "line" });
  }
  $("eng-churn-title").textContent = flat.length ? "Churn model" : "Churn model: not trained yet (`laketown demo`)";
  renderGrid($("eng-churn"), [{ name: "metric", type: "string" }, { name: "value", type: "string" }], flat.map(([k, v]) => [k, String(v)]),
    { emptyText: "No churn training yet" });
}

// -- segment builder ------------------------------------------------------------------------
const OPS = ["eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "exists", "count_gte", "count_lt"];

function conditionRow() {
  const row = el("div", { className: "gov-form seg-cond" });
  const kind = el("select", { name: "kind" });
  for (const k of ["attr", "event", "model"]) kind.append(el("option", { value: k }, k));
  const field = el("input", { name: "field", placeholder: "attribute, event type or model (churn)" });
  const op = el("select", { name: "op" });
  for (const o of OPS) op.append(el("option", { value: o }, o));
  const value = el("input", { name: "value", placeholder: "value (JSON or text)" });
  const days = el("input", { name: "within_days", type: "number", placeholder: "days" });
  const remove = el("button", { type: "button", className: "secondary" }, "remove");
  remove.addEventListener("click", () => { row.remove(); showRule(); });
  row.append(kind, field, op, value, days, remove);
  row.addEventListener("input", showRule);
  return row;
}

function parseValue(text) {
  try { return JSON.parse(text); } catch { return text; }
}

export function buildRule() {
  const conditions = [];
  for (const row of document.querySelectorAll("#seg-conditions .seg-cond")) {
    const get = (n) => row.querySelector(`[name=${n}]`).value;
    const kind = get("kind"), c = { [kind]: get("field"), op: get("op") };
    if (c.op !== "exists") c.value = parseValue(get("value"));
    if (kind === "event" && get("within_days")) c.within_days = Number(get("within_days"));
    conditions.push(c);
  }
  return { [$("seg-combine").value]: conditions };
}

function showRule() {
  $("seg-json").textContent = JSON.stringify(buildRule());
}

function setupBuilder() {
  $("seg-add").addEventListener("click", () => { $("seg-conditions").append(conditionRow()); showRule(); });
  $("seg-combine").addEventListener("change", showRule);
  $("seg-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const out = await apiCall("/api/engagement/segments/preview", { json: buildRule() });
      $("seg-result").textContent = `${out.size} endpoints match` + (out.sample.length ? ` (e.g. ${out.sample.slice(0, 5).join(", ")})` : "");
    } catch (err) { $("seg-result").textContent = err.message; }
  });
  $("seg-save").addEventListener("click", async () => {
    try {
      await apiCall("/api/engagement/segments", { json: { name: $("seg-name").value, rule: buildRule() } });
      $("seg-result").textContent = `saved segment ${$("seg-name").value}`;
    } catch (err) { $("seg-result").textContent = err.message; }
  });
  $("seg-conditions").append(conditionRow());
  showRule();
}

async function refresh() {
  try {
    const [nCampaigns, nJourneys] = await Promise.all([refreshCampaigns(), refreshJourneys()]);
    const endpoints = await apiCall("/api/engagement/endpoints?limit=1");
    const t = await refreshTime();
    $("eng-cards").replaceChildren(cardNode("endpoints", endpoints.count), cardNode("campaigns", nCampaigns),
      cardNode("journeys", nJourneys), cardNode("messages delivered", t.delivered),
      cardNode("open rate", t.delivered ? (100 * t.opened / t.delivered).toFixed(1) + " %" : "-"),
      cardNode("click-through", t.delivered ? (100 * t.clicked / t.delivered).toFixed(1) + " %" : "-"));
    $("eng-error").hidden = true;
    $("eng-status").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $("eng-error").textContent = err.message;
    $("eng-error").hidden = false;
  }
}

setupBuilder();
refreshChurn().catch((err) => { $("eng-churn-title").textContent = err.message; });
refresh();
setInterval(refresh, REFRESH_MS);
