// The catalog browser: zones -> tables in the sidebar, and the detail of one table.
import { apiCall } from "./api.js";
import { el, formatBytes, formatCount, renderGrid } from "./grid.js";

let currentTable = null;

export function tableFromHash() {
  const match = /^#table=([a-z_]+\.[a-z0-9_]+)$/.exec(location.hash);
  return match ? match[1] : null;
}

export async function loadCatalog() {
  const tree = document.getElementById("catalog-tree");
  let zones;
  let tables;
  try {
    [zones, tables] = await Promise.all([apiCall("/api/zones"), apiCall("/api/tables")]);
  } catch (err) {
    tree.replaceChildren(el("p", { className: "error-text" }, err.message));
    return [];
  }
  tree.replaceChildren();
  for (const zone of zones) {
    const inZone = tables.filter((t) => t.zone === zone);
    const details = el("details", { className: "zone", "data-zone": zone });
    details.open = true;
    const summary = el("summary");
    summary.append(el("span", { className: "zone-name" }, zone), el("span", { className: "badge" }, String(inZone.length)));
    details.append(summary);
    const list = el("ul", { className: "table-list" });
    for (const t of inZone) {
      const link = el("a", { href: `#table=${t.name}`, className: "table-link", "data-table": t.name, title: t.name });
      link.append(el("span", { className: "table-name" }, t.table), el("span", { className: "rows" }, formatCount(t.rows)));
      const item = el("li");
      item.append(link);
      list.append(item);
    }
    if (!inZone.length) list.append(el("li", { className: "muted small empty-zone" }, "no tables"));
    details.append(list);
    tree.append(details);
  }
  markSelected();
  return tables;
}

function markSelected() {
  for (const link of document.querySelectorAll(".table-link")) {
    link.classList.toggle("selected", link.dataset.table === currentTable);
  }
}

function statCard(label, value) {
  const card = el("div", { className: "card" });
  card.append(el("div", { className: "card-label" }, label), el("div", { className: "card-value" }, value));
  return card;
}

export async function showTable(name) {
  currentTable = name;
  markSelected();
  const [zone, table] = name.split(".");
  document.getElementById("table-title").textContent = name;
  const errorBox = document.getElementById("table-error");
  const parts = ["table-stats", "table-schema", "table-sample", "table-snapshots"].map((id) => document.getElementById(id));
  parts.forEach((p) => p.replaceChildren());
  errorBox.hidden = true;
  let detail;
  try {
    detail = await apiCall(`/api/tables/${encodeURIComponent(zone)}/${encodeURIComponent(table)}`);
  } catch (err) {
    errorBox.textContent = err.message;
    errorBox.hidden = false;
    return;
  }
  if (currentTable !== name) return; // another table was opened meanwhile
  const [stats, schema, sample, snapshots] = parts;
  const s = detail.stats;
  stats.append(
    statCard("Rows", formatCount(s.rows)),
    statCard("Data files", formatCount(s.files)),
    statCard("Size", formatBytes(s.bytes)),
    statCard("Snapshots", formatCount(s.snapshots)),
    statCard("Partitioning", s.partitioning.length ? s.partitioning.join(", ") : "none"),
  );
  renderGrid(
    schema,
    [{ name: "column" }, { name: "type" }, { name: "nullable" }],
    detail.schema.map((f) => [f.name, f.type, f.nullable ? "yes" : "no"]),
  );
  if (detail.sample.error) {
    sample.append(el("p", { className: "error-text" }, detail.sample.error));
  } else {
    renderGrid(sample, detail.sample.columns, detail.sample.rows, { emptyText: "The table is empty" });
  }
  const summaryText = (sum) =>
    ["added-records", "deleted-records", "total-records"]
      .filter((k) => sum[k] !== undefined)
      .map((k) => `${k}: ${sum[k]}`)
      .join(", ");
  renderGrid(
    snapshots,
    [{ name: "snapshot id" }, { name: "time (UTC)" }, { name: "operation" }, { name: "summary" }],
    detail.snapshots
      .slice()
      .reverse()
      .map((snap) => [snap.snapshot_id, snap.time.replace("T", " ").replace("+00:00", ""), snap.operation, summaryText(snap.summary)]),
    { emptyText: "No snapshot yet: nothing was written" },
  );
}
