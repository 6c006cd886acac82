"""Ingest (IoT Core's message path): broker -> validation -> rules -> streams.

:class:`Ingest` subscribes to device topics with the service credentials, collects messages
in memory and hands them every ``flush_s`` (or ``max_batch`` messages) to :func:`validate`:
a payload is a JSON object or array of objects, or the same compressed with zlib (what the
edge agent sends). Each record must carry a numeric ``ts`` (epoch ms); ``device_id`` comes
from the topic (``devices/<id>/...``) and a payload that names another device is refused.
Good records go to the ``iot_telemetry`` stream keyed by device (event time = ``ts``), and
through every rule to the rule's stream; bad payloads go to ``iot_errors`` with the reason.
Repeats of a record (same device and ``seq``, from at-least-once delivery) are dropped; the
last ``seq`` per device is kept durably with the stream's offsets (:mod:`.dedup`), so repeats
are dropped across an ingest restart too.

The common case, a batch of single JSON objects with a ``ts``, is checked column-wise with
Arrow's JSON reader and produced as the payload bytes with the added fields spliced in front
(no Python object per field); anything else takes the record-by-record path, which also
explains each refusal.
"""

from __future__ import annotations

import json
import math
import threading
import time
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from laketown.apps.iot.dedup import SeqCheckpoint
from laketown.apps.iot.registry import TOPIC_ROOT
from laketown.apps.iot.rules import Rule
from laketown.streams.base import encode_json
from laketown.streams.ndjson import ndjson

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


@dataclass
class Out:
    """What one flush produces to the telemetry stream, in arrival order."""

    values: list[bytes] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    tables: list[pa.Table] = field(default_factory=list)  # the same records as columns (for rules)


# fields that ingest adds: a fast-path payload must not carry them (the slow path overwrites them)
_ADDED = frozenset({"device_id", "time", "received_ms", "topic"})
_FAST_READ = pj.ReadOptions(use_threads=False, block_size=1 << 26)


def _fast(messages: Sequence[tuple[str, bytes, int]], last_seq: dict[str, int] | None, out: Out,
          with_table: bool) -> int | None:
    """Single-object payloads checked column-wise; returns the duplicates dropped, or None when
    any message needs the record-by-record path (which then takes the whole run)."""
    devices = []
    for topic, _, _ in messages:
        levels = topic.split("/")
        if len(levels) < 3 or levels[0] != TOPIC_ROOT:
            return None
        devices.append(levels[1])
    try:
        table = pj.read_json(pa.BufferReader(ndjson(pa.array([m[1] for m in messages], pa.binary()))),
                             read_options=_FAST_READ)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != len(messages) or "ts" not in table.column_names or _ADDED & set(table.column_names):
        return None
    for f in table.schema:
        t = f.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t)
                or pa.types.is_boolean(t) or pa.types.is_null(t)):
            return None
        if pa.types.is_floating(t) and not pc.all(pc.is_finite(table.column(f.name).fill_null(0.0))).as_py():
            return None
    ts = table.column("ts")
    if not (pa.types.is_integer(ts.type) or pa.types.is_floating(ts.type)) or ts.null_count \
            or pc.min(ts).as_py() < 0:
        return None
    ts_ms = pc.cast(ts, pa.int64(), safe=False)
    keep = None
    dups = 0
    if last_seq is not None and "seq" in table.column_names and pa.types.is_integer(table.schema.field("seq").type):
        keep = []
        for dev, seq in zip(devices, table.column("seq").to_pylist(), strict=True):
            if seq is not None:
                if seq <= last_seq.get(dev, -1):
                    keep.append(False)
                    dups += 1
                    continue
                last_seq[dev] = seq
            keep.append(True)
    iso = pc.strftime(ts_ms.cast(pa.timestamp("ms", tz="UTC")), format="%Y-%m-%dT%H:%M:%S+00:00").to_pylist()
    heads: dict[str, bytes] = {}
    for i, (topic, payload, received) in enumerate(messages):
        if keep is not None and not keep[i]:
            continue
        dev = devices[i]
        head = heads.get(dev)
        if head is None:
            head = heads[dev] = b'{"device_id":' + json.dumps(dev).encode() + b',"time":"'
        out.values.append(b'%s%s","received_ms":%d,%s' % (head, iso[i].encode(), received, payload[1:]))
        out.keys.append(dev.encode())
    ts_list = ts_ms.to_pylist()
    out.timestamps.extend(ts_list if keep is None else [t for t, k in zip(ts_list, keep, strict=True) if k])
    if with_table:
        table = table.append_column("device_id", pa.array(devices, pa.string())) \
            .append_column("time", pa.array(iso, pa.string())) \
            .append_column("received_ms", pa.array([m[2] for m in messages], pa.int64())) \
            .append_column("topic", pa.array([m[0] for m in messages], pa.string()))
        out.tables.append(table if keep is None else table.filter(pa.array(keep, pa.bool_())))
    return dups


