"""Schema history from Iceberg metadata: which snapshot brought which schema, and the change."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from laketown.lake import LakeTable


def schema_history(table: LakeTable) -> list[dict[str, Any]]:
    """One entry per schema a snapshot used, oldest first: snapshot, time, columns and the
    columns added, dropped, renamed or retyped since the previous entry (by Iceberg field id)."""
    meta = table.iceberg.metadata
    schemas = {s.schema_id: s for s in meta.schemas}
    out: list[dict[str, Any]] = []
    previous = None
    seen: set[int] = set()
    entries = [(s.schema_id, s.snapshot_id, s.timestamp_ms) for s in meta.snapshots]
    if meta.current_schema_id not in {e[0] for e in entries}:
        entries.append((meta.current_schema_id, None, meta.last_updated_ms))
    for schema_id, snapshot_id, ts in entries:
        if schema_id is None or schema_id in seen:
            continue
        seen.add(schema_id)
        schema = schemas[schema_id]
        fields = {f.field_id: (f.name, str(f.field_type)) for f in schema.fields}
        change: dict[str, Any] = {"added": [], "dropped": [], "renamed": [], "retyped": []}
        if previous is not None:
            change["added"] = [n for fid, (n, _) in fields.items() if fid not in previous]
            change["dropped"] = [n for fid, (n, _) in previous.items() if fid not in fields]
            change["renamed"] = [f"{previous[fid][0]} -> {n}" for fid, (n, _) in fields.items()
                                 if fid in previous and previous[fid][0] != n]
            change["retyped"] = [f"{n}: {previous[fid][1]} -> {t}" for fid, (n, t) in fields.items()
                                 if fid in previous and previous[fid][1] != t]
        out.append({"schema_id": schema_id, "snapshot_id": snapshot_id,
                    "timestamp": datetime.fromtimestamp(ts / 1000, tz=timezone.utc),
                    "columns": [f"{n} {t}" for n, t in fields.values()], **change})
        previous = fields
    return out
