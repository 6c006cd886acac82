"""The IoT API (``/api/iot``): fleet status, a device's latest readings, open alerts, the
asset hierarchy with its latest metrics. A thin skin over the lake, the streams and the
inference's status file."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from laketown.apps.iot.alerts import current_alerts
from laketown.apps.iot.assets import ASSETS_TABLE
from laketown.apps.iot.inference import status_path
from laketown.apps.iot.ingest import TELEMETRY_STREAM
from laketown.apps.iot.registry import NAME
from laketown.apps.iot.simulator import SENSORS
from laketown.streams.base import partition_for_key


def fleet_status(ws: Any) -> dict[str, Any]:
    path = status_path(ws)
    if not path.exists():
        return {"updated_ms": None, "devices": [], "alerts": []}
    return json.loads(path.read_text())


#: how far back the live chart reaches from the newest reading
LIVE_WINDOW_MS = 15 * 60 * 1000


def latest_readings(ws: Any, device_id: str, limit: int = 300, scan: int = 20_000) -> list[dict[str, Any]]:
    """The device's newest readings from the telemetry stream (the tail of its partition)."""
    if TELEMETRY_STREAM not in {s.name for s in ws.streams.list_streams()}:
        return []
    info = ws.streams.describe(TELEMETRY_STREAM)
    part = partition_for_key(device_id.encode(), info.partitions)
    end = info.end_offsets.get(part, 0)
    rows: list[dict[str, Any]] = []
    with ws.streams.consumer(TELEMETRY_STREAM, partitions=[part]) as c:
        c.seek(part, max(0, end - scan))
        while True:
            batch = c.poll(max_records=scan, timeout_s=0.2)
            if not batch.num_rows:
                break
            keys = batch.column("key").to_pylist()
            mine = [json.loads(v) for k, v in zip(keys, batch.column("value").to_pylist()) if k == device_id.encode()]
            rows.extend(mine)
            if batch.column("offset")[-1].as_py() >= end - 1:
                break
    rows.sort(key=lambda r: r.get("ts", 0))
    if rows:  # one stretch of time: earlier runs of a fleet (another clock) stay off the live chart
        newest = rows[-1].get("ts", 0)
        rows = [r for r in rows if newest - r.get("ts", 0) <= LIVE_WINDOW_MS]
    keep = ["ts", *SENSORS]
    return [{k: r.get(k) for k in keep} for r in rows[-limit:]]


def asset_tree(ws: Any) -> list[dict[str, Any]]:
    """Sites -> lines -> machines, each node with its latest 1-minute metrics (machines: their
    own; lines and sites: over every machine below, weighted by reading count)."""
    if not ws.lake.exists(ASSETS_TABLE):
        return []
    assets = ws.table(ASSETS_TABLE).to_arrow().to_pylist()
    latest: dict[str, dict[str, Any]] = {}
    if ws.lake.exists("curated.iot_metrics_1m"):
        m = ws.table("curated.iot_metrics_1m").to_arrow()
        cols = [c for c in ("device_id", "window_end", "n", "temp_mean", "vibration_mean", "temp_max") if c in m.column_names]
        for r in m.select(cols).to_pylist():
            cur = latest.get(r["device_id"])
            if cur is None or r["window_end"] > cur["window_end"]:
                latest[r["device_id"]] = r
    sites: dict[str, dict[str, Any]] = {}
    for a in assets:
        site = sites.setdefault(a.get("site") or "-", {"name": a.get("site") or "-", "kind": "site", "children": {}})
        line = site["children"].setdefault(a.get("line") or "-", {"name": a.get("line") or "-", "kind": "line", "children": {}})
        line["children"][a["device_id"]] = {"name": a["device_id"], "kind": "machine", "metrics": _metrics([latest.get(a["device_id"])])}

    def finish(node: dict[str, Any]) -> dict[str, Any]:
        kids = [finish(c) for c in node.get("children", {}).values()]
        if "children" in node:
            node["children"] = kids
            node["metrics"] = _merge([k["metrics"] for k in kids])
        return node
    return [finish(s) for s in sites.values()]


def _metrics(rows: list[dict[str, Any] | None]) -> dict[str, Any]:
    r = rows[0]
    if not r:
        return {"n": 0}
    return {"n": r["n"], "temp_mean": r.get("temp_mean"), "temp_max": r.get("temp_max"),
            "vibration_mean": r.get("vibration_mean"), "window_end": str(r["window_end"])}


def _merge(ms: list[dict[str, Any]]) -> dict[str, Any]:
    n = sum(m.get("n") or 0 for m in ms)
    if not n:
        return {"n": 0}
    mean = sum((m.get("temp_mean") or 0) * (m.get("n") or 0) for m in ms) / n
    vib = sum((m.get("vibration_mean") or 0) * (m.get("n") or 0) for m in ms) / n
    mx = max((m["temp_max"] for m in ms if m.get("temp_max") is not None), default=None)
    return {"n": n, "temp_mean": mean, "temp_max": mx, "vibration_mean": vib}


def router_for_workspace(ws: Any) -> APIRouter:
    router = APIRouter(prefix="/api/iot", tags=["iot"])

    @router.get("/fleet")
    def fleet() -> dict[str, Any]:
        """Every device with its health, predicted RUL and last reading time."""
        return fleet_status(ws)

    @router.get("/devices/{device_id}/readings")
    def readings(device_id: str, limit: int = Query(300, ge=1, le=5000)) -> dict[str, Any]:
        """The device's newest readings (for the live chart)."""
        if not NAME.match(device_id):
            raise HTTPException(400, f"device id {device_id!r} is not valid")
        return {"device_id": device_id, "readings": latest_readings(ws, device_id, limit)}

    @router.get("/alerts")
    def alerts(limit: int = Query(200, ge=1, le=1000)) -> dict[str, Any]:
        """Open alerts (the latest event of each alert not cleared), most severe first."""
        return {"alerts": current_alerts(ws, limit)}

    @router.get("/assets")
    def assets() -> dict[str, Any]:
        """The asset hierarchy with the latest 1-minute metrics of every node."""
        return {"assets": asset_tree(ws)}

    return router


__all__ = ["router_for_workspace"]
