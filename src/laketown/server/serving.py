"""Run the app with uvicorn."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from laketown.workspace import Workspace


def serve(workspace: Workspace, host: str | None = None, port: int | None = None, log_level: str = "info") -> None:
    """Serve the API and console of ``workspace`` until interrupted, on ``host``:``port``
    (default ``settings.server.host``/``port``: 127.0.0.1:8000)."""
    import uvicorn

    from laketown.server.app import create_app

    settings = workspace.settings.server
    app = create_app(workspace)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=settings.port if port is None else port,
        log_level=log_level,
    )
