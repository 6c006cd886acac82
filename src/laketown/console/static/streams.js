// The Streams page: streams with their end offsets, running sinks/processors with throughput and lag.
import { apiCall } from "./api.js";
import { drawChart } from "./chart.js";
import { renderGrid, formatCount } from "./grid.js";

const REFRESH_MS = 2000;

function ago(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  return `${Math.round(seconds / 60)} min ago`;
}

async function refresh() {
  const status = document.getElementById("streams-status");
  const errorBox = document.getElementById("streams-error");
  try {
    const [streams, jobs] = await Promise.all([apiCall("/api/streams"), apiCall("/api/jobs")]);
    errorBox.hidden = true;
    renderGrid(
      document.getElementById("streams-grid"),
      [{ name: "stream", type: "string" }, { name: "partitions", type: "int32" }, { name: "records", type: "int64" },
       { name: "end offsets", type: "string" }],
      streams.map((s) => [s.name, s.partitions, formatCount(s.records), JSON.stringify(s.end_offsets)]),
      { emptyText: "No streams yet" },
    );
    const now = Date.now() / 1000;
    const jobColumns = [
      { name: "job", type: "string" }, { name: "kind", type: "string" }, { name: "stream", type: "string" },
      { name: "table", type: "string" }, { name: "records_per_s", type: "double" }, { name: "written", type: "int64" },
      { name: "dead letters", type: "int64" }, { name: "lag", type: "int64" }, { name: "state", type: "string" },
    ];
    renderGrid(
      document.getElementById("jobs-grid"),
      jobColumns,
      jobs.map((j) => [j.name, j.kind, j.stream, j.table || j.output || "", j.records_per_s,
        formatCount(j.records_written ?? j.records_out ?? 0), formatCount(j.dead_letters ?? 0),
        j.lag ?? "", `${j.running ? "running" : "stopped"} (${ago(now - j.updated_at)})`]),
      { emptyText: "No sink or processor has reported yet" },
    );
    if (jobs.length) {
      drawChart(document.getElementById("jobs-chart"),
        [{ name: "job", type: "string" }, { name: "records_per_s", type: "double" }],
        jobs.map((j) => [j.name, j.records_per_s || 0]), { x: 0, y: 1, kind: "bar" });
    }
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    errorBox.textContent = err.message;
    errorBox.hidden = false;
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
