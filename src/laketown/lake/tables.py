"""One Iceberg table of the lake: writes, scans, time travel, schema and partition evolution."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.table import Table

from laketown.errors import LaketownError
from laketown.lake.partitioning import parse_partition
from laketown.lake.schema import conform, storable_schema, to_arrow_table

Filter = str | BooleanExpression | None
_COMMIT_RETRIES = 5
#: hooks called after every successful write: fn(table, operation, rows)
WriteHook = Callable[["LakeTable", str, int], None]


def _filter(expr: Filter) -> str | BooleanExpression:
    return AlwaysTrue() if expr is None or expr == "" else expr


class LakeTable:
    """A handle on one catalog table, named ``zone.table``. Every read starts from the
    catalog's current metadata, so a commit by another process is seen on the next call."""

    def __init__(self, name: str, iceberg: Table, hooks: Sequence[WriteHook] = ()):
        self.name = name
        self._table = iceberg
        self._hooks = hooks

    def __repr__(self) -> str:
        return f"LakeTable({self.name!r}, rows={self.stats()['rows']})"

    # -- metadata --------------------------------------------------------------------------
    @property
    def iceberg(self) -> Table:
        """The underlying pyiceberg table, refreshed."""
        return self._table.refresh()

    @property
    def zone(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def metadata_location(self) -> str:
        return self.iceberg.metadata_location

    @property
    def schema(self) -> pa.Schema:
        """The table's current schema as Arrow."""
        return storable_schema(schema_to_pyarrow(self.iceberg.schema(), include_field_ids=False))

    def snapshots(self) -> list[dict[str, Any]]:
        """Every snapshot, oldest first: id, time, operation and its summary (row counts...)."""
        out = []
        for snap in self.iceberg.snapshots():
            summary = snap.summary.model_dump() if snap.summary else {}
            out.append(
                {
                    "snapshot_id": snap.snapshot_id,
                    "parent_id": snap.parent_snapshot_id,
                    "timestamp": datetime.fromtimestamp(snap.timestamp_ms / 1000, tz=timezone.utc),
                    "operation": str(summary.pop("operation", "")).lower().rsplit(".", 1)[-1],
                    "summary": summary,
                }
            )
        return out

    def current_snapshot(self) -> dict[str, Any] | None:
        snaps = self.snapshots()
        current = self.iceberg.current_snapshot()
        if current is None:
            return None
        return next(s for s in snaps if s["snapshot_id"] == current.snapshot_id)

    def stats(self) -> dict[str, Any]:
        """Rows, data files and bytes at the current snapshot (from the snapshot summary)."""
        t = self.iceberg
        snap = t.current_snapshot()
        summary = snap.summary if snap and snap.summary else {}
        get = (lambda k: int(summary.get(k, 0) or 0)) if summary else (lambda k: 0)
        return {
            "rows": get("total-records"),
            "data_files": get("total-data-files"),
            "bytes": get("total-files-size"),
            "snapshots": len(t.metadata.snapshots),
            "snapshot_id": snap.snapshot_id if snap else None,
            "partitioning": [
                f"{f.transform}({t.schema().find_column_name(f.source_id)})" for f in t.spec().fields
            ],
        }

    # -- reads -----------------------------------------------------------------------------
    def _snapshot_for(self, snapshot_id: int | None, as_of: datetime | int | None) -> int | None:
        if snapshot_id is not None and as_of is not None:
            raise LaketownError("give snapshot_id or as_of, not both")
        t = self.iceberg
        if snapshot_id is not None:
            if t.snapshot_by_id(snapshot_id) is None:
                known = ", ".join(str(s.snapshot_id) for s in t.snapshots()) or "none"
                raise LaketownError(f"table {self.name!r} has no snapshot {snapshot_id}; snapshots: {known}")
            return snapshot_id
        if as_of is not None:
            ms = int(as_of.timestamp() * 1000) if isinstance(as_of, datetime) else int(as_of)
            snap = t.snapshot_as_of_timestamp(ms)
            if snap is None:
                raise LaketownError(f"table {self.name!r} has no snapshot at or before {as_of}")
            return snap.snapshot_id
        return None

    def scan(
        self,
        filter: Filter = None,  # noqa: A002 - the natural name
        columns: Sequence[str] | None = None,
        snapshot_id: int | None = None,
        as_of: datetime | int | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """Rows matching ``filter`` (``"amount > 100 and country = 'FR'"``) as Arrow, optionally
        at an older snapshot (``snapshot_id``) or as of a time (``as_of``, datetime or epoch ms)."""
        snap = self._snapshot_for(snapshot_id, as_of)
        fields = tuple(columns) if columns else ("*",)
        if columns:
            known = set(self.schema.names)
            missing = [c for c in columns if c not in known]
            if missing:
                raise LaketownError(
                    f"table {self.name!r} has no column {missing[0]!r}; columns: {', '.join(self.schema.names)}"
                )
        scan = self.iceberg.scan(row_filter=_filter(filter), selected_fields=fields, snapshot_id=snap, limit=limit)
        return scan.to_arrow()

    def to_arrow(self) -> pa.Table:
        return self.scan()

    def count(self) -> int:
        return self.stats()["rows"]

    # -- writes ----------------------------------------------------------------------------
    def _conformed(self, data: Any) -> pa.Table:
        return conform(to_arrow_table(data), self.schema, self.name)

    def _commit(self, op: str, fn: Callable[[Table], Any], rows: int) -> Any:
        """Run a write against a fresh table; retry when another writer committed first."""
        for attempt in range(_COMMIT_RETRIES):
            try:
                result = fn(self.iceberg)
                break
            except CommitFailedException:
                if attempt == _COMMIT_RETRIES - 1:
                    raise
        for hook in self._hooks:
            hook(self, op, rows)
        return result

    def append(self, data: Any, properties: dict[str, str] | None = None, allow_empty: bool = False) -> int:
        """Append rows; ``properties`` go into the snapshot summary. Returns rows written.
        No rows make no snapshot, unless ``allow_empty`` (to record properties alone)."""
        tbl = self._conformed(data)
        if tbl.num_rows == 0 and not allow_empty:
            return 0
        self._commit("append", lambda t: t.append(tbl, snapshot_properties=properties or {}), tbl.num_rows)
        return tbl.num_rows

    def overwrite(self, data: Any, filter: Filter = None, properties: dict[str, str] | None = None) -> int:  # noqa: A002
        """Replace the rows matching ``filter`` (all rows when none) with ``data``."""
        tbl = self._conformed(data)
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        self._commit(
            "overwrite",
            lambda t: t.overwrite(tbl, overwrite_filter=_filter(filter), snapshot_properties=properties or {}),
            tbl.num_rows,
        )
        return tbl.num_rows

    def upsert(self, data: Any, on: Sequence[str], properties: dict[str, str] | None = None) -> dict[str, int]:
        """Update rows whose ``on`` columns match, insert the others (``properties`` go into the
        snapshot summary)."""
        tbl = self._conformed(data)
        missing = [c for c in on if c not in tbl.column_names]
        if missing or not on:
            raise LaketownError(f"upsert on {list(on)!r}: key columns must be columns of {self.name!r}")
        keys = tbl.select(list(on))
        if keys.num_rows != keys.group_by(list(on)).aggregate([]).num_rows:
            raise LaketownError(f"upsert into {self.name!r}: the data has duplicate keys on {list(on)!r}")
        res = self._commit(
            "upsert", lambda t: t.upsert(tbl, join_cols=list(on), snapshot_properties=properties or {}), tbl.num_rows
        )
        return {"updated": res.rows_updated, "inserted": res.rows_inserted}

    def delete(self, filter: Filter) -> int:  # noqa: A002
        """Delete rows matching ``filter``; returns how many rows went."""
        if filter is None or filter == "":
            raise LaketownError(f"delete from {self.name!r} needs a filter; use filter='true' to delete every row")
        before = self.count()
        expr = AlwaysTrue() if isinstance(filter, str) and filter.strip().lower() == "true" else filter
        self._commit("delete", lambda t: t.delete(delete_filter=expr), 0)
        return before - self.count()

    # -- evolution -------------------------------------------------------------------------
    def add_column(self, name: str, type: pa.DataType, doc: str | None = None) -> None:  # noqa: A002
        """Add an optional column (existing rows read it as null)."""
        if name in self.schema.names:
            raise LaketownError(f"table {self.name!r} already has a column {name!r}")
        with self.iceberg.update_schema() as upd:
            upd.union_by_name(pa.schema([pa.field(name, type, nullable=True)]))
            if doc:
                upd.update_column(name, doc=doc)

    def rename_column(self, old: str, new: str) -> None:
        if old not in self.schema.names:
            raise LaketownError(f"table {self.name!r} has no column {old!r}; columns: {', '.join(self.schema.names)}")
        with self.iceberg.update_schema() as upd:
            upd.rename_column(old, new)

    def partition_by(self, *exprs: str) -> None:
        """Add partition fields (``"day(ts)"``, ``"bucket(16, id)"``, ``"region"``); new data
        files follow the new spec, old ones keep theirs (Iceberg partition evolution)."""
        fields = [parse_partition(e) for e in exprs]
        names = set(self.schema.names)
        for f in fields:
            if f.source not in names:
                raise LaketownError(f"cannot partition {self.name!r} by {f.source!r}: no such column")
        with self.iceberg.update_spec() as upd:
            for f in fields:
                upd.add_field(f.source, f.transform, f.name)
