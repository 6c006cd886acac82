// The Governance page: catalog search, a table's page (docs, PII, stats, quality, lineage,
// schema history), policy administration and the audit viewer. Every value is set as text.
import { apiCall } from "./api.js";
import { drawChart } from "./chart.js";
import { el, formatCount, renderGrid } from "./grid.js";

const root = document.body.dataset.root || "";
const $ = (id) => document.getElementById(id);
const VIEWS = ["catalog", "table", "policies", "audit"];
const S = (name) => ({ name, type: "string" });

function showError(err) {
  const box = $("gov-error");
  if (!err) {
    box.hidden = true;
    return;
  }
  box.textContent = err.message;
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

// "2026-11-27T10:11:28.485762+00:00" -> "2026-11-27 10:11:28" (UTC, as stored); "" for none.
function when(iso) {
  return iso ? String(iso).slice(0, 19).replace("T", " ") : "";
}

function setStatus(text, kind = "") {
  const status = $("gov-status");
  status.textContent = text;
  status.className = `status ${kind}`;
}

function show(view) {
  for (const name of VIEWS) $(`view-${name}`).hidden = name !== view;
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === view);
}

// A grid whose last column holds buttons: actions(row index) -> [[label, handler], ...].
function gridWithActions(container, columns, rows, actions, options) {
  renderGrid(container, [...columns, S("")], rows.map((r) => [...r, ""]), options);
  container.querySelectorAll("tbody tr").forEach((tr, i) => {
    const cell = tr.lastElementChild;
    cell.classList.add("actions");
    for (const [label, handler] of actions(i)) {
      const button = el("button", { type: "button", className: "link-button" }, label);
      button.addEventListener("click", () => run(handler));
      cell.append(button);
    }
  });
}

// Runs an action, shows its error (the server's message) instead of failing silently.
async function run(action, doneText) {
  try {
    showError(null);
    await action();
    if (doneText) setStatus(doneText, "ok");
  } catch (err) {
    showError(err);
    setStatus("", "");
  }
}

function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

// -- catalog search ---------------------------------------------------------------------
async function search(q) {
  $("search-input").value = q;
  const hits = await apiCall(`/api/gov/search?q=${encodeURIComponent(q)}`);
  const list = $("search-results");
  list.replaceChildren();
  $("search-count").textContent = `${hits.length} match${hits.length === 1 ? "" : "es"}`;
  for (const hit of hits) {
    const item = el("li", { className: "gov-hit" });
    const link = el("a", { href: `#table=${hit.table}`, className: "gov-hit-link", "data-table": hit.table });
    link.append(el("span", { className: "kind-chip" }, hit.kind),
      el("span", { className: "mono" }, hit.column ? `${hit.table}.${hit.column}` : hit.table));
    item.append(link, el("span", { className: "muted small gov-match" }, hit.match));
    list.append(item);
  }
  if (!hits.length) list.append(el("li", { className: "muted" }, `Nothing you may read matches “${q}”.`));
}

// -- a table's page -----------------------------------------------------------------------
function chip(text, className = "chip") {
  return el("span", { className }, text);
}

function tagText(tags) {
  return Object.entries(tags || {}).map(([k, v]) => `${k}=${v}`).join(", ");
}

function renderColumns(info, name) {
  const columns = [S("column"), S("type"), S("doc"), S("tags"), S("PII"), S("review"),
    { name: "nulls", type: "int64" }, { name: "distinct", type: "int64" }, S("min"), S("max")];
  const rows = info.columns.map((c) => {
    const s = c.stats || {};
    const pii = c.pii ? `${c.pii.pii} (${Math.round(c.pii.confidence * 100)}%, ${c.pii.source})` : "";
    return [c.name, c.type + (c.mask ? ` · masked: ${c.mask}` : ""), c.doc, tagText(c.tags), pii,
      c.pii ? c.pii.state : "", s.null_count ?? null, s.distinct_count ?? null, s.min ?? null, s.max ?? null];
  });
  const container = $("gt-columns");
  if (!info.can_administer) {
    renderGrid(container, columns, rows, { emptyText: "No columns you may read" });
    return;
  }
  gridWithActions(container, columns, rows, (i) => {
    const c = info.columns[i];
    if (!c.pii || c.pii.state !== "proposed") return [];
    const review = (accept) => async () => {
      await apiCall("/api/gov/pii/review", { json: { table: name, column: c.name, accept } });
      await openTable(name);
      setStatus(`${c.name}: PII ${accept ? "accepted" : "rejected"}`, "ok");
    };
    return [["Accept", review(true)], ["Reject", review(false)]];
  });
  container.querySelectorAll("tbody tr").forEach((tr, i) => {
    const state = info.columns[i].pii && info.columns[i].pii.state;
    if (state) tr.children[5].classList.add(`pii-${state}`);
  });
}

