"""Console pages: the Jinja2 environment, the page renderer apps share, and the ``/`` route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import ChoiceLoader, FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment

from laketown import __version__

HERE = Path(__file__).parent
STATIC_URL = "/static/console"
#: only this origin: no CDN, no inline script or style (so injected markup cannot run)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_loader = ChoiceLoader([FileSystemLoader(HERE / "templates")])
_env = SandboxedEnvironment(loader=_loader, autoescape=True)


def register_templates(directory: str | Path) -> None:
    """Let pages render templates from ``directory`` too (an app's ``templates`` folder);
    they can ``{% extends "base.html" %}`` to get the console's layout and nav bar."""
    loader = FileSystemLoader(Path(directory))
    if all(getattr(existing, "searchpath", None) != loader.searchpath for existing in _loader.loaders):
        _loader.loaders.append(loader)


def render_page(request: Request, template: str, title: str, **context: Any) -> HTMLResponse:
    """Render ``template`` inside the console layout (nav bar from ``app.state.nav``), with the
    console's Content-Security-Policy. ``context`` values are autoescaped."""
    app = request.app
    html = _env.get_template(template).render(
        title=title,
        nav=list(app.state.nav),
        current_path=request.url.path,
        root_path=request.scope.get("root_path", ""),
        static_url=request.scope.get("root_path", "") + STATIC_URL,
        workspace=str(app.state.workspace.path),
        version=__version__,
        **context,
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})


def mount_console(app: FastAPI) -> None:
    """Serve the console at ``/`` and its assets under ``/static/console``."""
    app.mount(STATIC_URL, StaticFiles(directory=HERE / "static"), name="console-static")

    @app.get("/", include_in_schema=False)
    def console(request: Request) -> HTMLResponse:
        return render_page(request, "console.html", title="Console")
