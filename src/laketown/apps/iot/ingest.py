"""Ingest (IoT Core's message path): broker -> validation -> rules -> streams.

:class:`Ingest` subscribes to device topics with the service credentials, collects messages
in memory and hands them every ``flush_s`` (or ``max_batch`` messages) to :func:`validate`:
a payload is a JSON object or array of objects, or the same compressed with zlib (what the
edge agent sends). Each record must carry a numeric ``ts`` (epoch ms); ``device_id`` comes
from the topic (``devices/<id>/...``) and a payload that names another device is refused.
Good records go to the ``iot_telemetry`` stream keyed by device (event time = ``ts``), and
through every rule to the rule's stream; bad payloads go to ``iot_errors`` with the reason.
Repeats of a record (same device and ``seq``, from at-least-once delivery) are dropped.
"""

from __future__ import annotations

import json
import math
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from laketown.apps.iot.registry import TOPIC_ROOT
from laketown.apps.iot.rules import Rule
from laketown.streams.base import encode_json

TELEMETRY_STREAM = "iot_telemetry"
ERRORS_STREAM = "iot_errors"
DEFAULT_FILTER = f"{TOPIC_ROOT}/+/telemetry"
MAX_ERROR_PAYLOAD = 2000


@dataclass
class IngestStats:
    messages: int = 0
    records: int = 0
    errors: int = 0
    duplicates: int = 0
    rule_records: dict[str, int] = field(default_factory=dict)


@dataclass
class Validated:
    records: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    duplicates: int = 0


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="milliseconds")


def _error(topic: str, payload: bytes, reason: str, received_ms: int) -> dict[str, Any]:
    return {"topic": topic, "payload": payload[:MAX_ERROR_PAYLOAD].decode("utf-8", errors="replace"),
            "reason": reason, "received_ms": received_ms}


def decode_payload(payload: bytes) -> list[Any]:
    """JSON (object or array), or zlib-compressed JSON; raises ValueError with the reason."""
    if not payload:
        raise ValueError("empty payload")
    if payload[:1] == b"\x78":  # the first byte of a zlib stream (no JSON text starts with 'x')
        try:
            payload = zlib.decompress(payload)
        except zlib.error as exc:
            raise ValueError(f"payload looks zlib-compressed but does not decompress ({exc})") from None
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"payload is not valid JSON: {exc}") from None
    return obj if isinstance(obj, list) else [obj]


def validate(messages: Sequence[tuple[str, bytes, int]], last_seq: dict[str, int] | None = None) -> Validated:
    """Check ``(topic, payload, received_ms)`` messages; records get ``device_id``,
    ``time`` (ISO, from ``ts``) and ``received_ms``. ``last_seq`` (updated) drops repeats."""
    records: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    dups = 0
    for topic, payload, received in messages:
        levels = topic.split("/")
        device = levels[1] if len(levels) >= 3 and levels[0] == TOPIC_ROOT else None
        try:
            items = decode_payload(payload)
        except ValueError as exc:
            errors.append(_error(topic, payload, str(exc), received))
            continue
        for i, rec in enumerate(items):
            where = f"record {i}: " if len(items) > 1 else ""
            reason = _check_record(rec, device)
            if reason:
                errors.append(_error(topic, json.dumps(rec, default=str).encode(), where + reason, received))
                continue
            dev = device or str(rec.get("device_id", ""))
            seq = rec.get("seq")
            if last_seq is not None and isinstance(seq, int):
                if seq <= last_seq.get(dev, -1):
                    dups += 1
                    continue
                last_seq[dev] = seq
            rec["device_id"] = dev
            rec["time"] = _iso(int(rec["ts"]))
            rec["received_ms"] = received
            rec["topic"] = topic
            records.append(rec)
    return Validated(records, errors, dups)


def _check_record(rec: Any, device: str | None) -> str | None:
    if not isinstance(rec, dict):
        return f"a record must be a JSON object, got {type(rec).__name__}"
    ts = rec.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts) or ts < 0:
        return f"field 'ts' must be epoch milliseconds (a number >= 0), got {ts!r}"
    named = rec.get("device_id")
    if device is not None and named is not None and named != device:
        return f"device_id {named!r} in the payload does not match the topic's device {device!r}"
    if device is None and not named:
        return "no device: publish under devices/<id>/... or give device_id"
    for k, v in rec.items():
        if isinstance(v, (dict, list)):
            return f"field {k!r} must be a number, string, boolean or null, got {type(v).__name__}"
        if isinstance(v, float) and not math.isfinite(v):
            return f"field {k!r} is not a finite number"
    return None


