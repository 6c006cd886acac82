"""The event history that :meth:`SegmentEngine.apply_events` checks users against, kept in memory
between calls so that a batch of events costs a lookup, not a scan of ``raw.engagement_events``.

It holds the event types (and days) the saved rules count: read from the lake on first use, when
the rules need other types or days, and every ``ttl_s`` seconds (to pick up events that reached
the lake without passing through ``apply_events``); the events handed to ``apply_events`` are
added at once and kept until the lake has them, so a reload never loses one. Each event counts
once, by ``event_id``.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from laketown.apps.engagement.segments_rules import EventCount, parse_time
from laketown.errors import LaketownError

EVENTS_TABLE = "raw.engagement_events"
SCHEMA = pa.schema([("event_id", pa.string()), ("user_id", pa.string()), ("event_type", pa.string()),
                    ("ts", pa.timestamp("us", tz="UTC"))])


def normalized(events: pa.Table) -> pa.Table:
    """``events`` as :data:`SCHEMA`: ISO text times parsed, a missing event_id null."""
    missing = {"user_id", "event_type", "ts"} - set(events.column_names)
    if missing:
        raise LaketownError(f"events need columns user_id, event_type, ts; missing {', '.join(sorted(missing))}")
    if "event_id" not in events.column_names:
        events = events.append_column("event_id", pa.nulls(events.num_rows, pa.string()))
    events = events.select(SCHEMA.names)
    if pa.types.is_string(events["ts"].type):  # ISO text, as events are emitted as JSON
        ts = [parse_time(t, "events.ts") if t else None for t in events["ts"].to_pylist()]
        events = events.set_column(3, "ts", pa.array(ts, SCHEMA.field("ts").type))
    return events.cast(SCHEMA)


class EventHistory:
    """Events of the counted types, by user, for the incremental segment re-check."""

    def __init__(self, ws: Any, ttl_s: float = 300.0):
        self.ws = ws
        self.ttl_s = ttl_s
        self._key: tuple[frozenset[str], float | None] | None = None
        self._table = SCHEMA.empty_table()
        self._pending = SCHEMA.empty_table()
        self._loaded = 0.0
        self._lock = threading.Lock()

    def for_users(self, new: pa.Table, touched: pa.Array, needed: list[EventCount], now: datetime) -> pa.Table:
        """The touched users' events (lake and ``new``, each once) of the ``needed`` types."""
        new = normalized(new)
        if not needed:
            return new
        days = [k.within_days for k in needed]
        key = (frozenset(k.event_type for k in needed), None if None in days else max(days))
        with self._lock:  # the app's worker thread and a caller may share one engine
            return self._merge(new, touched, key, now)

    def _merge(self, new: pa.Table, touched: pa.Array, key: tuple[frozenset[str], float | None],
               now: datetime) -> pa.Table:
        if key != self._key or time.monotonic() - self._loaded > self.ttl_s:
            self._reload(key, now)
        mine = self._table.filter(pc.is_in(self._table["user_id"], value_set=touched))
        known = mine["event_id"].combine_chunks()
        fresh = new.filter(pc.or_kleene(pc.is_null(new["event_id"]),
                                        pc.invert(pc.is_in(new["event_id"], value_set=known))))
        self._table = pa.concat_tables([self._table, fresh])
        self._pending = pa.concat_tables([self._pending, fresh])
        if self._table["user_id"].num_chunks > 64:  # one small chunk per call adds up
            self._table, self._pending = self._table.combine_chunks(), self._pending.combine_chunks()
        return pa.concat_tables([mine, fresh])

    def _reload(self, key: tuple[frozenset[str], float | None], now: datetime) -> None:
        types, days = key
        loaded = SCHEMA.empty_table()
        if self.ws.lake.exists(EVENTS_TABLE):
            from pyiceberg.expressions import And, GreaterThanOrEqual, In

            expr: Any = In("event_type", set(types))
            if days is not None:  # prunes the day(ts) partitions
                expr = And(expr, GreaterThanOrEqual("ts", (now - timedelta(days=days)).isoformat()))
            loaded = self.ws.table(EVENTS_TABLE).scan(filter=expr, columns=SCHEMA.names).cast(SCHEMA)
        # events handed in earlier that the lake does not hold yet stay; the others were delivered
        pending = self._pending.filter(pc.is_in(self._pending["event_type"], value_set=pa.array(sorted(types))))
        pending = pending.filter(pc.or_kleene(pc.is_null(pending["event_id"]), pc.invert(
            pc.is_in(pending["event_id"], value_set=loaded["event_id"].combine_chunks()))))
        self._pending = pending
        self._table = pa.concat_tables([loaded, pending]).combine_chunks()
        self._key = key
        self._loaded = time.monotonic()
