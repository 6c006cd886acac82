"""The slot where apps plug in: their API router and their console page in the nav bar."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from laketown.errors import LaketownError


def mount_app_page(app: FastAPI, title: str, path: str, router: APIRouter | None = None) -> None:
    """Include an app's ``router`` (its API and its page) and list its page in the console's
    navigation as ``title`` -> ``path``. The router serves ``path`` itself (see
    :func:`laketown.console.render_page` for a page in the console's layout)."""
    if not path.startswith("/"):
        raise LaketownError(f"console page path {path!r} must start with '/', e.g. '/apps/fraud'")
    taken = [entry for entry in app.state.nav if entry["path"] == path]
    if taken:
        raise LaketownError(f"console page path {path!r} is already used by {taken[0]['title']!r}")
    if router is not None:
        app.include_router(router)
    app.state.nav.append({"title": title, "path": path})
