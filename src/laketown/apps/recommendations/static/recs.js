// Recommendations page: a user's recommendations and history, and similar items of an item.
import { apiCall } from "/static/console/api.js";
import { renderGrid } from "/static/console/grid.js";

const $ = (id) => document.getElementById(id);

function showError(err) {
  $("recs-error").textContent = err ? err.message : "";
  $("recs-error").hidden = !err;
}

function sqlString(value) {
  return "'" + String(value).replaceAll("'", "''") + "'";
}

async function titles(ids) {
  if (!ids.length) return {};
  const list = ids.map(sqlString).join(",");
  try {
    const res = await apiCall("/api/sql", { json: { sql: `SELECT * FROM raw.recs_items WHERE CAST(item_id AS VARCHAR) IN (${list})`, max_rows: 200 } });
    const names = res.columns.map((c) => c.name);
    const id = names.indexOf("item_id");
    const title = ["title", "name", "description"].map((n) => names.indexOf(n)).find((i) => i >= 0);
    const out = {};
    for (const row of res.rows) out[String(row[id])] = title === undefined ? "" : row[title];
    return out;
  } catch {
    return {};
  }
}

async function similar(itemId) {
  try {
    const res = await apiCall(`/api/recs/items/${encodeURIComponent(itemId)}/similar?n=10`);
    const names = await titles(res.similar.map((s) => s.item_id));
    $("recs-similar-title").textContent = `Items similar to ${itemId}`;
    renderGrid($("recs-similar"), [{ name: "item_id", type: "string" }, { name: "title", type: "string" }, { name: "score", type: "double" }],
      res.similar.map((s) => [s.item_id, names[String(s.item_id)] || "", s.score]));
  } catch (err) {
    showError(err);
  }
}

async function recommend(event) {
  if (event) event.preventDefault();
  showError(null);
  const user = $("recs-user").value.trim();
  const params = new URLSearchParams({ n: $("recs-n").value });
  if ($("recs-filter").value.trim()) params.set("filter", $("recs-filter").value.trim());
  try {
    const res = await apiCall(`/api/recs/users/${encodeURIComponent(user)}?${params}`);
    $("recs-campaign").textContent = `solution ${res.solution_version} · recipe ${res.recipe}`;
    $("recs-note").textContent = res.message || `source: ${res.source}`;
    const names = await titles(res.recommendations.map((r) => r.item_id));
    renderGrid($("recs-grid"), [{ name: "item_id", type: "string" }, { name: "title", type: "string" },
      { name: "score", type: "double" }, { name: "source", type: "string" }],
      res.recommendations.map((r) => [r.item_id, names[String(r.item_id)] || "", r.score, r.source]));
    for (const cell of $("recs-grid").querySelectorAll("tbody tr")) {
      cell.style.cursor = "pointer";
      cell.addEventListener("click", () => similar(cell.firstChild.textContent));
    }
    const hist = await apiCall("/api/sql", { json: { sql: `SELECT * FROM raw.recs_interactions WHERE CAST(user_id AS VARCHAR) = ${sqlString(user)} ORDER BY "timestamp" DESC LIMIT 20`, max_rows: 20 } });
    renderGrid($("recs-history"), hist.columns, hist.rows, { emptyText: "No history for this user" });
  } catch (err) {
    showError(err);
  }
}

async function campaigns() {
  try {
    const camps = await apiCall("/api/recs/campaigns");
    const rows = Object.entries(camps).map(([name, c]) => [name, c.version, c.recipe,
      (c.metrics && c.metrics["ndcg@10"]) ?? "", (c.baseline && c.baseline["ndcg@10"]) ?? ""]);
    renderGrid($("recs-campaigns"), [{ name: "campaign", type: "string" }, { name: "solution", type: "string" },
      { name: "recipe", type: "string" }, { name: "ndcg@10", type: "double" }, { name: "popularity ndcg@10", type: "double" }], rows);
    const exps = await apiCall("/api/recs/experiments");
    const expRows = [];
    for (const e of exps) {
      const ci = (pair) => (pair || []).map((v) => Number(v).toFixed(3)).join(" – ");
      for (const [variant, r] of Object.entries(e.results || {})) {
        expRows.push([e.experiment, variant, r.exposures, r.clicks, Number(r.ctr).toFixed(4), ci(r.ctr_ci95),
          Number(r.conversion).toFixed(4), ci(r.conversion_ci95)]);
      }
    }
    renderGrid($("recs-experiments"), ["experiment", "variant", "exposures", "clicks", "ctr", "ctr 95 % CI",
      "conversion", "conversion 95 % CI"].map((name) => ({ name, type: "string" })), expRows,
      { emptyText: "No A/B test yet: POST /api/recs/experiments" });
  } catch (err) {
    showError(err);
  }
}

$("recs-form").addEventListener("submit", recommend);
recommend();
campaigns();
