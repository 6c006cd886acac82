"""The edge agent (Greengrass stream manager): store-and-forward from a device to the broker.

Records go first into a bounded on-disk buffer (SQLite, one row per record, with a sequence
number that is never reused). A background thread publishes them in order, in batches
(JSON arrays, zlib-compressed), with the device's own credentials at QoS 1, and deletes them
from the buffer only once the broker has acknowledged them. While the broker is unreachable
records keep accumulating; when the bound is hit the drop policy removes the oldest records
(``drop="oldest"``) or refuses new ones (``drop="newest"``), and counts them. Because the buffer
is a file, a restarted agent carries on where the previous one stopped.

Delivery is at least once (a batch whose acknowledgement was lost is sent again); each record
carries ``seq`` so that ingest drops the repeats.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from laketown.apps.iot.registry import device_topic
from laketown.errors import ConfigError

DROP_POLICIES = ("oldest", "newest")


def encode_batch(records: Sequence[bytes], compress: bool) -> bytes:
    """``[rec, rec, ...]`` as JSON, zlib-compressed when ``compress`` (ingest tells by the first byte)."""
    body = b"[" + b",".join(records) + b"]"
    return zlib.compress(body, 1) if compress else body


@dataclass
class AgentStats:
    accepted: int = 0
    sent: int = 0
    dropped: int = 0
    batches: int = 0
    publish_failures: int = 0


class EdgeAgent:
    """Buffers a device's records on disk and forwards them to the broker."""

    def __init__(
        self, thing: str, secret: str, host: str, port: int, buffer_path: str | Path,
        max_records: int = 100_000, drop: str = "oldest", batch_records: int = 100,
        compress: bool = True, suffix: str = "telemetry", ack_timeout_s: float = 5.0,
    ):
        if drop not in DROP_POLICIES:
            raise ConfigError(f"drop policy {drop!r} is not known; use one of: {', '.join(DROP_POLICIES)}")
        if max_records < 1 or batch_records < 1:
            raise ConfigError(f"max_records and batch_records must be >= 1, got {max_records}, {batch_records}")
        self.thing, self.host, self.port = thing, host, port
        self._secret = secret
        self.max_records, self.drop, self.batch_records = max_records, drop, batch_records
        self.compress, self.topic, self.ack_timeout_s = compress, device_topic(thing, suffix), ack_timeout_s
        self.stats = AgentStats()
        self.buffer_path = Path(buffer_path)
        self.buffer_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.buffer_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # a commit survives the process being killed; only a power cut may lose the newest ones
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS buffer (seq INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        self.stats.dropped = self._counter("dropped")
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None

    # -- buffer ------------------------------------------------------------------------------
    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        return row[0] if row else 0

    @property
    def buffered(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM buffer").fetchone()[0]

    def submit(self, records: Sequence[dict[str, Any]]) -> int:
        """Append records to the buffer (durably); returns how many were kept. When the bound
        is hit, the drop policy decides which records go, and they are counted."""
        if not records:
            return 0
        bodies = [json.dumps(r, separators=(",", ":"), default=str) for r in records]
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            have = db.execute("SELECT count(*) FROM buffer").fetchone()[0]
            room = self.max_records - have
            dropped = 0
            if len(bodies) > room:
                if self.drop == "newest":
                    dropped = len(bodies) - max(room, 0)
                    bodies = bodies[:max(room, 0)]
                else:
                    dropped = len(bodies) - room
                    if dropped > have:  # even a new batch alone is too big: keep its newest records
                        bodies = bodies[dropped - have:]
                        db.execute("DELETE FROM buffer")
                    else:
                        db.execute("DELETE FROM buffer WHERE seq IN (SELECT seq FROM buffer ORDER BY seq LIMIT ?)",
                                   (dropped,))
            db.executemany("INSERT INTO buffer (body) VALUES (?)", [(b.encode(),) for b in bodies])
            if dropped:
                db.execute("INSERT INTO counters VALUES ('dropped', ?) ON CONFLICT(name) DO UPDATE "
                           "SET value = value + excluded.value", (dropped,))
            db.execute("COMMIT")
        self.stats.accepted += len(bodies)
        self.stats.dropped += dropped
        self._wake.set()
        return len(bodies)

    def _next_batch(self) -> list[tuple[int, bytes]]:
        with self._lock:
            return self._db.execute("SELECT seq, body FROM buffer ORDER BY seq LIMIT ?", (self.batch_records,)).fetchall()

    def _acked(self, last_seq: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM buffer WHERE seq <= ?", (last_seq,))

    # -- forwarding ---------------------------------------------------------------------------
    def start(self) -> EdgeAgent:
        """Connect (in the background, retrying) and forward records until :meth:`close`."""
        from laketown.apps.iot.mqtt import client

        self._client = client(f"edge-{self.thing}", self.thing, self._secret)
        self._client.reconnect_delay_set(min_delay=0.1, max_delay=2)
        self._thread = threading.Thread(target=self._forward, name=f"edge-{self.thing}", daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        """Stop forwarding (records keep being buffered) until :meth:`resume`."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()
        self._wake.set()

    def _connect_first(self) -> bool:
        """The first connection is made here, retried until it works: paho's network loop
        reconnects by itself only once a connection has succeeded."""
        while not self._stop.is_set():
            try:
                self._client.connect(self.host, self.port, keepalive=15)
            except OSError:
                self._stop.wait(0.2)
                continue
            self._client.loop_start()
            return True
        return False

    def _forward(self) -> None:
        if not self._connect_first():
            return
        while not self._stop.is_set():
            if self._paused.is_set() or not self._client.is_connected():
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            batch = self._next_batch()
            if not batch:
                self._wake.wait(0.2)
                self._wake.clear()
                continue
            if self._publish(batch):
                self._acked(batch[-1][0])
                self.stats.sent += len(batch)
                self.stats.batches += 1
            else:
                self.stats.publish_failures += 1
                time.sleep(0.05)

    def _publish(self, batch: list[tuple[int, bytes]]) -> bool:
        """Publish one batch at QoS 1 and wait for the broker's acknowledgement."""
        bodies = [b'{"seq":%d%s' % (seq, body[1:] if body == b"{}" else b"," + body[1:]) for seq, body in batch]
        try:
            info = self._client.publish(self.topic, encode_batch(bodies, self.compress), qos=1)
            info.wait_for_publish(self.ack_timeout_s)
            return info.is_published()
        except (RuntimeError, ValueError, OSError):
            return False

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until the buffer is empty (everything acknowledged); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.buffered and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.02)
        return self.buffered == 0

    def close(self) -> None:
        """Stop forwarding and disconnect; what is not acknowledged stays in the buffer file."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        with self._lock:
            self._db.close()

    def __enter__(self) -> EdgeAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
