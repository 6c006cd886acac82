"""The audit log: every query, data change, policy change and failed login, with its outcome.

The governance SQLite database is the system of record: one durable insert per event (WAL),
no Iceberg snapshot per query, nothing lost in a buffer on a crash. ``export`` copies new
events in batches to the lake table ``curated.governance_audit``, which only admins can read
(its name is reserved, it cannot be granted). Reading the log needs an admin.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from laketown.governance.store import Store, iso, now

if TYPE_CHECKING:
    from laketown.lake import Lake

AUDIT_TABLE = "curated.governance_audit"
KINDS = ("query", "write", "policy", "auth")
OUTCOMES = ("ok", "denied", "error")
SCHEMA = pa.schema([
    ("id", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")), ("kind", pa.string()), ("principal", pa.string()),
    ("statement", pa.string()), ("tables", pa.list_(pa.string())), ("rows", pa.int64()), ("outcome", pa.string()),
    ("detail", pa.string()), ("elapsed_ms", pa.float64()),
])


class AuditLog:
    """Append events; read them back (admins only, checked by the caller)."""

    def __init__(self, store: Store):
        self.store = store

    def record(self, kind: str, principal: str, statement: str, tables: Sequence[str] = (), rows: int | None = None,
               outcome: str = "ok", detail: str = "", elapsed_s: float | None = None) -> None:
        """Append one event."""
        self.store.execute(
            "INSERT INTO audit (ts, kind, principal, statement, tables, rows, outcome, detail, elapsed_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [iso(now()), kind, principal, statement[:20_000], json.dumps(sorted(set(tables))), rows, outcome,
             detail[:2_000], None if elapsed_s is None else round(elapsed_s * 1000, 3)],
        )

    def events(self, principal: str | None = None, outcome: str | None = None, kind: str | None = None,
               table: str | None = None, since: datetime | None = None, limit: int = 1000) -> pa.Table:
        """Events, newest first, filtered by principal, outcome, kind, a table named, or time."""
        where, params = [], []
        for column, value in (("principal", principal), ("outcome", outcome), ("kind", kind)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if table:
            where.append("EXISTS (SELECT 1 FROM json_each(tables) WHERE value = ?)")
            params.append(table)
        if since:
            where.append("ts >= ?")
            params.append(iso(since))
        sql = "SELECT * FROM audit" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
        return self._arrow(self.store.rows(sql, [*params, limit]))

    @staticmethod
    def _arrow(rows: Sequence[Any]) -> pa.Table:
        data = [{**dict(r), "ts": datetime.fromisoformat(r["ts"]), "tables": json.loads(r["tables"])} for r in rows]
        return pa.Table.from_pylist(data, schema=SCHEMA)

    def export(self, lake: Lake, batch: int = 50_000) -> int:
        """Append events not yet exported to ``curated.governance_audit``; returns how many."""
        done = 0
        # the export's own writes are audited too; they wait for the next export
        upto = self.store.rows("SELECT coalesce(max(id), 0) AS m FROM audit")[0]["m"]
        while True:
            last = int(self.store.meta("audit_exported_id") or 0)
            rows = self.store.rows("SELECT * FROM audit WHERE id > ? AND id <= ? ORDER BY id LIMIT ?", [last, upto, batch])
            if not rows:
                return done
            table = lake.create_table(AUDIT_TABLE, schema=SCHEMA, exist_ok=True)
            table.append(self._arrow(rows))
            self.store.set_meta("audit_exported_id", str(rows[-1]["id"]))
            done += len(rows)
