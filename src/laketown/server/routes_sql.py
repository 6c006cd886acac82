"""``POST /api/sql``: read-only SQL over the lake, as the caller's principal, within limits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from laketown.server.auth import PrincipalDep, WorkspaceDep
from laketown.server.encoding import json_columns, json_rows

router = APIRouter(prefix="/api", tags=["sql"])


class SqlRequest(BaseModel):
    """A query; ``max_rows`` and ``timeout_s`` may lower the workspace's limits, never raise them."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, examples=["SELECT * FROM raw.fraud_transactions LIMIT 10"])
    max_rows: int | None = Field(None, ge=1, description="capped by settings.sql.max_rows")
    timeout_s: float | None = Field(None, gt=0, description="capped by settings.sql.timeout_s")


class SqlColumn(BaseModel):
    name: str
    type: str


class SqlResponse(BaseModel):
    columns: list[SqlColumn]
    rows: list[list[Any]]
    row_count: int
    truncated: bool = Field(description="more rows matched than max_rows")
    elapsed_ms: float
    principal: str
    max_rows: int


@router.post("/sql", response_model=SqlResponse, responses={400: {"description": "the SQL failed or was refused"}})
def run_sql(
    body: SqlRequest,
    ws: WorkspaceDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Run ``sql``; rows come back as lists in column order, values JSON-encoded (ISO times,
    decimals as strings, bytes base64, NaN as null). A failed or refused query gives 400
    with ``{"detail": message}``."""
    limits = ws.settings.sql
    max_rows = min(body.max_rows or limits.max_rows, limits.max_rows)
    timeout_s = min(body.timeout_s or limits.timeout_s, limits.timeout_s)
    result = ws.query(body.sql, principal=principal, max_rows=max_rows, timeout_s=timeout_s)
    return {
        "columns": json_columns(result.table.schema),
        "rows": json_rows(result.table),
        "row_count": result.table.num_rows,
        "truncated": result.truncated,
        "elapsed_ms": round(result.elapsed_s * 1000, 1),
        "principal": result.principal,
        "max_rows": max_rows,
    }