function renderQuality(scores) {
  const box = $("gt-quality");
  const runs = [...scores].reverse(); // oldest first
  if (!runs.length) {
    box.replaceChildren(el("p", { className: "muted chart-none" }, "No quality checks have run on this table."));
    $("gt-quality-note").textContent = "";
    return;
  }
  drawChart(box, [{ name: "checked at", type: "timestamp" }, { name: "score", type: "double" }],
    runs.map((r) => [r.ts, r.score]), { x: 0, y: 1, kind: "line" });
  const last = scores[0];
  $("gt-quality-note").textContent =
    `last: ${last.score} (${formatCount(last.good)} of ${formatCount(last.rows)} rows good)`;
}

function lineageList(id, names) {
  const list = $(id);
  list.replaceChildren();
  for (const n of names) {
    const item = el("li");
    item.append(n.startsWith("job:") ? el("span", { className: "mono" }, n) : el("a", { href: `#table=${n}`, className: "mono" }, n));
    list.append(item);
  }
  if (!names.length) list.append(el("li", { className: "muted" }, "none"));
}

// Columns of nodes by distance: upstream to the left, the table in the middle, downstream right.
function lineageGraph(container, name, lineage) {
  container.replaceChildren();
  if (!lineage.edges.length) return;
  const NS = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const level = new Map([[name, 0]]);
  const walk = (dir) => {
    let frontier = [name];
    for (let d = 1; frontier.length && d < 10; d += 1) {
      const next = [];
      for (const e of lineage.edges) {
        const [from, to] = dir < 0 ? [e.to, e.from] : [e.from, e.to];
        if (frontier.includes(from) && !level.has(to)) {
          level.set(to, dir * d);
          next.push(to);
        }
      }
      frontier = next;
    }
  };
  walk(-1);
  walk(1);
  const levels = [...new Set(level.values())].sort((a, b) => a - b);
  const W = 190;
  const H = 34;
  const pos = new Map();
  let height = 0;
  levels.forEach((lv, col) => {
    const nodes = [...level].filter(([, l]) => l === lv).map(([n]) => n).sort();
    nodes.forEach((n, row) => pos.set(n, { x: 10 + col * (W + 50), y: 10 + row * (H + 14) }));
    height = Math.max(height, nodes.length * (H + 14));
  });
  const width = 20 + levels.length * (W + 50) - 50;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height + 10}`, width, height: height + 10, class: "lineage-svg", role: "img",
    "aria-label": `lineage of ${name}` });
  for (const e of lineage.edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    const line = svg("path", { d: `M${a.x + W},${a.y + H / 2} C${a.x + W + 25},${a.y + H / 2} ${b.x - 25},${b.y + H / 2} ${b.x},${b.y + H / 2}`, class: "edge" });
    line.append(svg("title", {}, `job ${e.job}`));
    root.append(line);
  }
  for (const [n, p] of pos) {
    const g = svg("g", { class: n === name ? "node current" : "node" });
    g.append(svg("rect", { x: p.x, y: p.y, width: W, height: H, rx: 6 }));
    const label = n.length > 26 ? `${n.slice(0, 25)}…` : n;
    g.append(svg("text", { x: p.x + 10, y: p.y + H / 2 + 4 }, label), svg("title", {}, n));
    root.append(g);
  }
  container.append(root);
}

function renderHistory(history) {
  renderGrid($("gt-history"), [S("schema"), S("snapshot"), S("time"), S("added"), S("dropped"), S("renamed"), S("retyped"), S("columns")],
    history.map((h) => [h.schema_id, h.snapshot_id, when(h.timestamp), h.added.join(", "), h.dropped.join(", "),
      h.renamed.join(", "), h.retyped.join(", "), h.columns.join(", ")]));
}

async function openTable(name) {
  const [zone, table] = name.split(".");
  const info = await apiCall(`/api/gov/tables/${encodeURIComponent(zone)}/${encodeURIComponent(table)}`);
  document.querySelector('.tab[data-view="table"]').disabled = false;
  show("table"); // before drawing: the chart takes the width of its visible panel
  $("gt-title").textContent = name;
  $("gt-description").textContent = info.description || "No description yet.";
  $("gt-description").classList.toggle("muted", !info.description);
  $("gt-query").href = `${root}/#table=${name}`;
  $("gt-classify").hidden = !info.can_administer;
  const describe = $("describe-form");
  $("describe-box").hidden = !info.can_administer;
  describe.dataset.table = name;
  describe.elements.description.value = info.description || "";
  describe.elements.owner.value = info.owner || "";
  $("gt-classify").dataset.table = name;
  const cards = $("gt-cards");
  cards.replaceChildren();
  const last = info.quality[0];
  for (const [label, value] of [["Owner", info.owner || "—"], ["Rows", formatCount(info.rows)],
    ["Columns", String(info.columns.length)], ["Snapshots", formatCount(info.snapshots)],
    ["Quality", last ? String(last.score) : "—"]]) {
    const card = el("div", { className: "card" });
    card.append(el("div", { className: "card-label" }, label), el("div", { className: "card-value" }, value));
    cards.append(card);
  }
  const tags = $("gt-tags");
  tags.replaceChildren();
  for (const [k, v] of Object.entries(info.tags || {})) tags.append(chip(`${k}=${v}`));
  renderColumns(info, name);
  renderQuality(info.quality);
  lineageList("gt-upstream", info.lineage.upstream);
  lineageList("gt-downstream", info.lineage.downstream);
  lineageGraph($("gt-lineage-graph"), name, info.lineage);
  renderHistory(info.schema_history);
}

