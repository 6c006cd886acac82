"""``/api/streams`` and ``/api/jobs``: streams with their end offsets, group lag, and the status
of running sinks and processors; plus the console page ``/streams`` that shows them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from laketown.server.auth import WorkspaceDep
from laketown.streams.status import read_statuses

router = APIRouter(tags=["streams"])


@router.get("/api/streams")
def list_streams(ws: WorkspaceDep) -> list[dict[str, Any]]:
    """Every stream: partitions, retention, end offsets and the records they add up to."""
    out = []
    for info in ws.streams.list_streams():
        out.append({
            "name": info.name,
            "partitions": info.partitions,
            "retention_ms": info.retention_ms,
            "retention_bytes": info.retention_bytes,
            "end_offsets": {str(p): o for p, o in sorted(info.end_offsets.items())},
            "records": sum(info.end_offsets.values()),
        })
    return out


@router.get("/api/streams/{name}/lag")
def stream_lag(ws: WorkspaceDep, name: str, group: str) -> dict[str, Any]:
    """Records not yet committed by consumer group ``group``, per partition."""
    lag = ws.streams.lag(name, group)
    return {"stream": name, "group": group, "lag": {str(p): n for p, n in lag.items()}, "total": sum(lag.values())}


@router.get("/api/jobs")
def list_jobs(ws: WorkspaceDep) -> list[dict[str, Any]]:
    """Sinks and processors that reported a status, with their lag behind the stream's end."""
    ends: dict[str, dict[int, int]] = {}
    jobs = read_statuses(ws.path)
    for job in jobs:
        stream = job.get("stream")
        offsets = job.get("offsets")
        if not stream or offsets is None:
            continue
        if stream not in ends:
            try:
                ends[stream] = ws.streams.describe(stream).end_offsets
            except Exception:  # noqa: BLE001 - a job of a deleted stream still shows, without lag
                ends[stream] = {}
        mine = [int(p) for p in job.get("partitions", [])] or list(ends[stream])
        job["lag"] = sum(max(0, ends[stream].get(p, 0) - int(offsets.get(str(p), 0))) for p in mine)
    return jobs


@router.get("/streams", include_in_schema=False)
def streams_page(request: Request) -> HTMLResponse:
    from laketown.console import render_page

    return render_page(request, "streams.html", title="Streams")
