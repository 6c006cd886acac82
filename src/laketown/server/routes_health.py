"""``GET /health``: is the server up, and over which workspace."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from laketown.server.auth import current_workspace
from laketown.workspace import Workspace

router = APIRouter(tags=["health"])


@router.get("/health")
def health(ws: Workspace = Depends(current_workspace)) -> dict[str, Any]:
    """``{"status": "ok", "workspace": <folder>, "tables": <count>}``."""
    return {"status": "ok", "workspace": str(ws.path), "tables": len(ws.lake.list_tables())}
