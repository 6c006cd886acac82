"""``GET /health``: is the server up, and over which workspace."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from laketown.server.auth import WorkspaceDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health(ws: WorkspaceDep) -> dict[str, Any]:
    """``{"status": "ok", "workspace": <folder>, "tables": <count>}``."""
    return {"status": "ok", "workspace": str(ws.path), "tables": len(ws.lake.list_tables())}
