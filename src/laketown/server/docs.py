"""API docs at ``/docs`` (Swagger UI), its JS/CSS served from the ``fastapi-offline``
package's files: FastAPI's default loads them from a CDN, which Laketown never does.

No ``/redoc``: the ReDoc bundle fetches its logo from Redocly's CDN even when served locally."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_URL = "/static/docs"


def mount_docs(app: FastAPI, docs_url: str = "/docs") -> None:
    """Serve Swagger UI for ``app.openapi_url`` from local files."""
    static_dir = files("fastapi_offline") / "static"
    app.mount(STATIC_URL, StaticFiles(directory=str(static_dir)), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = f"{docs_url}/oauth2-redirect"

    @app.get(docs_url, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_URL}/favicon.png",
            oauth2_redirect_url=oauth2_redirect_url,
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
