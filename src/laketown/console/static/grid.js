// Tables of values (query results, schema, snapshots) and the formatting of numbers.

const NUMERIC = /^(u?int\d*|float|double|halffloat|decimal)/;
const TEMPORAL = /^(timestamp|date|time)/;

export function kindOfType(type) {
  const t = String(type || "").toLowerCase();
  if (NUMERIC.test(t)) return "number";
  if (TEMPORAL.test(t)) return "time";
  if (t.includes("string") || t.includes("utf8")) return "text";
  return "other";
}

export function formatCount(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

export function formatBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Number(n);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function cellText(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

// columns: [{name, type}], rows: [[...]]. Values are set as text, never as markup.
export function renderGrid(container, columns, rows, { emptyText = "No rows" } = {}) {
  container.replaceChildren();
  if (!columns.length) {
    container.append(el("p", { className: "muted" }, "No columns"));
    return;
  }
  const table = el("table", { className: "grid" });
  const head = el("tr");
  const numeric = columns.map((c) => kindOfType(c.type) === "number");
  columns.forEach((col, i) => {
    const th = el("th", { title: col.type || "", ...(numeric[i] ? { className: "num" } : {}) });
    th.append(el("span", { className: "col-name" }, col.name));
    if (col.type) th.append(el("span", { className: "col-type" }, col.type));
    head.append(th);
  });
  const thead = el("thead");
  thead.append(head);
  table.append(thead);
  const body = el("tbody");
  for (const row of rows) {
    const tr = el("tr");
    row.forEach((value, i) => {
      const text = cellText(value);
      const td = el("td", numeric[i] ? { className: "num" } : {});
      if (text === null) td.append(el("span", { className: "null" }, "null"));
      else td.textContent = text;
      tr.append(td);
    });
    body.append(tr);
  }
  table.append(body);
  container.append(table);
  if (!rows.length) container.append(el("p", { className: "muted empty" }, emptyText));
}
