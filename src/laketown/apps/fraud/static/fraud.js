// Fraud page: live outcomes and amounts from curated.fraud_scored_transactions, the review
// queue from curated.fraud_cases, and the model's test metrics and precision-recall curve.
import { apiCall } from "/static/console/api.js";
import { drawChart } from "/static/console/chart.js";
import { renderGrid, el } from "/static/console/grid.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 3000;

async function sql(query, maxRows = 500) {
  return apiCall("/api/sql", { json: { sql: query, max_rows: maxRows } });
}

function cardNode(label, value) {
  const card = el("div", { className: "card" });
  card.append(el("div", { className: "card-label" }, label), el("div", { className: "card-value" }, String(value)));
  return card;
}

async function refreshLive() {
  const totals = await sql(
    "SELECT count(*) AS scored, count(*) FILTER (WHERE outcome = 'block') AS blocked, " +
    "count(*) FILTER (WHERE outcome = 'review') AS review, round(avg(fraud_probability), 4) AS mean_probability " +
    "FROM curated.fraud_scored_transactions");
  const [scored, blocked, review, meanP] = totals.rows[0];
  $("fraud-cards").replaceChildren(cardNode("scored", scored), cardNode("blocked", blocked),
    cardNode("to review", review), cardNode("fraud rate (blocked)", scored ? (100 * blocked / scored).toFixed(2) + " %" : "-"),
    cardNode("mean probability", meanP ?? "-"));
  const perMinute = await sql(
    "SELECT strftime(date_trunc('minute', scored_at), '%H:%M') AS minute, count(*) AS scored, " +
    "count(*) FILTER (WHERE outcome <> 'approve') AS flagged, round(sum(amount), 2) AS amount " +
    "FROM curated.fraud_scored_transactions WHERE scored_at > now() - INTERVAL 60 MINUTE GROUP BY 1 ORDER BY 1");
  if (perMinute.rows.length) {
    drawChart($("fraud-outcomes"), perMinute.columns, perMinute.rows, { x: 0, y: 2, kind: "bar" });
    drawChart($("fraud-amounts"), perMinute.columns, perMinute.rows, { x: 0, y: 3, kind: "line" });
  }
}

async function refreshCases() {
  try {
    const cases = await sql("SELECT * FROM curated.fraud_cases ORDER BY fraud_probability DESC LIMIT 50", 50);
    renderGrid($("fraud-cases"), cases.columns, cases.rows, { emptyText: "No open case" });
  } catch (err) {
    renderGrid($("fraud-cases"), [{ name: "cases", type: "string" }], [], { emptyText: "No case yet" });
  }
}

async function refreshModel() {
  const m = await apiCall("/api/fraud-console/model");
  $("fraud-model-title").textContent = m.error ? `Model: ${m.error}` :
    `Model versions ${JSON.stringify(m.model_versions)} · rule set ${m.rule_set}`;
  if (m.precision_recall && m.precision_recall.length) {
    drawChart($("fraud-pr"), [{ name: "recall", type: "double" }, { name: "precision", type: "double" }],
      m.precision_recall, { x: 0, y: 1, kind: "line" });
  }
  const metrics = Object.entries(m.metrics || {}).map(([k, v]) => [k, v]);
  renderGrid($("fraud-metrics"), [{ name: "test metric", type: "string" }, { name: "value", type: "double" }], metrics,
    { emptyText: "No training yet: run `laketown fraud train` or `laketown demo`" });
}

async function refresh() {
  try {
    await refreshLive();
    await refreshCases();
    $("fraud-error").hidden = true;
    $("fraud-status").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $("fraud-error").textContent = err.message;
    $("fraud-error").hidden = false;
  }
}

refreshModel().catch((err) => { $("fraud-model-title").textContent = err.message; });
refresh();
setInterval(refresh, REFRESH_MS);