// -- policy administration ----------------------------------------------------------------
async function loadPolicies() {
  const [principals, keys, grants, filters, masks] = await Promise.all([
    apiCall("/api/gov/principals"), apiCall("/api/gov/keys"), apiCall("/api/gov/grants"),
    apiCall("/api/gov/row-filters"), apiCall("/api/gov/masks")]);
  renderGrid($("principals-grid"), [S("name"), S("kind"), S("admin"), S("roles"), S("disabled"), S("created")],
    principals.map((p) => [p.name, p.kind, p.is_admin ? "yes" : "", p.roles.join(", "), p.disabled ? "yes" : "", when(p.created_at)]));
  gridWithActions($("keys-grid"), [S("key id"), S("principal"), S("name"), S("created (UTC)"), S("expires"), S("revoked")],
    keys.map((k) => [k.key_id, k.principal, k.name, when(k.created_at), when(k.expires_at) || "never", when(k.revoked_at)]),
    (i) => (keys[i].revoked_at ? [] : [["Revoke", async () => {
      await apiCall(`/api/gov/keys/${encodeURIComponent(keys[i].key_id)}`, { method: "DELETE" });
      await loadPolicies();
      setStatus(`key ${keys[i].key_id} revoked`, "ok");
    }]]), { emptyText: "No API keys" });
  gridWithActions($("grants-grid"), [S("subject"), S("resource"), S("privilege"), S("grantor")],
    grants.map((g) => [g.subject, g.resource, g.privilege, g.grantor]),
    (i) => [["Revoke", async () => {
      const g = grants[i];
      await apiCall("/api/gov/grants/revoke", { json: { subject: g.subject, resource: g.resource, privileges: [g.privilege] } });
      await loadPolicies();
      setStatus(`revoked ${g.privilege} on ${g.resource} from ${g.subject}`, "ok");
    }]], { emptyText: "No grants: only admins read anything" });
  gridWithActions($("filters-grid"), [S("table"), S("subject"), S("predicate")],
    filters.map((f) => [f.table_name, f.subject, f.predicate]),
    (i) => [["Remove", async () => {
      await apiCall("/api/gov/row-filters", { method: "PUT", json: { table: filters[i].table_name, subject: filters[i].subject, predicate: null } });
      await loadPolicies();
    }]], { emptyText: "No row filters" });
  gridWithActions($("masks-grid"), [S("target"), S("subject"), S("kind")],
    masks.map((m) => [m.target, m.subject, m.kind]),
    (i) => [["Remove", async () => {
      await apiCall("/api/gov/masks", { method: "PUT", json: { target: masks[i].target, subject: masks[i].subject, kind: null } });
      await loadPolicies();
    }]], { emptyText: "No masks" });
}

function onSubmit(id, handler) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    run(() => handler(formValues(event.target), event.target));
  });
}

