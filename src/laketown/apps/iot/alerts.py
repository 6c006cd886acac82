"""Alerts (IoT Events): open, de-duplicate, escalate and auto-clear conditions per device.

A condition is observed per ``(device, kind)`` at each inference micro-batch. The first active
observation opens an alert; while it stays open, further active observations only update it
(count, last value, severity going up is an ``escalate`` event); after ``clear_after``
observations in a row that are not active, the alert clears by itself. Each event (``open``,
``escalate``, ``clear``) goes to the ``iot_alerts`` stream, to ``curated.iot_alerts`` and, if
configured, to a webhook (JSON POST).
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

ALERTS_STREAM = "iot_alerts"
ALERTS_TABLE = "curated.iot_alerts"
SEVERITIES = ("info", "warning", "critical")
ALERT_SCHEMA = pa.schema([
    ("alert_id", pa.string()), ("event", pa.string()), ("device_id", pa.string()), ("kind", pa.string()),
    ("severity", pa.string()), ("state", pa.string()), ("opened_ms", pa.int64()), ("event_ms", pa.int64()),
    ("count", pa.int64()), ("value", pa.float64()), ("message", pa.string()),
])


@dataclass
class Observation:
    device_id: str
    kind: str
    active: bool
    ts_ms: int
    severity: str = "warning"
    value: float | None = None
    message: str = ""


@dataclass
class Alert:
    alert_id: str
    device_id: str
    kind: str
    severity: str
    opened_ms: int
    updated_ms: int
    count: int = 1
    value: float | None = None
    message: str = ""
    quiet: int = 0

    def event(self, name: str, ts_ms: int, state: str) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "event": name, "device_id": self.device_id, "kind": self.kind,
                "severity": self.severity, "state": state, "opened_ms": self.opened_ms, "event_ms": ts_ms,
                "count": self.count, "value": self.value, "message": self.message}


class AlertManager:
    """Open alerts by ``(device, kind)``; ``observe`` returns the events it caused."""

    def __init__(self, clear_after: int = 3, sinks: Iterable[Callable[[list[dict[str, Any]]], Any]] = ()):
        if clear_after < 1:
            raise ValueError(f"clear_after must be >= 1, got {clear_after}")
        self.clear_after = clear_after
        self.open: dict[tuple[str, str], Alert] = {}
        self.sinks = list(sinks)
        self.events_sent = 0

    def observe(self, observations: Iterable[Observation]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for ob in observations:
            if ob.severity not in SEVERITIES:
                raise ValueError(f"severity {ob.severity!r} is not one of {', '.join(SEVERITIES)}")
            key = (ob.device_id, ob.kind)
            alert = self.open.get(key)
            if ob.active:
                if alert is None:
                    alert = Alert(uuid.uuid4().hex[:16], ob.device_id, ob.kind, ob.severity, ob.ts_ms, ob.ts_ms,
                                  value=ob.value, message=ob.message)
                    self.open[key] = alert
                    events.append(alert.event("open", ob.ts_ms, "open"))
                    continue
                alert.count += 1
                alert.quiet = 0
                alert.updated_ms, alert.value, alert.message = ob.ts_ms, ob.value, ob.message or alert.message
                if SEVERITIES.index(ob.severity) > SEVERITIES.index(alert.severity):
                    alert.severity = ob.severity
                    events.append(alert.event("escalate", ob.ts_ms, "open"))
            elif alert is not None:
                alert.quiet += 1
                if alert.quiet >= self.clear_after:
                    del self.open[key]
                    events.append(alert.event("clear", ob.ts_ms, "cleared"))
        if events:
            for sink in self.sinks:
                sink(events)
            self.events_sent += len(events)
        return events

    def open_alerts(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in asdict(a).items() if k != "quiet"} for a in
                sorted(self.open.values(), key=lambda a: (SEVERITIES.index(a.severity) * -1, a.opened_ms))]


def stream_sink(streams: Any) -> Callable[[list[dict[str, Any]]], None]:
    from laketown.streams.base import encode_json

    streams.create_stream(ALERTS_STREAM, partitions=1, exist_ok=True)
    producer = streams.producer(ALERTS_STREAM)

    def send(events: list[dict[str, Any]]) -> None:
        producer.produce(encode_json(events), keys=[e["device_id"].encode() for e in events],
                         timestamps_ms=[e["event_ms"] for e in events])
    return send


def table_sink(lake: Any) -> Callable[[list[dict[str, Any]]], None]:
    table = lake.create_table(ALERTS_TABLE, schema=ALERT_SCHEMA, exist_ok=True)

    def send(events: list[dict[str, Any]]) -> None:
        table.append(pa.Table.from_pylist(events, schema=ALERT_SCHEMA))
    return send


def webhook_sink(url: str, timeout_s: float = 2.0) -> Callable[[list[dict[str, Any]]], None]:
    """POST each batch of events as JSON to ``url``; failures are counted, never raised."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"webhook url {url!r} must start with http:// or https://")
    stats = {"failures": 0}

    def send(events: list[dict[str, Any]]) -> None:
        req = urllib.request.Request(url, data=json.dumps({"events": events}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            urllib.request.urlopen(req, timeout=timeout_s).close()
        except OSError:
            stats["failures"] += 1
    send.stats = stats  # type: ignore[attr-defined]
    return send


def current_alerts(ws: Any, limit: int = 200) -> list[dict[str, Any]]:
    """Open alerts as the lake records them: the last event of each alert, unless it cleared."""
    if not ws.lake.exists(ALERTS_TABLE):
        return []
    events = ws.table(ALERTS_TABLE).to_arrow().to_pylist()
    last: dict[str, dict[str, Any]] = {}
    for e in sorted(events, key=lambda e: e["event_ms"]):
        last[e["alert_id"]] = e
    open_ = [e for e in last.values() if e["state"] == "open"]
    return sorted(open_, key=lambda e: (-SEVERITIES.index(e["severity"]), -e["event_ms"]))[:limit]
