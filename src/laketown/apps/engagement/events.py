"""Engagement events: send, delivered, bounce, open, click, unsubscribe, conversion (and the
app events that trigger journeys) go to the stream ``engagement_events`` keyed by user, and a
delivery sink moves them, exactly once and de-duplicated by ``event_id``, into
``raw.engagement_events``."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow as pa

EVENTS_STREAM = "engagement_events"
EVENTS_TABLE = "raw.engagement_events"
EVENTS_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("user_id", pa.string()), ("event_type", pa.string()),
    ("ts", pa.timestamp("us", tz="UTC")), ("campaign_id", pa.string()), ("journey_id", pa.string()),
    ("step_id", pa.string()), ("properties", pa.string()),
])
MESSAGE_EVENTS = ("send", "delivered", "bounce", "open", "click", "unsubscribe", "conversion")
#: how `laketown serve` delivers the events into the lake (AppSpec.sinks)
SINKS = [(EVENTS_STREAM, EVENTS_TABLE, ["--key", "event_id", "--buffer-seconds", "1"])]


def prepare(ws: Any) -> None:
    ws.streams.create_stream(EVENTS_STREAM, partitions=2, exist_ok=True)
    ws.lake.create_table(EVENTS_TABLE, schema=EVENTS_SCHEMA, partition_by=["day(ts)"], exist_ok=True)


def event(user_id: str, event_type: str, *, event_id: str | None = None, ts: dt.datetime | None = None,
          campaign_id: str | None = None, journey_id: str | None = None, step_id: str | None = None,
          **properties: Any) -> dict[str, Any]:
    return {"event_id": event_id or uuid.uuid4().hex, "user_id": str(user_id), "event_type": event_type,
            "ts": (ts or dt.datetime.now(dt.UTC)).isoformat(), "campaign_id": campaign_id, "journey_id": journey_id,
            "step_id": step_id, "properties": json.dumps(properties, default=str) if properties else None}


class EventLog:
    """Appends events durably to the stream (``emit`` returns once they are stored); local
    listeners (the journey engine, tests) see them too."""

    def __init__(self, ws: Any):
        prepare(ws)
        self.producer = ws.streams.producer(EVENTS_STREAM)
        self.lock = threading.Lock()
        self.listeners: list[Callable[[list[dict[str, Any]]], None]] = []

    def emit(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        with self.lock:
            self.producer.produce_json(events, key_field="user_id")
        for listener in list(self.listeners):
            listener(events)

    def close(self) -> None:
        self.producer.close()


def deliver(ws: Any, idle_exit_s: float = 0.5, max_seconds: float = 60.0) -> int:
    """Move what the stream holds into ``raw.engagement_events`` now (for the demo and the CLI;
    ``laketown serve`` runs the same sink continuously). Returns rows written."""
    from laketown.streams.delivery import DeliverySink

    prepare(ws)
    sink = DeliverySink(ws.lake, ws.streams, EVENTS_STREAM, EVENTS_TABLE, buffer_seconds=0.2,
                        key_columns=["event_id"], name="sink-engagement-events")
    return sink.run(max_seconds=max_seconds, idle_exit_s=idle_exit_s).records_written
