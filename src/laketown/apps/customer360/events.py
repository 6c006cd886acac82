"""Web and app events: JSON records on the stream ``c360_events`` (keyed by account), delivered
to ``raw.c360_events`` by the platform's delivery sink (exactly once; records that are not
JSON objects of the table's shape go to ``raw.c360_events_dead_letters`` with the reason)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from laketown.apps.customer360.names import (
    EVENTS_DEAD_LETTERS,
    EVENTS_STREAM,
    RAW_EVENTS,
)

SCHEMA = pa.schema([("event_id", pa.string()), ("account_id", pa.string()), ("session_id", pa.string()),
                    ("event_type", pa.string()), ("product_id", pa.string()), ("ts", pa.string())])
#: what `laketown serve` runs for the app (AppSpec.sinks)
SINK_OPTIONS = ["--buffer-seconds", "1", "--dead-letter-table", EVENTS_DEAD_LETTERS]


def prepare(ws: Any) -> None:
    """The stream and the raw table the sink fills."""
    ws.streams.create_stream(EVENTS_STREAM, partitions=2, exist_ok=True)
    ws.lake.create_table(RAW_EVENTS, schema=SCHEMA, exist_ok=True)


def publish(ws: Any, events: list[dict[str, Any]], batch: int = 20_000) -> int:
    """Produce events to the stream, keyed by account (one account's events stay in order)."""
    prepare(ws)
    with ws.streams.producer(EVENTS_STREAM) as producer:
        for i in range(0, len(events), batch):
            producer.produce_json(events[i:i + batch], key_field="account_id")
        producer.flush()
    return len(events)


def deliver(ws: Any, idle_exit_s: float = 0.5) -> dict[str, Any]:
    """Run the delivery sink until the stream is drained; returns its statistics."""
    from laketown.streams.delivery import DeliverySink

    prepare(ws)
    sink = DeliverySink(ws.lake, ws.streams, EVENTS_STREAM, RAW_EVENTS, buffer_seconds=0.2,
                        dead_letter_table=EVENTS_DEAD_LETTERS, name="c360-events")
    return sink.run(idle_exit_s=idle_exit_s).as_dict()
