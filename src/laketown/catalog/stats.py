"""Column statistics (null count, distinct count, min, max), computed by DuckDB over the
table's current snapshot and stored per column; refreshed by the lake's write hook."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from laketown.governance.store import Store, iso, now
from laketown.sql.database import quote_ident

if TYPE_CHECKING:
    from laketown.lake import LakeTable
    from laketown.sql import SqlEngine

SCHEMA = """CREATE TABLE IF NOT EXISTS column_stats (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, snapshot_id INTEGER, rows INTEGER, null_count INTEGER,
  distinct_count INTEGER, min TEXT, max TEXT, computed_at TEXT NOT NULL, PRIMARY KEY (table_name, column_name))"""
#: tables larger than this get their statistics on demand, not on every write
MAX_ROWS_ON_WRITE = 20_000_000
#: a write refreshes the statistics when the row count moved this much since they were taken,
#: or when they are this old — so a sink committing every second does not rescan every time
REFRESH_ROW_CHANGE = 0.05
REFRESH_AGE_S = 300.0
_ORDERED = ("INT", "FLOAT", "DOUBLE", "DECIMAL", "DATE", "TIME", "VARCHAR", "BIGINT", "SMALLINT", "TINYINT",
            "HUGEINT", "UBIGINT", "UINTEGER", "REAL", "BOOLEAN", "UUID")


class ColumnStats:
    def __init__(self, store: Store, engine: SqlEngine):
        self.store = store
        self.engine = engine

        store.execute(SCHEMA)

    def refresh(self, table: str, snapshot_id: int | None = None) -> list[dict[str, Any]]:
        """Compute and store every column's statistics; returns them."""
        zone, name = table.split(".", 1)
        self.engine.refresh()
        columns = self.engine._columns.get((zone, name), [])
        parts = ["count(*) AS __rows"]
        for i, (col, typ) in enumerate(columns):
            c = quote_ident(col)
            ordered = any(typ.upper().startswith(t) for t in _ORDERED)
            parts.append(f"count(*) - count({c}) AS n{i}, approx_count_distinct({c}) AS d{i}")
            parts.append(f"CAST(min({c}) AS VARCHAR) AS lo{i}, CAST(max({c}) AS VARCHAR) AS hi{i}" if ordered
                         else f"NULL AS lo{i}, NULL AS hi{i}")
        row = self.engine.internal_query(f"SELECT {', '.join(parts)} FROM {zone}.{quote_ident(name)}").to_pylist()[0]
        out = []
        with self.store.transaction() as con:
            con.execute("DELETE FROM column_stats WHERE table_name = ?", [table])
            for i, (col, _) in enumerate(columns):
                rec = {"table_name": table, "column_name": col, "snapshot_id": snapshot_id, "rows": row["__rows"],
                       "null_count": row[f"n{i}"], "distinct_count": row[f"d{i}"], "min": row[f"lo{i}"],
                       "max": row[f"hi{i}"], "computed_at": iso(now())}
                con.execute("INSERT INTO column_stats VALUES (:table_name, :column_name, :snapshot_id, :rows, "
                            ":null_count, :distinct_count, :min, :max, :computed_at)", rec)
                out.append(rec)
        return out

    def get(self, table: str) -> list[dict[str, Any]]:
        """Stored statistics of a table's columns (empty until its first write or refresh)."""
        return [dict(r) for r in self.store.rows("SELECT * FROM column_stats WHERE table_name = ? ORDER BY rowid", [table])]

    def on_write(self, table: LakeTable, operation: str, rows: int = 0) -> None:
        """Refresh after a write when the row count moved enough or the statistics are old."""
        stats = table.stats()
        if stats["rows"] > MAX_ROWS_ON_WRITE:
            return
        last = self.store.rows("SELECT rows, computed_at FROM column_stats WHERE table_name = ? LIMIT 1", [table.name])
        if last and operation == "append":
            before, when = last[0]["rows"] or 0, datetime.fromisoformat(last[0]["computed_at"])
            moved = abs(stats["rows"] - before) / max(before, 1)
            if moved < REFRESH_ROW_CHANGE and (now() - when).total_seconds() < REFRESH_AGE_S:
                return
        self.refresh(table.name, stats["snapshot_id"])
