"""The engagement app in the server: the tracking endpoints (signed links, no API key), the
API (``/api/engagement``), the worker thread (due journey steps, scheduled campaigns) and the
console page ``/apps/engagement``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from laketown.apps.engagement.events import SINKS  # noqa: F401 - AppSpec.sinks
from laketown.apps.engagement.tracking import PREFIX

HERE = Path(__file__).parent
PAGE = "/apps/engagement"


def mount(app: Any, ws: Any) -> None:
    """Include the routers, start the worker (one per workspace) and list the page."""
    from laketown.apps.engagement.api import api_router, tracking_router
    from laketown.apps.engagement.service import Engagement
    from laketown.console import register_templates, render_page
    from laketown.server import mount_app_page

    eng = Engagement(ws)
    app.state.engagement = eng
    app.state.self_authenticated.append(PREFIX)
    app.include_router(tracking_router(eng))
    app.include_router(api_router(eng))
    eng.start_worker()

    register_templates(HERE / "templates")
    page = APIRouter()

    @page.get(PAGE, include_in_schema=False)
    def engagement_page(request: Request) -> HTMLResponse:
        return render_page(request, "engagement.html", title="Customer engagement")

    mount_app_page(app, "Engagement", PAGE, page, static_dir=HERE / "static")