def _is_single_object(payload: bytes) -> bool:
    return payload[:1] == b"{" and b"\n" not in payload


class Ingest:
    """Subscribes to the broker and produces validated records to streams."""

    def __init__(
        self, streams: Any, host: str, port: int, credentials: tuple[str, str],
        rules: Sequence[Rule] = (), topic_filter: str = DEFAULT_FILTER, partitions: int = 4,
        flush_s: float = 0.2, max_batch: int = 5000, client_id: str = "laketown-ingest",
        state_path: str | None = None, clean_session: bool = True,
    ):
        """``state_path``: where the duplicate filter's checkpoint lives (None: memory only).
        ``clean_session=False`` asks the broker to keep the subscription and queue QoS 1
        messages while ingest is away (the broker must keep sessions across its restarts)."""
        self.streams, self.host, self.port = streams, host, port
        self._credentials = credentials
        self.rules = list(rules)
        self.filters = sorted({topic_filter, *(r.topic_filter for r in self.rules)})
        self.flush_s, self.max_batch, self.client_id = flush_s, max_batch, client_id
        self.clean_session = clean_session
        self.stats = IngestStats()
        for name in (TELEMETRY_STREAM, ERRORS_STREAM, *(r.stream for r in self.rules)):
            streams.create_stream(name, partitions=partitions if name == TELEMETRY_STREAM else 1, exist_ok=True)
        self.seq = SeqCheckpoint(state_path, streams, TELEMETRY_STREAM)
        self._telemetry = streams.producer(TELEMETRY_STREAM)
        self._errors = streams.producer(ERRORS_STREAM)
        self._rule_out = {r.stream: streams.producer(r.stream) for r in self.rules}
        self._pending: deque[tuple[str, bytes, int]] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self.connected = threading.Event()

    @property
    def last_seq(self) -> dict[str, int]:
        """The last ``seq`` accepted per device."""
        return self.seq.last

    def start(self) -> Ingest:
        from laketown.apps.iot.mqtt import client

        user, secret = self._credentials
        c = client(self.client_id, user, secret, clean_session=self.clean_session)
        c.reconnect_delay_set(min_delay=0.05, max_delay=1)

        def on_connect(cl: Any, userdata: Any, flags: Any, reason: Any, props: Any = None) -> None:
            if not getattr(reason, "is_failure", False):
                for f in self.filters:
                    cl.subscribe(f, qos=1)
                self.connected.set()

        def on_disconnect(*args: Any) -> None:
            self.connected.clear()

        pending, now = self._pending, time.time

        def on_message(cl: Any, userdata: Any, msg: Any) -> None:  # as little as possible here
            pending.append((msg.topic, msg.payload, int(now() * 1000)))

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
        pending = self._pending
        n = len(pending)
        if not n:
            return 0
        batch = [pending.popleft() for _ in range(n)]  # deque pops are safe against the paho thread
        return sum(self.process(batch[i:i + self.max_batch]) for i in range(0, n, self.max_batch))

    def process(self, messages: Sequence[tuple[str, bytes, int]]) -> int:
        """Validate ``(topic, payload, received_ms)`` messages and produce them to the streams."""
        out = Out()
        errors: list[dict[str, Any]] = []
        dups = 0
        last_seq = self.seq.last
        with_table = bool(self.rules)
        i, n = 0, len(messages)
        while i < n:  # runs of single-object messages take the column-wise path, in arrival order
            single = _is_single_object(messages[i][1])
            j = i + 1
            while j < n and _is_single_object(messages[j][1]) == single:
                j += 1
            run = messages[i:j]
            got = _fast(run, last_seq, out, with_table) if single else None
            if got is None:
                v = validate(run, last_seq)
                errors.extend(v.errors)
                got = v.duplicates
                if v.records:
                    out.values.extend(encode_json([{k: val for k, val in r.items() if k != "topic"} for r in v.records]))
                    out.keys.extend(r["device_id"].encode() for r in v.records)
                    out.timestamps.extend(int(r["ts"]) for r in v.records)
                    if with_table:
                        out.tables.append(pa.Table.from_pylist(v.records))
            dups += got
            i = j
        self.stats.messages += n
        self.stats.duplicates += dups
        if errors:
            self._errors.produce(encode_json(errors), keys=[e["topic"].encode() for e in errors])
            self.stats.errors += len(errors)
        if out.values:
            ack = self._telemetry.produce(out.values, keys=out.keys, timestamps_ms=out.timestamps)
            self.seq.produced(ack.partitions, ack.offsets)
            self.stats.records += len(out.values)
            if self.rules:
                self._apply_rules(out.tables)
        self.seq.maybe_save()
        return len(out.values)

    def _apply_rules(self, tables: list[pa.Table]) -> None:
        tables = [t for t in tables if t.num_rows]
        if not tables:
            return
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
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
        self.seq.save()

    def __enter__(self) -> Ingest:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