function setupPolicyForms() {
  onSubmit("principal-form", async (v, form) => {
    const roles = (v.roles || "").split(",").map((r) => r.trim()).filter(Boolean);
    await apiCall("/api/gov/principals", { json: { name: v.name.trim(), kind: v.kind, admin: Boolean(v.admin), roles } });
    form.reset();
    await loadPolicies();
    setStatus(`principal ${v.name} created`, "ok");
  });
  onSubmit("key-form", async (v) => {
    const body = { principal: v.principal.trim(), name: v.name, expires_days: v.expires_days ? Number(v.expires_days) : null };
    const created = await apiCall("/api/gov/keys", { json: body });
    $("new-key-value").textContent = created.key;
    $("new-key").hidden = false;
    await loadPolicies();
    setStatus(`key ${created.key_id} created for ${created.principal}`, "ok");
  });
  onSubmit("grant-form", async (v) => {
    await apiCall("/api/gov/grants", { json: { subject: v.subject.trim(), resource: v.resource.trim(), privileges: [v.privileges] } });
    await loadPolicies();
    setStatus(`granted ${v.privileges} on ${v.resource} to ${v.subject}`, "ok");
  });
  onSubmit("filter-form", async (v, form) => {
    await apiCall("/api/gov/row-filters", { method: "PUT", json: { table: v.table.trim(), subject: v.subject.trim(), predicate: v.predicate } });
    form.reset();
    await loadPolicies();
  });
  onSubmit("mask-form", async (v) => {
    await apiCall("/api/gov/masks", { method: "PUT", json: { target: v.target.trim(), subject: v.subject.trim() || "*", kind: v.kind.trim() } });
    await loadPolicies();
  });
  onSubmit("tag-form", async (v) => {
    const out = await apiCall("/api/gov/tags", { json: { resource: v.resource.trim(), tags: { [v.key.trim()]: v.value.trim() || null } } });
    $("tag-result").textContent = `${out.resource}: ${tagText(out.tags) || "no tags"}`;
  });
}

// -- audit viewer ---------------------------------------------------------------------------
async function loadAudit() {
  const v = formValues($("audit-form"));
  const params = new URLSearchParams(Object.entries(v).filter(([, value]) => value !== ""));
  const result = await apiCall(`/api/gov/audit?${params}`);
  const at = (name) => result.columns.findIndex((c) => c.name === name);
  const [ts, tables, outcome, statement] = [at("ts"), at("tables"), at("outcome"), at("statement")];
  const rows = result.rows.map((r) => r.map((v, i) => (i === ts ? when(v) : i === tables ? (v || []).join(", ") : v)));
  const columns = result.columns.map((c, i) => (i === ts ? { name: "time (UTC)", type: c.type } : c));
  renderGrid($("audit-grid"), columns, rows, { emptyText: "No events match" });
  $("audit-count").textContent = `${rows.length} event${rows.length === 1 ? "" : "s"}`;
  $("audit-grid").querySelectorAll("tbody tr").forEach((tr, i) => {
    tr.classList.add(`outcome-${rows[i][outcome]}`);
    tr.children[statement].title = rows[i][statement]; // the whole statement on hover
  });
}

// -- routing: #search=..., #table=zone.table, #policies, #audit ------------------------------
async function route() {
  const hash = decodeURIComponent(location.hash.slice(1));
  showError(null);
  try {
    if (hash.startsWith("table=")) await openTable(hash.slice(6));
    else if (hash === "policies") {
      show("policies");
      await loadPolicies();
    } else if (hash === "audit") {
      show("audit");
      await loadAudit();
    } else {
      show("catalog");
      if (hash.startsWith("search=")) await search(hash.slice(7));
    }
  } catch (err) {
    showError(err);
  }
}

document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => {
  const view = tab.dataset.view;
  if (view === "table") location.hash = `table=${$("gt-title").textContent}`;
  else if (view === "catalog") location.hash = $("search-input").value ? `search=${$("search-input").value}` : "";
  else location.hash = view;
}));
$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = $("search-input").value.trim();
  if (location.hash === `#search=${encodeURIComponent(q)}`) route();
  else location.hash = `search=${encodeURIComponent(q)}`;
});
$("audit-form").addEventListener("submit", (event) => {
  event.preventDefault();
  run(loadAudit);
});
$("gt-classify").addEventListener("click", () => run(async () => {
  const name = $("gt-classify").dataset.table;
  const [zone, table] = name.split(".");
  const found = await apiCall(`/api/gov/tables/${zone}/${table}/classify`, { method: "POST" });
  await openTable(name);
  setStatus(`${found.length} PII proposal${found.length === 1 ? "" : "s"} on ${name}`, "ok");
}));
onSubmit("describe-form", async (v, form) => {
  const name = form.dataset.table;
  const [zone, table] = name.split(".");
  const body = { description: v.description, ...(v.owner.trim() ? { owner: v.owner.trim() } : {}) };
  await apiCall(`/api/gov/tables/${zone}/${table}/describe`, { json: body });
  await openTable(name);
  setStatus(`${name}: description saved`, "ok");
});
setupPolicyForms();
window.addEventListener("hashchange", route);
route();
