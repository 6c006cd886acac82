"""Run the app with uvicorn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from laketown.errors import LaketownError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from laketown.workspace import Workspace


def serve(
    workspace: Workspace,
    host: str | None = None,
    port: int | None = None,
    *,
    app: FastAPI | None = None,
    log_level: str = "info",
) -> None:
    """Serve the API and console of ``workspace`` until interrupted, on ``host``:``port``
    (default ``settings.server.host``/``port``: 127.0.0.1:8000). Pass ``app`` when it was built
    with :func:`create_app` and the apps' pages were mounted on it; else a bare one is built."""
    import uvicorn

    from laketown.server.app import create_app

    settings = workspace.settings.server
    if app is None:
        app = create_app(workspace)
    elif app.state.workspace is not workspace:
        raise LaketownError(f"serve(): the app was created over {app.state.workspace!r}, not {workspace!r}")
    uvicorn.run(
        app,
        host=host or settings.host,
        port=settings.port if port is None else port,
        log_level=log_level,
    )
