"""Authentication for the HTTP API: an API key in the request names the principal.

The server's ``current_principal(request)`` dependency calls :func:`authenticate_request`.
A key is sent as ``Authorization: Bearer ltk_...`` (or ``X-API-Key: ltk_...``, or the
``laketown_key`` cookie the console sets). Nothing else in the request — no header, query
parameter or body field — can choose or widen the principal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from laketown.governance.errors import AuthenticationError

if TYPE_CHECKING:
    from laketown.workspace import Workspace

COOKIE = "laketown_key"


def key_from_request(request: Any) -> str | None:
    """The API key a Starlette/FastAPI request carries, if any."""
    auth = request.headers.get("authorization") or ""
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or request.cookies.get(COOKIE) or None


def authenticate_request(ws: Workspace, request: Any, required: bool = True) -> str:
    """The principal of the request's API key. Raises ``fastapi.HTTPException(401)`` when the
    key is missing, malformed, unknown, revoked or expired (the failure is audited). With
    ``required=False`` (auth switched off) a request without a key runs as ``sql.principal``."""
    from fastapi import HTTPException

    key = key_from_request(request)
    if key is None and not required:
        return ws.settings.sql.principal
    try:
        return ws.governance.authenticate(key)
    except AuthenticationError as exc:
        raise HTTPException(status_code=401, detail=str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
