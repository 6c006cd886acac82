"""``POST /api/login`` turns an API key into the console's HttpOnly cookie; ``/api/logout`` drops it.

The demo prints a console link ``http://127.0.0.1:8000/#key=ltk_...``: the key sits in the URL
fragment, which browsers never send to the server (so it is in no access log); the page posts
it here and forgets it.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from laketown.server.auth import PrincipalDep, WorkspaceDep

router = APIRouter(tags=["auth"])


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str


@router.post("/api/login")
def login(body: Login, ws: WorkspaceDep) -> JSONResponse:
    """Check an API key and keep it in an HttpOnly, SameSite=Strict cookie for the console."""
    from laketown.governance.errors import AuthenticationError
    from laketown.governance.http import COOKIE

    try:
        principal = ws.governance.authenticate(body.key)
    except AuthenticationError as exc:
        raise HTTPException(status_code=401, detail=str(exc)) from None
    response = JSONResponse({"principal": principal})
    response.set_cookie(COOKIE, body.key, httponly=True, samesite="strict", path="/")
    return response


@router.post("/api/logout")
def logout() -> JSONResponse:
    from laketown.governance.http import COOKIE

    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/api/whoami")
def whoami(principal: PrincipalDep) -> dict[str, str]:
    """The principal the request's key belongs to."""
    return {"principal": principal}
