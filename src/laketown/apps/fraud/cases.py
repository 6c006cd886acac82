"""The review queue: transactions that rules sent to review or block become cases in
``curated.fraud_cases``; analysts' labels go to ``clean.fraud_labels`` and override the
simulated or imported labels in the next training run.

Cases are queued in memory and written in batches every few seconds by a writer *process*:
an Iceberg commit is a few hundred milliseconds of Python, which in the serving process would
hold the interpreter lock and stall every request in flight.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from laketown.errors import LaketownError

CASES_TABLE = "curated.fraud_cases"
LABELS_TABLE = "clean.fraud_labels"
CASES_SCHEMA = pa.schema(
    [
        ("case_id", pa.string()), ("transaction_id", pa.string()), ("created_at", pa.timestamp("us")),
        ("tx_timestamp", pa.timestamp("us")), ("amount", pa.float64()), ("customer_id", pa.string()),
        ("terminal_id", pa.string()), ("fraud_probability", pa.float64()), ("anomaly_score", pa.float64()),
        ("outcome", pa.string()), ("rule", pa.string()), ("rule_set", pa.string()), ("reasons", pa.string()),
        ("model_versions", pa.string()),
    ]
)
LABELS_SCHEMA = pa.schema(
    [
        ("case_id", pa.string()), ("transaction_id", pa.string()), ("label", pa.int8()),
        ("analyst", pa.string()), ("note", pa.string()), ("labelled_at", pa.timestamp("us")),
    ]
)


SCHEMAS = {CASES_TABLE: CASES_SCHEMA, LABELS_TABLE: LABELS_SCHEMA}
_child_ws: Any = None


def _writer_pool() -> ProcessPoolExecutor:
    """One writer process that ends by itself when the server that started it is gone
    (also after a ``kill -9`` of the server, which runs no clean-up)."""
    import os

    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))


def _exit_with_parent(parent: int) -> None:
    import os

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)  # the parent is gone: nobody can send work or read results any more

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _open_workspace(settings: Any) -> Any:
    global _child_ws
    if _child_ws is None:
        import laketown

        _child_ws = laketown.connect(settings)
        _ = _child_ws.lake  # open the catalog now
    return None


def append_rows(settings: Any, table: str, rows: list[dict[str, Any]]) -> int:
    """Append ``rows`` to ``table`` (created if needed) in the workspace of ``settings``; runs in
    the writer process, which keeps its workspace open between calls."""
    _open_workspace(settings)
    lake_table = _child_ws.lake.create_table(table, schema=SCHEMAS[table], exist_ok=True)
    return lake_table.append(pa.Table.from_pylist(rows, schema=SCHEMAS[table]))


class LakeWriter:
    """Appends rows to lake tables from a separate process (``in_process=True``: right here)."""

    def __init__(self, ws: Any, in_process: bool = False):
        self.ws = ws
        self.in_process = in_process
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def start(self) -> Future[Any] | None:
        """Start the writer process and open its workspace now, before requests arrive; the
        returned future is done when it is ready."""
        if self.in_process:
            return None
        with self._lock:
            if self._pool is None:
                self._pool = _writer_pool()
            pool = self._pool
        return pool.submit(_open_workspace, self.ws.settings)

    def append(self, table: str, rows: list[dict[str, Any]]) -> int:
        if self.in_process:
            lake_table = self.ws.lake.create_table(table, schema=SCHEMAS[table], exist_ok=True)
            return lake_table.append(pa.Table.from_pylist(rows, schema=SCHEMAS[table]))
        with self._lock:
            if self._pool is None:
                self._pool = _writer_pool()
            pool = self._pool
        return pool.submit(append_rows, self.ws.settings, table, rows).result()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


def _naive_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


class CaseQueue:
    """Cases and labels of one workspace; ``add`` is cheap, writes happen in the background."""

    def __init__(self, ws: Any, flush_every_s: float = 5.0, writer: LakeWriter | None = None):
        self.ws = ws
        self.flush_every_s = flush_every_s
        self.writer = writer or LakeWriter(ws)
        self._pending: queue.Queue[dict[str, Any]] = queue.Queue()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, scored: list[dict[str, Any]]) -> int:
        """Queue the scored transactions whose outcome is not ``approve``; returns how many."""
        n = 0
        now = datetime.now(UTC).replace(tzinfo=None)
        for row in scored:
            if row["outcome"] == "approve":
                continue
            self._pending.put(
                {
                    "case_id": str(row["transaction_id"]), "transaction_id": str(row["transaction_id"]),
                    "created_at": now, "tx_timestamp": _naive_utc(row["timestamp"]), "amount": float(row["amount"]),
                    "customer_id": _str(row.get("customer_id")), "terminal_id": _str(row.get("terminal_id")),
                    "fraud_probability": row["fraud_probability"], "anomaly_score": row["anomaly_score"],
                    "outcome": row["outcome"], "rule": row["rule"], "rule_set": row["rule_set"],
                    "reasons": json.dumps(row["reasons"]), "model_versions": json.dumps(row["model_versions"]),
                }
            )
            n += 1
        if n and self._thread is None:
            self._start()
        return n

    def _start(self) -> None:
        with self._write_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fraud-cases", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_every_s):
            self.flush()

    def flush(self) -> int:
        """Write the queued cases to the lake now; returns how many were written."""
        rows = []
        while True:
            try:
                rows.append(self._pending.get_nowait())
            except queue.Empty:
                break
        if not rows:
            return 0
        with self._write_lock:
            self.writer.append(CASES_TABLE, rows)
        return len(rows)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()
        self.writer.close()

    def list(self, status: str = "open", limit: int = 100) -> list[dict[str, Any]]:
        """Cases, highest fraud probability first: ``open`` (no label yet), ``labelled`` or ``all``."""
        if status not in ("open", "labelled", "all"):
            raise LaketownError(f"unknown case status {status!r}; use open, labelled or all")
        self.flush()
        if not self.ws.lake.exists(CASES_TABLE):
            return []
        where = {"open": "WHERE l.label IS NULL", "labelled": "WHERE l.label IS NOT NULL", "all": ""}[status]
        labels = self._latest_labels_sql()
        sql = (
            f"SELECT c.*, l.label, l.analyst, l.labelled_at FROM (SELECT * FROM {CASES_TABLE} "
            f"QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY created_at DESC) = 1) c "
            f"LEFT JOIN ({labels}) l USING (case_id) {where} "
            f"ORDER BY c.fraud_probability DESC, c.created_at LIMIT {int(limit)}"
        )
        out = []
        for row in self.ws.sql(sql).to_pylist():
            row["reasons"] = json.loads(row["reasons"])
            row["model_versions"] = json.loads(row["model_versions"])
            row["status"] = "open" if row["label"] is None else "labelled"
            out.append(row)
        return out

    def _latest_labels_sql(self) -> str:
        if not self.ws.lake.exists(LABELS_TABLE):
            return "SELECT NULL::VARCHAR AS case_id, NULL::TINYINT AS label, NULL::VARCHAR AS analyst, NULL::TIMESTAMP AS labelled_at LIMIT 0"
        return (f"SELECT case_id, label, analyst, labelled_at FROM {LABELS_TABLE} "
                "QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY labelled_at DESC) = 1")

    def get(self, case_id: str) -> dict[str, Any] | None:
        self.flush()
        if not self.ws.lake.exists(CASES_TABLE):
            return None
        rows = self.ws.sql(f"SELECT * FROM {CASES_TABLE} WHERE case_id = ? ORDER BY created_at DESC LIMIT 1", [case_id]).to_pylist()
        return rows[0] if rows else None

    def label(self, case_id: str, label: int, analyst: str, note: str = "") -> dict[str, Any]:
        """Store an analyst's label (1 fraud, 0 genuine) for a case; the latest label wins."""
        if label not in (0, 1):
            raise LaketownError(f"label must be 0 (genuine) or 1 (fraud); got {label!r}")
        case = self.get(case_id)
        if case is None:
            raise LaketownError(f"no case {case_id!r}; GET /api/fraud/cases lists the open ones")
        row = {"case_id": case_id, "transaction_id": case["transaction_id"], "label": label, "analyst": analyst,
               "note": note, "labelled_at": datetime.now(UTC).replace(tzinfo=None)}
        with self._write_lock:
            self.writer.append(LABELS_TABLE, [row])
        return {**row, "customer_id": case["customer_id"], "terminal_id": case["terminal_id"]}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
