"""The IoT app in the server: its API (``/api/iot``) and console page (``/apps/iot``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

HERE = Path(__file__).parent
PAGE = "/apps/iot"


def mount(app: Any, ws: Any) -> None:
    """Include the IoT API and list the page in the console's navigation."""
    from laketown.apps.iot.api import router_for_workspace
    from laketown.console import register_templates, render_page
    from laketown.server import mount_app_page

    register_templates(HERE / "templates")
    page = APIRouter()

    @page.get(PAGE, include_in_schema=False)
    def iot_page(request: Request) -> HTMLResponse:
        return render_page(request, "iot.html", title="IoT telemetry")

    app.include_router(router_for_workspace(ws))
    mount_app_page(app, "IoT telemetry", PAGE, page, static_dir=HERE / "static")
