"""Who is calling, and on which workspace.

Auth is on by default (``server.auth``): every ``/api/...`` request must carry an API key
(``Authorization: Bearer ltk_...``, ``X-API-Key``, or the console's HttpOnly cookie set by
``POST /api/login``). A middleware resolves the key once per request to a principal, which
every route reads through :func:`current_principal`; SQL then runs as that principal.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from laketown.workspace import Workspace

#: paths under /api that answer without a key
PUBLIC_API_PATHS = frozenset({"/api/login", "/api/logout"})


def current_workspace(request: Request) -> Workspace:
    """The workspace the app was created over (``app.state.workspace``)."""
    return request.app.state.workspace


def current_principal(request: Request) -> str:
    """The principal of the request's API key (or ``sql.principal`` when auth is off)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:  # a route outside /api (pages) or a test app without the middleware
        from laketown.governance import authenticate_request

        ws = current_workspace(request)
        principal = authenticate_request(ws, request, required=ws.settings.server.auth)
    return principal


def add_auth(app: FastAPI) -> None:
    """Require a valid API key on every ``/api/...`` request (apps' APIs included), except
    under prefixes listed in ``app.state.self_authenticated``: APIs that check a credential
    of their own (the fraud scoring API's HMAC-signed requests)."""
    app.state.self_authenticated = []

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        path = request.url.path
        own_auth = any(path.startswith(p) for p in request.app.state.self_authenticated)
        if path.startswith("/api/") and path not in PUBLIC_API_PATHS and not own_auth:
            from fastapi import HTTPException
            from starlette.concurrency import run_in_threadpool

            from laketown.governance import authenticate_request

            ws = current_workspace(request)
            try:
                request.state.principal = await run_in_threadpool(
                    authenticate_request, ws, request, ws.settings.server.auth
                )
            except HTTPException as exc:
                return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return await call_next(request)


#: route parameter types: ``def route(ws: WorkspaceDep, principal: PrincipalDep)``
WorkspaceDep = Annotated[Workspace, Depends(current_workspace)]
PrincipalDep = Annotated[str, Depends(current_principal)]
