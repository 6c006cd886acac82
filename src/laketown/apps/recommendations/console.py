"""The recommendations app in the server: its API (``/api/recs``) and console page (``/apps/recs``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

HERE = Path(__file__).parent
PAGE = "/apps/recs"


EVENTS_STREAM = "recs_events"
EVENTS_TABLE = "raw.recs_events"
#: how `laketown serve` delivers PutEvents into the lake (AppSpec.sinks)
SINKS = [(EVENTS_STREAM, EVENTS_TABLE, ["--buffer-seconds", "1"])]


def prepare(ws: Any) -> None:
    """The events stream and the table the sink fills (created once)."""
    import pyarrow as pa

    ws.streams.create_stream(EVENTS_STREAM, partitions=2, exist_ok=True)
    schema = pa.schema([("user_id", pa.string()), ("item_id", pa.string()), ("event_type", pa.string()),
                        ("timestamp", pa.int64()), ("value", pa.float64())])
    ws.lake.create_table(EVENTS_TABLE, schema=schema, partition_by=["event_type"], exist_ok=True)


def events_to_stream(ws: Any) -> Any:
    """A PutEvents hook: every accepted event is also appended, durably, to the stream
    ``recs_events`` (keyed by user), from which ``laketown sink start recs_events raw.recs_events``
    (or the demo) delivers them to the lake."""
    import threading

    prepare(ws)
    producer = ws.streams.producer(EVENTS_STREAM)
    lock = threading.Lock()

    def hook(user_id: str, events: list[dict[str, Any]]) -> None:
        with lock:
            producer.produce_json([{"user_id": user_id, **e} for e in events], key_field="user_id")

    return hook


def mount(app: Any, ws: Any) -> None:
    """Include the campaigns API and list the page in the console's navigation."""
    from laketown.apps.recommendations.api import build_router, service_for_workspace
    from laketown.console import register_templates, render_page
    from laketown.server import mount_app_page

    register_templates(HERE / "templates")
    page = APIRouter()

    @page.get(PAGE, include_in_schema=False)
    def recs_page(request: Request) -> HTMLResponse:
        return render_page(request, "recs.html", title="Recommendations")

    service = service_for_workspace(ws)
    service.event_hooks.append(events_to_stream(ws))
    app.state.recs_service = service
    app.include_router(build_router(service))
    mount_app_page(app, "Recommendations", PAGE, page, static_dir=HERE / "static")
