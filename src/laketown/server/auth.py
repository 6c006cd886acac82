"""Who is calling, and on which workspace. Routes get both through FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from laketown.workspace import Workspace


def current_workspace(request: Request) -> Workspace:
    """The workspace the app was created over (``app.state.workspace``)."""
    return request.app.state.workspace


def current_principal(request: Request) -> str:
    """The principal SQL runs as. For now the workspace's ``sql.principal`` setting; the
    governance layer will resolve API keys here, so every route asks this one function."""
    return current_workspace(request).settings.sql.principal


#: route parameter types: ``def route(ws: WorkspaceDep, principal: PrincipalDep)``
WorkspaceDep = Annotated[Workspace, Depends(current_workspace)]
PrincipalDep = Annotated[str, Depends(current_principal)]
