"""An in-memory index of blocking keys for real-time resolution.

Every record gets one 64-bit key per blocking rule whose columns it all has (DuckDB's
``hash`` of the rule number and the values); the keys are sorted once, so the candidates of a
new record are a few binary searches away (microseconds against a million records), and the
trained model then scores only those candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa


def _keys_sql(blocking: Sequence[tuple[str, ...]], table: str) -> str:
    parts = []
    for i, cols in enumerate(blocking):
        present = " AND ".join(f"{c} IS NOT NULL" for c in cols)
        parts.append(f"SELECT __row AS row, hash({i}, {', '.join(cols)}) AS key, {present} AS ok FROM {table}")
    return " UNION ALL ".join(f"SELECT row, key FROM ({p}) WHERE ok" for p in parts)


def record_keys(table: pa.Table, blocking: Sequence[tuple[str, ...]],
                con: duckdb.DuckDBPyConnection | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(keys uint64, row numbers int64) of every record of ``table`` under every rule."""
    own = con is None
    con = con or duckdb.connect()
    cols = table.select(sorted({c for cols in blocking for c in cols}))
    con.register("t", cols.append_column("__row", pa.array(np.arange(cols.num_rows, dtype=np.int64))))
    res = con.execute(_keys_sql(blocking, "t")).fetchnumpy()
    con.unregister("t")
    if own:
        con.close()
    return res["key"].astype(np.uint64), res["row"].astype(np.int64)


class KeyIndex:
    """Sorted blocking keys of a table of records; :meth:`candidates` gives row numbers."""

    def __init__(self, table: pa.Table, blocking: Sequence[tuple[str, ...]], max_candidates: int = 2000):
        self.blocking = list(blocking)
        self.max_candidates = max_candidates
        self.con = duckdb.connect()
        keys, rows = record_keys(table, self.blocking, self.con)
        order = np.argsort(keys, kind="stable")
        self.keys, self.rows = keys[order], rows[order]

    def candidates(self, record: pa.Table) -> np.ndarray:
        """Row numbers sharing at least one blocking key with one of ``record``'s rows (capped
        per key at ``max_candidates`` so one huge block cannot stall a call)."""
        keys, _ = record_keys(record, self.blocking, self.con)
        found = []
        for key in np.unique(keys):
            lo = np.searchsorted(self.keys, key, side="left")
            hi = np.searchsorted(self.keys, key, side="right")
            found.append(self.rows[lo:min(hi, lo + self.max_candidates)])
        return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
