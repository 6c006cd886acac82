"""The slot where apps plug in: their API router and their console page in the nav bar."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from laketown.errors import LaketownError


def mount_app_page(
    app: FastAPI,
    title: str,
    path: str,
    router: APIRouter | None = None,
    static_dir: str | Path | None = None,
) -> None:
    """Include an app's ``router`` (its API and its page) and list its page in the console's
    navigation as ``title`` -> ``path``. The router serves ``path`` itself (see
    :func:`laketown.console.render_page` for a page in the console's layout); the files of
    ``static_dir`` (the page's scripts and styles) are served under ``<path>/static/``. The
    console's own modules (``/static/console/chart.js``: ``drawChart``) can be imported too."""
    if not path.startswith("/"):
        raise LaketownError(f"console page path {path!r} must start with '/', e.g. '/apps/fraud'")
    taken = [entry for entry in app.state.nav if entry["path"] == path]
    if taken:
        raise LaketownError(f"console page path {path!r} is already used by {taken[0]['title']!r}")
    if static_dir is not None:
        if not Path(static_dir).is_dir():
            raise LaketownError(f"static folder {str(static_dir)!r} of console page {path!r} does not exist")
        app.mount(f"{path.rstrip('/')}/static", StaticFiles(directory=static_dir), name=f"static:{path}")
    if router is not None:
        app.include_router(router)
    app.state.nav.append({"title": title, "path": path})
