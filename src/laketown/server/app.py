"""``create_app(workspace)``: the FastAPI app over one workspace (API, docs, console)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from laketown import __version__
from laketown.server import routes_governance, routes_health, routes_login, routes_sql, routes_streams, routes_tables
from laketown.server.auth import add_auth
from laketown.server.docs import mount_docs
from laketown.server.error_handlers import add_error_handlers

if TYPE_CHECKING:
    from laketown.workspace import Workspace


def create_app(workspace: Workspace) -> FastAPI:
    """The app: ``/health``, ``/api/...``, ``/docs`` (``/openapi.json``) and the console at ``/``.

    Routes read the workspace from ``app.state.workspace``; apps add their routers and console
    pages with :func:`laketown.server.mount_app_page`, which fills ``app.state.nav``.
    """
    from laketown.console import mount_console

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # open the catalog and DuckDB once, before requests from several threads race to do it
        _ = workspace.lake, workspace.sql_engine
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="Laketown",
        version=__version__,
        description="Local-first lakehouse: catalog, governed SQL and the apps' APIs.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.workspace = workspace
    app.state.nav = [{"title": "Streams", "path": "/streams"}, {"title": "Governance", "path": "/governance"}]
    add_error_handlers(app)
    add_auth(app)
    app.include_router(routes_login.router)
    app.include_router(routes_health.router)
    app.include_router(routes_tables.router)
    app.include_router(routes_sql.router)
    app.include_router(routes_streams.router)
    app.include_router(routes_governance.router)
    mount_docs(app)
    mount_console(app)
    return app
