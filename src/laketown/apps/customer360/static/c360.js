// Customer 360 page: search, unified profile with sources and next best actions, journey,
// graph neighbourhood (SVG), segments and personas.
import { apiCall } from "/static/console/api.js";
import { drawChart } from "/static/console/chart.js";
import { el, renderGrid } from "/static/console/grid.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const text = (names) => names.map((name) => ({ name, type: "string" }));

function showError(err) {
  $("c360-error").textContent = err ? err.message : "";
  $("c360-error").hidden = !err;
}

async function search(q) {
  const res = await apiCall(`/api/c360/search?q=${encodeURIComponent(q)}`);
  const cols = ["customer_id", "given_name", "surname", "email", "phone", "city"];
  renderGrid($("c360-results"), text(cols), res.customers.map((c) => cols.map((k) => c[k])), { emptyText: "No customer matches" });
  $("c360-results").querySelectorAll("tbody tr").forEach((row) => {
    row.style.cursor = "pointer";
    row.addEventListener("click", () => showCustomer(row.firstChild.textContent).catch(showError));
  });
}

function card(label, value) {
  const c = el("div", { className: "card" });
  c.append(el("div", { className: "card-label" }, label), el("div", { className: "card-value" }, value ?? "—"));
  return c;
}

async function showCustomer(id) {
  const p = await apiCall(`/api/c360/customers/${encodeURIComponent(id)}`);
  const g = p.golden;
  $("c360-profile-title").textContent = `${g.given_name ?? ""} ${g.surname ?? ""} (${id})`;
  $("c360-persona").textContent = p.persona ? `${p.persona} · churn ${Number(p.churn_propensity).toFixed(2)}` : "";
  const f = p.features || {};
  $("c360-profile").replaceChildren(
    card("email", g.email), card("phone", g.phone), card("address", [g.street, g.city, g.postcode].filter(Boolean).join(", ")),
    card("date of birth", g.dob), card("orders", f.frequency), card("spend", f.monetary !== undefined ? Number(f.monetary).toFixed(2) : null),
    card("CLV 12 months", f.clv_12m !== undefined ? Number(f.clv_12m).toFixed(2) : null), card("tickets", f.tickets),
  );
  const sc = ["record_id", "given_name", "surname", "email", "phone", "street", "postcode", "dob"];
  renderGrid($("c360-sources"), text(sc), p.sources.map((s) => sc.map((k) => s[k])));
  renderGrid($("c360-journey"), text(["at", "kind", "what", "detail"]), p.timeline.map((e) => [e.at, e.kind, e.what, e.detail]),
    { emptyText: "No orders, tickets or events" });
  ["c360-profile-panel", "c360-journey-panel", "c360-graph-panel"].forEach((x) => { $(x).hidden = false; });
  const nba = await apiCall(`/api/c360/customers/${encodeURIComponent(id)}/next-best-action`);
  renderGrid($("c360-nba"), text(["action", "channel", "score", "why", "items"]),
    nba.actions.map((a) => [a.action, a.channel, a.score, a.why, (a.items || []).map((i) => i.name || i.item_id).join(", ")]),
    { emptyText: "No action suggested" });
  const nb = await apiCall(`/api/c360/customers/${encodeURIComponent(id)}/graph`);
  drawNeighbourhood($("c360-graph"), `${g.given_name ?? ""} ${g.surname ?? ""}`, nb.nodes);
}

const COLOURS = { identity: "#6b8afd", household: "#f0a030", member: "#e0607e", product: "#3db37a", ticket: "#b070d0" };

function drawNeighbourhood(container, label, nodes) {
  container.replaceChildren();
  const w = 900, h = 520, cx = w / 2, cy = h / 2, r = 200;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("width", "100%");
  svg.setAttribute("role", "img");
  const add = (tag, attrs, content) => {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (content !== undefined) n.textContent = content;
    svg.append(n);
    return n;
  };
  nodes.forEach((node, i) => {
    const a = (2 * Math.PI * i) / Math.max(nodes.length, 1);
    const x = cx + r * Math.cos(a), y = cy + r * Math.sin(a);
    add("line", { x1: cx, y1: cy, x2: x, y2: y, stroke: "#999", "stroke-width": 1 });
    add("circle", { cx: x, cy: y, r: 9, fill: COLOURS[node.kind] || "#888", class: `node node-${node.kind}` });
    add("text", { x: x + (Math.cos(a) >= 0 ? 12 : -12), y: y + 4, "font-size": 10, "text-anchor": Math.cos(a) >= 0 ? "start" : "end" },
      `${node.kind}: ${String(node.label).slice(0, 32)}`);
  });
  add("circle", { cx, cy, r: 16, fill: "#333", class: "node node-customer" });
  add("text", { x: cx, y: cy - 22, "font-size": 13, "text-anchor": "middle", "font-weight": 600 }, label);
  container.append(svg);
}

async function showSegments() {
  const res = await apiCall("/api/c360/segments");
  const cols = ["segment", "persona", "size", "share", "mean_recency_days", "mean_frequency", "mean_monetary", "mean_clv_12m"];
  const rows = res.personas.map((p) => cols.map((k) => p[k]));
  renderGrid($("c360-segments"), cols.map((name, i) => ({ name, type: i < 2 ? "string" : "double" })), rows,
    { emptyText: "No segments yet: run `laketown demo` or `laketown c360 run`" });
  if (rows.length) {
    drawChart($("c360-segments-chart"), [{ name: "persona", type: "string" }, { name: "size", type: "bigint" }],
      res.personas.map((p) => [p.persona, p.size]), { x: 0, y: 1, kind: "bar" });
  }
  $("c360-status").textContent = `${res.customers} customers in ${res.personas.length} segments`;
}

async function showSources() {
  const res = await apiCall("/api/c360/sources");
  renderGrid($("c360-ingest"), [{ name: "table", type: "string" }, { name: "rows", type: "bigint" }],
    Object.entries(res.tables).map(([t, n]) => [t, n]));
  renderGrid($("c360-quarantine"), [{ name: "source", type: "string" }, { name: "reason", type: "string" }, { name: "rows", type: "bigint" }],
    res.quarantine.map((q) => [q.source, q.reason, q.rows]), { emptyText: "Nothing quarantined" });
  const w = res.watermarks;
  $("c360-sources-note").textContent = `${res.landed_files} CRM files landed · orders cursor ${w.orders ? w.orders[0] : "—"} · tickets cursor ${w.tickets ? w.tickets[0] : "—"}`;
}

$("c360-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = $("c360-q").value.trim();
  if (q) search(q).then(() => showError(null)).catch(showError);
});
showSegments().catch(showError);
showSources().catch(showError);
