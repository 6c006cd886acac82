"""The Customer 360 app in the server: its API (``/api/c360``) and console page (``/apps/c360``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from laketown.apps.customer360.events import SINK_OPTIONS
from laketown.apps.customer360.names import EVENTS_STREAM, RAW_EVENTS

HERE = Path(__file__).parent
PAGE = "/apps/c360"
#: how `laketown serve` delivers web/app events into the lake (AppSpec.sinks)
SINKS = [(EVENTS_STREAM, RAW_EVENTS, SINK_OPTIONS)]


def mount(app: Any, ws: Any) -> None:
    """Include the Customer 360 API and SPARQL endpoint; list the page in the navigation."""
    from laketown.apps.customer360.api import mount_routes
    from laketown.apps.customer360.events import prepare
    from laketown.apps.customer360.service import Customer360
    from laketown.console import register_templates, render_page
    from laketown.server import mount_app_page

    register_templates(HERE / "templates")
    page = APIRouter()

    @page.get(PAGE, include_in_schema=False)
    def c360_page(request: Request) -> HTMLResponse:
        return render_page(request, "c360.html", title="Customer 360")

    prepare(ws)  # the events stream and raw table exist before `serve` starts the sink
    service = Customer360(ws)
    app.state.c360_service = service
    mount_routes(app, service)
    mount_app_page(app, "Customer 360", PAGE, page, static_dir=HERE / "static")
