"""``/api/tables``: the catalog as the console's browser sees it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from laketown.errors import SqlError, TableNotFoundError
from laketown.lake import ZONES
from laketown.server.auth import PrincipalDep, WorkspaceDep
from laketown.server.encoding import json_columns, json_rows, snapshot_id_json

router = APIRouter(prefix="/api", tags=["tables"])
SAMPLE_ROWS = 20


@router.get("/zones")
def list_zones() -> list[str]:
    """The lake's zones, in order (raw, clean, curated)."""
    return list(ZONES)


def _visible(ws: Any, principal: str) -> set[str] | None:
    """Tables ``principal`` may read (None: all, for admins)."""
    gov = ws.governance
    return None if gov.is_admin(principal) else set(gov.visible_tables(principal))


@router.get("/tables")
def list_tables(ws: WorkspaceDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """The tables of every zone the caller may read: name, zone, rows, bytes, current snapshot id."""
    out = []
    visible = _visible(ws, principal)
    for name in ws.lake.list_tables():
        if visible is not None and name not in visible:
            continue
        stats = ws.table(name).stats()
        zone, _, table = name.partition(".")
        out.append(
            {
                "name": name,
                "zone": zone,
                "table": table,
                "rows": stats["rows"],
                "bytes": stats["bytes"],
                "snapshot_id": snapshot_id_json(stats["snapshot_id"]),
            }
        )
    return out


@router.get("/tables/{zone}/{table}")
def table_detail(
    zone: str,
    table: str,
    ws: WorkspaceDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Schema, snapshots (oldest first), stats and the first rows of ``zone.table``.

    The sample is read through SQL as the caller's principal, so the same policies apply to it
    as to any query; when SQL refuses, ``sample.error`` says why and the rest still comes back.
    """
    name = f"{zone}.{table}"
    visible = _visible(ws, principal)
    if visible is not None and name not in visible:  # the same answer as for a table that does not exist
        known = ", ".join(sorted(t.split(".", 1)[1] for t in visible if t.startswith(zone + "."))) or "none"
        raise TableNotFoundError(f"unknown table {name!r}; tables in {zone}: {known}")
    lake_table = ws.table(name)  # bad name -> 400, unknown -> 404 (error handlers)
    stats = lake_table.stats()
    schema = [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in lake_table.schema]
    snapshots = [
        {
            "snapshot_id": snapshot_id_json(s["snapshot_id"]),
            "parent_id": snapshot_id_json(s["parent_id"]),
            "time": s["timestamp"].isoformat(),
            "operation": s["operation"],
            "summary": s["summary"],
        }
        for s in lake_table.snapshots()
    ]
    try:
        result = ws.query(
            f'SELECT * FROM {zone}."{table}" LIMIT {SAMPLE_ROWS}', principal=principal, max_rows=SAMPLE_ROWS
        )
        sample: dict[str, Any] = {"columns": json_columns(result.table.schema), "rows": json_rows(result.table)}
        if visible is not None:  # a governed caller sees the columns its policies leave, as SQL does
            schema = [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in result.table.schema]
    except SqlError as exc:
        sample = {"columns": [], "rows": [], "error": str(exc)}
        if visible is not None:
            schema = []
    return {
        "name": name,
        "zone": zone,
        "table": table,
        "schema": schema,
        "snapshots": snapshots,
        "stats": {
            "rows": stats["rows"],
            "files": stats["data_files"],
            "bytes": stats["bytes"],
            "snapshots": stats["snapshots"],
            "snapshot_id": snapshot_id_json(stats["snapshot_id"]),
            "partitioning": stats["partitioning"],
        },
        "sample": sample,
    }
