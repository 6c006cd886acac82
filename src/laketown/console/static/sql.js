// The SQL editor: run a query, show its rows in a grid and a chart of them.
import { apiCall } from "./api.js";
import { defaultAxes, drawChart, MAX_CHART_ROWS } from "./chart.js";
import { el, formatCount, kindOfType, renderGrid } from "./grid.js";

const STORAGE_KEY = "laketown.sql";
let last = null; // the last result: {columns, rows}
let running = false;

const $ = (id) => document.getElementById(id);

export function setQuery(text) {
  $("sql-input").value = text;
  localStorage.setItem(STORAGE_KEY, text);
}

export function currentQuery() {
  return $("sql-input").value;
}

function showError(message) {
  const box = $("sql-error");
  box.textContent = message;
  box.hidden = false;
  $("sql-result").hidden = true;
}

export async function runSql() {
  if (running) return;
  const input = $("sql-input");
  const selected = input.value.slice(input.selectionStart, input.selectionEnd);
  const sql = (selected.trim() ? selected : input.value).trim();
  localStorage.setItem(STORAGE_KEY, input.value);
  if (!sql) {
    showError("Type a query first, e.g. SELECT * FROM raw.my_table LIMIT 10");
    return;
  }
  running = true;
  const button = $("sql-run");
  button.disabled = true;
  $("sql-status").textContent = "Running…";
  $("sql-status").className = "status";
  try {
    const result = await apiCall("/api/sql", { json: { sql } });
    $("sql-error").hidden = true;
    let status = `${formatCount(result.row_count)} row${result.row_count === 1 ? "" : "s"} · ${result.elapsed_ms} ms`;
    if (result.truncated) status += ` · truncated at ${formatCount(result.max_rows)} rows`;
    $("sql-status").textContent = status;
    $("sql-status").className = result.truncated ? "status warn" : "status ok";
    showResult(result);
  } catch (err) {
    $("sql-status").textContent = "Failed";
    $("sql-status").className = "status bad";
    showError(err.message);
  } finally {
    running = false;
    button.disabled = false;
  }
}

function showResult(result) {
  last = { columns: result.columns, rows: result.rows };
  $("sql-result").hidden = false;
  renderGrid($("result-grid"), result.columns, result.rows, { emptyText: "The query returned no rows" });
  const axes = defaultAxes(result.columns);
  const xSel = $("chart-x");
  const ySel = $("chart-y");
  xSel.replaceChildren(el("option", { value: "-1" }, "(row number)"));
  ySel.replaceChildren();
  result.columns.forEach((c, i) => {
    xSel.append(el("option", { value: String(i) }, c.name));
    if (kindOfType(c.type) === "number") ySel.append(el("option", { value: String(i) }, c.name));
  });
  const controls = document.querySelector(".chart-controls");
  if (!axes) {
    controls.hidden = true;
    $("chart").replaceChildren(el("p", { className: "muted chart-none" }, "Nothing to chart: the result has no numeric column."));
    $("chart-note").textContent = "";
    return;
  }
  controls.hidden = false;
  xSel.value = String(axes.x);
  ySel.value = String(axes.y);
  $("chart-kind").value = axes.kind;
  redraw();
}

function redraw() {
  if (!last || document.querySelector(".chart-controls").hidden) return;
  const info = drawChart($("chart"), last.columns, last.rows, {
    x: Number($("chart-x").value),
    y: Number($("chart-y").value),
    kind: $("chart-kind").value,
  });
  const notes = [`${formatCount(info.count)} ${info.kind === "bar" ? "bars" : "points"}`];
  if (info.total > MAX_CHART_ROWS) notes.push(`first ${formatCount(MAX_CHART_ROWS)} of ${formatCount(info.total)} rows`);
  if (info.skipped) notes.push(`${formatCount(info.skipped)} rows without a numeric Y value left out`);
  $("chart-note").textContent = notes.join(" · ");
}

// Fill the editor with `text` unless the user already has a query there.
export function suggestQuery(text) {
  if (!$("sql-input").value.trim()) $("sql-input").value = text;
}

export function setupSql() {
  const input = $("sql-input");
  input.value = localStorage.getItem(STORAGE_KEY) || "";
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      runSql();
    } else if (event.key === "Tab" && !event.shiftKey) {
      event.preventDefault();
      input.setRangeText("  ", input.selectionStart, input.selectionEnd, "end");
    }
  });
  $("sql-run").addEventListener("click", runSql);
  for (const id of ["chart-kind", "chart-x", "chart-y"]) $(id).addEventListener("change", redraw);
  let timer = null;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(redraw, 150);
  });
}
