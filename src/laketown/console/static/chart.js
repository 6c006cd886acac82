// A small SVG chart of a query result: bars (one per row) or a line (one point per row).
import { kindOfType } from "./grid.js";

const SVG = "http://www.w3.org/2000/svg";
export const MAX_CHART_ROWS = 1000;
const HEIGHT = 320;
const MARGIN = { top: 14, right: 20, bottom: 58, left: 68 };
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 2 });

// The automatic choice: X = first text/time column (else the row number, -1),
// Y = first numeric column; a line over time, bars otherwise. null when nothing is numeric.
export function defaultAxes(columns) {
  const kinds = columns.map((c) => kindOfType(c.type));
  const x = kinds.findIndex((k) => k === "text" || k === "time");
  const y = kinds.findIndex((k, i) => k === "number" && i !== x);
  if (y < 0) return null;
  return { x, y, kind: x >= 0 && kinds[x] === "time" ? "line" : "bar" };
}

function toNumber(value) {
  if (value === null || value === undefined || value === "") return NaN;
  return typeof value === "number" ? value : Number(value);
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceTicks(lo, hi, count = 5) {
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const start = Math.floor(lo / step) * step;
  const end = Math.ceil(hi / step) * step;
  const ticks = [];
  for (let v = start; v <= end + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function shortLabel(text, max = 14) {
  const s = String(text);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function timeLabel(ms, spanMs) {
  const iso = new Date(ms).toISOString();
  if (spanMs > 3 * 86400e3) return iso.slice(0, 10);
  if (spanMs > 3600e3) return iso.slice(5, 16).replace("T", " ");
  return iso.slice(11, 19);
}

// Draws into `container`; returns {count, kind, skipped, total} (count = bars or points drawn).
export function drawChart(container, columns, rows, { x, y, kind }) {
  container.replaceChildren();
  const total = rows.length;
  const xKind = x >= 0 ? kindOfType(columns[x].type) : "number";
  let items = rows.slice(0, MAX_CHART_ROWS).map((row, i) => ({
    label: x >= 0 ? row[x] : i + 1,
    value: toNumber(row[y]),
  }));
  const before = items.length;
  items = items.filter((d) => Number.isFinite(d.value));
  const skipped = before - items.length;

  const width = Math.max(container.clientWidth || 0, 360);
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${HEIGHT}`,
    width,
    height: HEIGHT,
    role: "img",
    "aria-label": `${kind} chart of ${columns[y].name} by ${x >= 0 ? columns[x].name : "row number"}`,
    "data-kind": kind,
    "data-count": items.length,
    class: `chart-svg chart-${kind}`,
  });
  container.append(root);
  if (!items.length) {
    root.append(svg("text", { x: width / 2, y: HEIGHT / 2, class: "chart-empty", "text-anchor": "middle" }, "no values to chart"));
    return { count: 0, kind, skipped, total };
  }

  // Y scale
  const values = items.map((d) => d.value);
  const yTicks = niceTicks(Math.min(0, ...values), Math.max(0, ...values));
  const y0 = yTicks[0];
  const y1 = yTicks[yTicks.length - 1];
  const yPos = (v) => MARGIN.top + plotH - ((v - y0) / (y1 - y0)) * plotH;
  const axes = svg("g", { class: "axes" });
  root.append(axes);
  for (const t of yTicks) {
    axes.append(svg("line", { x1: MARGIN.left, x2: MARGIN.left + plotW, y1: yPos(t), y2: yPos(t), class: t === 0 ? "zero-line" : "gridline" }));
    axes.append(svg("text", { x: MARGIN.left - 8, y: yPos(t) + 4, "text-anchor": "end", class: "tick" }, compact.format(t)));
  }
  axes.append(svg("text", { x: 14, y: MARGIN.top + plotH / 2, transform: `rotate(-90 14 ${MARGIN.top + plotH / 2})`, "text-anchor": "middle", class: "axis-title" }, columns[y].name));
  axes.append(svg("text", { x: MARGIN.left + plotW / 2, y: HEIGHT - 6, "text-anchor": "middle", class: "axis-title" }, x >= 0 ? columns[x].name : "row"));

  // X positions: continuous for a line over time or numbers, one band per row otherwise
  let xPos;
  let continuous = false;
  if (kind === "line" && (xKind === "time" || xKind === "number")) {
    const parsed = items.map((d) => (xKind === "time" ? Date.parse(d.label) : toNumber(d.label)));
    if (parsed.every(Number.isFinite)) {
      continuous = true;
      items = items.map((d, i) => ({ ...d, at: parsed[i] })).sort((a, b) => a.at - b.at);
    }
  }
  const n = items.length;
  const band = plotW / n;
  const labelEvery = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(plotW / 70))));
  const tickY = MARGIN.top + plotH + 16;
  if (continuous) {
    const lo = items[0].at;
    const hi = items[n - 1].at;
    const span = hi - lo || 1;
    xPos = (d) => MARGIN.left + (n === 1 ? plotW / 2 : ((d.at - lo) / span) * plotW);
    const count = Math.min(6, n);
    for (let i = 0; i < count; i += 1) {
      const at = count === 1 ? lo : lo + (span * i) / (count - 1);
      const px = MARGIN.left + (n === 1 ? plotW / 2 : ((at - lo) / span) * plotW);
      const label = xKind === "time" ? timeLabel(at, span) : compact.format(at);
      const anchor = count === 1 ? "middle" : i === 0 ? "start" : i === count - 1 ? "end" : "middle";
      axes.append(svg("text", { x: px, y: tickY, "text-anchor": anchor, class: "tick" }, label));
    }
  } else {
    xPos = (d, i) => MARGIN.left + band * i + band / 2;
    items.forEach((d, i) => {
      if (i % labelEvery === 0) {
        axes.append(svg("text", { x: xPos(d, i), y: tickY, "text-anchor": "middle", class: "tick" }, shortLabel(d.label ?? "null")));
      }
    });
  }

  const marks = svg("g", { class: "marks" });
  root.append(marks);
  const base = yPos(Math.max(y0, Math.min(0, y1)));
  if (kind === "bar") {
    const w = Math.max(1, band * 0.8);
    items.forEach((d, i) => {
      const top = yPos(d.value);
      const rect = svg("rect", {
        x: xPos(d, i) - w / 2,
        y: Math.min(top, base),
        width: w,
        height: Math.max(1, Math.abs(base - top)),
        class: "bar",
      });
      rect.append(svg("title", {}, `${d.label ?? "null"}: ${d.value}`));
      marks.append(rect);
    });
  } else {
    const points = items.map((d, i) => [xPos(d, i), yPos(d.value)]);
    marks.append(svg("path", { d: points.map((p, i) => `${i ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(""), class: "line" }));
    const r = n > 200 ? 2 : 3.5;
    items.forEach((d, i) => {
      const dot = svg("circle", { cx: points[i][0], cy: points[i][1], r, class: "point" });
      dot.append(svg("title", {}, `${d.label ?? "null"}: ${d.value}`));
      marks.append(dot);
    });
  }
  return { count: n, kind, skipped, total };
}
