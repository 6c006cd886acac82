"""Rows a source sent that cannot be used: kept in ``raw.c360_quarantine`` with the reason.

One row per rejected record (or file): the source, the record's id when it has one, what was
wrong, and the record as it arrived (JSON), so it can be fixed and sent again.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa

from laketown.apps.customer360.names import QUARANTINE

SCHEMA = pa.schema([
    ("source", pa.string()), ("source_id", pa.string()), ("reason", pa.string()),
    ("payload", pa.string()), ("origin", pa.string()), ("quarantined_at", pa.timestamp("us", tz="UTC")),
])


def rows(source: str, items: list[tuple[str | None, str, dict[str, Any]]], origin: str = "") -> pa.Table:
    """(source_id, reason, record) triples as quarantine rows."""
    now = dt.datetime.now(dt.UTC)
    return pa.table({
        "source": [source] * len(items), "source_id": [i[0] for i in items], "reason": [i[1] for i in items],
        "payload": [json.dumps(i[2], default=str, sort_keys=True) for i in items],
        "origin": [origin] * len(items), "quarantined_at": [now] * len(items),
    }, schema=SCHEMA)


def table(ws: Any) -> Any:
    return ws.lake.create_table(QUARANTINE, schema=SCHEMA, exist_ok=True)


def add(ws: Any, source: str, items: list[tuple[str | None, str, dict[str, Any]]], origin: str = "") -> int:
    """Append quarantine rows; returns how many."""
    if not items:
        return 0
    return table(ws).append(rows(source, items, origin))