class Ingest:
    """Subscribes to the broker and produces validated records to streams."""

    def __init__(
        self, streams: Any, host: str, port: int, credentials: tuple[str, str],
        rules: Sequence[Rule] = (), topic_filter: str = DEFAULT_FILTER, partitions: int = 4,
        flush_s: float = 0.05, max_batch: int = 5000, client_id: str = "laketown-ingest",
    ):
        self.streams, self.host, self.port = streams, host, port
        self._credentials = credentials
        self.rules = list(rules)
        self.filters = sorted({topic_filter, *(r.topic_filter for r in self.rules)})
        self.flush_s, self.max_batch, self.client_id = flush_s, max_batch, client_id
        self.stats = IngestStats()
        self.last_seq: dict[str, int] = {}
        for name in (TELEMETRY_STREAM, ERRORS_STREAM, *(r.stream for r in self.rules)):
            streams.create_stream(name, partitions=partitions if name == TELEMETRY_STREAM else 1, exist_ok=True)
        self._telemetry = streams.producer(TELEMETRY_STREAM)
        self._errors = streams.producer(ERRORS_STREAM)
        self._rule_out = {r.stream: streams.producer(r.stream) for r in self.rules}
        self._pending: list[tuple[str, bytes, int]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self.connected = threading.Event()

    def start(self) -> Ingest:
        from laketown.apps.iot.mqtt import client

        user, secret = self._credentials
        c = client(self.client_id, user, secret)
        c.reconnect_delay_set(min_delay=0.05, max_delay=1)

        def on_connect(cl: Any, userdata: Any, flags: Any, reason: Any, props: Any = None) -> None:
            if not getattr(reason, "is_failure", False):
                for f in self.filters:
                    cl.subscribe(f, qos=1)
                self.connected.set()

        def on_disconnect(*args: Any) -> None:
            self.connected.clear()

        def on_message(cl: Any, userdata: Any, msg: Any) -> None:
            with self._lock:
                self._pending.append((msg.topic, msg.payload, int(time.time() * 1000)))

        def on_subscribe(*args: Any) -> None:
            self._subscribed += 1

        self._subscribed = 0
        c.on_connect, c.on_disconnect, c.on_message, c.on_subscribe = on_connect, on_disconnect, on_message, on_subscribe
        c.connect_async(self.host, self.port, keepalive=30)
        c.loop_start()
        self._client = c
        self._thread = threading.Thread(target=self._loop, name="iot-ingest", daemon=True)
        self._thread.start()
        return self

    def wait_ready(self, timeout_s: float = 10.0) -> bool:
        """Wait until connected and every subscription is acknowledged."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.connected.is_set() and self._subscribed >= len(self.filters):
                return True
            time.sleep(0.02)
        return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.flush_s)
            self.flush()
        self.flush()

    def flush(self) -> int:
        """Process what has arrived; returns the records produced to the telemetry stream."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        return self.process(batch)

    def process(self, messages: Sequence[tuple[str, bytes, int]]) -> int:
        """Validate ``(topic, payload, received_ms)`` messages and produce them to the streams."""
        v = validate(messages, self.last_seq)
        self.stats.messages += len(messages)
        self.stats.duplicates += v.duplicates
        if v.errors:
            self._errors.produce(encode_json(v.errors), keys=[e["topic"].encode() for e in v.errors])
            self.stats.errors += len(v.errors)
        if v.records:
            rows = v.records
            self._telemetry.produce(
                encode_json([{k: val for k, val in r.items() if k != "topic"} for r in rows]),
                keys=[r["device_id"].encode() for r in rows],
                timestamps_ms=[int(r["ts"]) for r in rows],
            )
            self.stats.records += len(rows)
            if self.rules:
                self._apply_rules(rows)
        return len(v.records)

    def _apply_rules(self, rows: list[dict[str, Any]]) -> None:
        table = pa.Table.from_pylist(rows)
        for rule in self.rules:
            out = rule.apply(table)
            if out.num_rows:
                self._rule_out[rule.stream].produce(encode_json(out.to_pylist()))
                self.stats.rule_records[rule.name] = self.stats.rule_records.get(rule.name, 0) + out.num_rows

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        for p in (self._telemetry, self._errors, *self._rule_out.values()):
            p.close()

    def __enter__(self) -> Ingest:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
