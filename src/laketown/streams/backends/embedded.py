"""The embedded streams backend: a partitioned, durable append-only log in a local folder.

No server: producers and consumers in any number of processes share ``root``::

    <root>/<stream>/stream.json                 partitions and retention
    <root>/<stream>/p-00000/<base>.log|.idx     segments and sparse indexes (embedded_log)
    <root>/<stream>/groups/<group>/...          consumer groups (embedded_groups)

"Produced" means written to the OS page cache, which survives ``kill -9`` of the producer,
with an fsync every ``fsync_every`` records per partition (0: after every produce call);
only a machine crash can lose records produced since the last fsync.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa

from laketown.errors import StreamError
from laketown.streams.backends.embedded_frames import build_body
from laketown.streams.backends.embedded_groups import GroupMember, read_committed
from laketown.streams.backends.embedded_log import SEGMENT_BYTES, PartitionReader, PartitionWriter, end_offset
from laketown.streams.base import RECORD_SCHEMA, Ack, Consumer, Position, Producer, StreamBackend, StreamInfo

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def check_name(kind: str, name: str) -> str:
    """Stream and group names become folder names: letters, digits, ``.``, ``_``, ``-``."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise StreamError(
            f"invalid {kind} name {name!r}: use 1-201 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def partition_dir(stream_dir: Path, partition: int) -> Path:
    return stream_dir / f"p-{partition:05d}"


class EmbeddedStreams(StreamBackend):
    """Streams stored under ``root`` (e.g. ``<workspace>/streams``)."""

    name: ClassVar[str] = "embedded"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"timestamps", "headers", "retention", "groups", "multi-process"}
    )

    def __init__(
        self,
        root: Path | str,
        fsync_every: int = 1000,
        segment_bytes: int = SEGMENT_BYTES,
        session_timeout_s: float = 6.0,
    ):
        if fsync_every < 0:
            raise StreamError(f"fsync_every must be >= 0 (0 = fsync every produce call), got {fsync_every}")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.fsync_every = fsync_every
        self.segment_bytes = segment_bytes
        self.session_timeout_s = session_timeout_s

    # -- streams ---------------------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        path = self.root / check_name("stream", name)
        if not (path / "stream.json").is_file():
            known = ", ".join(s.name for s in self.list_streams()) or "none"
            raise StreamError(f"unknown stream {name!r} in {self.root}; streams: {known}. Create it first")
        return path

    def _meta(self, name: str) -> dict:
        return json.loads((self._dir(name) / "stream.json").read_text())

    def create_stream(
        self,
        name: str,
        partitions: int = 1,
        retention_ms: int | None = None,
        retention_bytes: int | None = None,
        exist_ok: bool = False,
    ) -> StreamInfo:
        check_name("stream", name)
        if not isinstance(partitions, int) or partitions < 1:
            raise StreamError(f"partitions must be an int >= 1, got {partitions!r}")
        final = self.root / name
        if (final / "stream.json").is_file():
            if exist_ok:
                return self.describe(name)
            raise StreamError(f"stream {name!r} already exists in {self.root}; pass exist_ok=True to reuse it")
        tmp = self.root / f".creating-{name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        meta = {
            "name": name,
            "partitions": partitions,
            "retention_ms": retention_ms,
            "retention_bytes": retention_bytes,
        }
        (tmp / "stream.json").write_text(json.dumps(meta))
        for p in range(partitions):
            pdir = partition_dir(tmp, p)
            pdir.mkdir()
            (pdir / "00000000000000000000.log").touch()
        try:
            os.rename(tmp, final)  # atomic: the stream appears whole or not at all
            fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if exist_ok and (final / "stream.json").is_file():
                return self.describe(name)
            raise StreamError(
                f"stream {name!r} already exists in {self.root}; pass exist_ok=True to reuse it"
            ) from None
        return self.describe(name)

    def delete_stream(self, name: str) -> None:
        path = self._dir(name)
        trash = self.root / f".deleting-{name}-{uuid.uuid4().hex[:8]}"
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def list_streams(self) -> list[StreamInfo]:
        out = []
        for entry in sorted(os.listdir(self.root)):
            if not entry.startswith(".") and (self.root / entry / "stream.json").is_file():
                try:
                    out.append(self.describe(entry))
                except (StreamError, FileNotFoundError):
                    continue  # deleted while listing
        return out

    def describe(self, name: str) -> StreamInfo:
        meta = self._meta(name)
        path = self.root / name
        ends = {p: end_offset(partition_dir(path, p)) for p in range(meta["partitions"])}
        return StreamInfo(name, meta["partitions"], meta["retention_ms"], meta["retention_bytes"], ends)

    def enforce_retention(self, name: str, now_ms: int | None = None) -> dict[int, list[int]]:
        """Drop old segments of every partition now; returns dropped segment bases per partition."""
        meta = self._meta(name)
        out = {}
        for p in range(meta["partitions"]):
            writer = self._writer(name, meta, p)
            try:
                out[p] = writer.enforce_retention(now_ms)
            finally:
                writer.close()
        return out

    def _writer(self, name: str, meta: dict, partition: int) -> PartitionWriter:
        writer = PartitionWriter(
            partition_dir(self.root / name, partition), partition, self.fsync_every, self.segment_bytes
        )
        writer.retention_ms = meta["retention_ms"]
        writer.retention_bytes = meta["retention_bytes"]
        return writer

    # -- clients ---------------------------------------------------------------------------
    def producer(self, stream: str) -> EmbeddedProducer:
        meta = self._meta(stream)
        return EmbeddedProducer(self, stream, meta)

    def consumer(
        self,
        stream: str,
        group: str | None = None,
        partitions: Sequence[int] | None = None,
        start: Position = "earliest",
    ) -> EmbeddedConsumer:
        meta = self._meta(stream)
        if start not in ("earliest", "latest"):
            raise StreamError(f"start must be 'earliest' or 'latest', got {start!r}")
        if group is not None and partitions is not None:
            raise StreamError("give either group= (coordinated) or partitions= (explicit), not both")
        if group is None and partitions is None:
            partitions = range(meta["partitions"])
        if partitions is not None:
            bad = [p for p in partitions if not 0 <= p < meta["partitions"]]
            if bad:
                raise StreamError(f"stream {stream!r} has partitions 0..{meta['partitions'] - 1}; got {bad}")
        return EmbeddedConsumer(self, stream, meta, group, partitions, start)

    def committed(self, stream: str, group: str) -> dict[int, int]:
        return read_committed(self._dir(stream) / "groups" / check_name("group", group))


class EmbeddedProducer(Producer):
    """Appends batches: one frame per produce call per partition."""

    def __init__(self, backend: EmbeddedStreams, stream: str, meta: dict):
        self.backend = backend
        self.stream = stream
        self.partitions = int(meta["partitions"])
        self._meta = meta
        self._writers: dict[int, PartitionWriter] = {}
        self._round_robin = 0
        self._closed = False

    def _writer(self, partition: int) -> PartitionWriter:
        writer = self._writers.get(partition)
        if writer is None:
            writer = self._writers[partition] = self.backend._writer(self.stream, self._meta, partition)
        return writer

    def produce(
        self,
        values: Sequence[bytes],
        keys: Sequence[bytes | None] | None = None,
        headers: Sequence[dict[str, bytes] | None] | None = None,
        timestamps_ms: Sequence[int] | None = None,
        partition: int | None = None,
    ) -> Ack:
        if self._closed:
            raise StreamError(f"producer of stream {self.stream!r} is closed; open a new one")
        n = len(values)
        if n == 0:
            return Ack([], [])
        self.check_batch(self.stream, self.partitions, values, keys, headers, timestamps_ms, partition)
        now_ms = int(time.time() * 1000)
        try:
            body = build_body(values, keys, headers, timestamps_ms, now_ms)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise StreamError(
                f"cannot produce to {self.stream!r}: values must be bytes, keys bytes or None, headers dicts of str -> bytes ({exc})"
            ) from exc
        if body.batch.column(body.batch.num_columns - 1).null_count:
            raise StreamError(f"cannot produce to {self.stream!r}: a value is None; values must be bytes")

        fallback = self._round_robin
        self._round_robin += 1
        if partition is not None or keys is None or self.partitions == 1:
            p = partition if partition is not None else fallback % self.partitions
            base = self._writer(p).append(body, now_ms)
            return Ack([p] * n, list(range(base, base + n)))
        parts = _partitions_for_keys(keys, self.partitions, fallback)
        offsets = np.empty(n, dtype=np.int64)
        order = np.argsort(parts, kind="stable")
        sorted_parts = parts[order]
        cuts = np.flatnonzero(np.diff(sorted_parts)) + 1
        for chunk in np.split(order, cuts):
            p = int(parts[chunk[0]])
            sub = body if len(chunk) == n else body.take(pa.array(chunk))
            base = self._writer(p).append(sub, now_ms)
            offsets[chunk] = np.arange(base, base + len(chunk))
        return Ack(parts.tolist(), offsets.tolist())

    def flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        if not self._closed:
            for writer in self._writers.values():
                writer.close()
            self._writers.clear()
            self._closed = True


def _partitions_for_keys(keys: Sequence[bytes | None], partitions: int, fallback: int) -> np.ndarray:
    """:func:`partition_for_key` for a batch of keys."""
    import zlib

    crc = zlib.crc32
    none_part = fallback % partitions
    return np.fromiter((none_part if k is None else crc(k) % partitions for k in keys), dtype=np.int64, count=len(keys))


class EmbeddedConsumer(Consumer):
    """Reads partitions of one stream, alone or as a member of a group."""

    def __init__(
        self,
        backend: EmbeddedStreams,
        stream: str,
        meta: dict,
        group: str | None,
        partitions: Sequence[int] | None,
        start: Position,
    ):
        self.backend = backend
        self.stream = stream
        self.group = group
        self.start = start
        self._stream_dir = backend.root / stream
        self._readers: dict[int, PartitionReader] = {}
        self._rotate = 0
        self._closed = False
        self._member: GroupMember | None = None
        self._last_rebalance = 0.0
        if group is not None:
            folder = self._stream_dir / "groups" / check_name("group", group)
            self._member = GroupMember(folder, int(meta["partitions"]), backend.session_timeout_s)
        else:
            for p in partitions or []:
                self._add(p, None)

    def _add(self, partition: int, offset: int | None) -> None:
        reader = PartitionReader(partition_dir(self._stream_dir, partition), partition)
        reader.seek(self.start if offset is None else offset)
        self._readers[partition] = reader

    def _rebalance(self) -> None:
        if self._member is None:
            return
        revoked, gained = self._member.rebalance()
        for p in revoked:
            reader = self._readers.pop(p, None)
            if reader is not None:
                reader.close()
        for p, offset in gained.items():
            self._add(p, offset)
        self._last_rebalance = time.monotonic()

    def _check_open(self) -> None:
        if self._closed:
            raise StreamError(f"consumer of stream {self.stream!r} is closed; open a new one")

    def poll(self, max_records: int = 10_000, timeout_s: float = 1.0) -> pa.Table:
        self._check_open()
        deadline = time.monotonic() + timeout_s
        interval = min(0.5, self.backend.session_timeout_s / 10)
        first = True
        while True:
            now = time.monotonic()
            if self._member is not None and (first or now - self._last_rebalance >= interval):
                self._rebalance()
            first = False
            batches = self._read(max_records)
            if batches:
                return pa.Table.from_batches(batches, schema=RECORD_SCHEMA)
            if time.monotonic() >= deadline:
                return RECORD_SCHEMA.empty_table()
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))

    def _read(self, max_records: int) -> list[pa.RecordBatch]:
        parts = sorted(self._readers)
        if not parts:
            return []
        self._rotate = (self._rotate + 1) % len(parts)
        out: list[pa.RecordBatch] = []
        remaining = max_records
        for p in parts[self._rotate :] + parts[: self._rotate]:
            got = self._readers[p].read(remaining)
            out.extend(got)
            remaining -= sum(b.num_rows for b in got)
            if remaining <= 0:
                break
        return out

    def positions(self) -> dict[int, int]:
        """Next offset to read, per assigned partition."""
        return {p: r.next_offset for p, r in sorted(self._readers.items())}

    def commit(self, offsets: dict[int, int] | None = None) -> None:
        self._check_open()
        if self._member is None:
            raise StreamError(
                f"this consumer of {self.stream!r} has no group; pass group= to backend.consumer() to commit offsets"
            )
        self._member.commit(self.positions() if offsets is None else dict(offsets))

    def seek(self, partition: int, offset: int | Position) -> None:
        self._check_open()
        reader = self._readers.get(partition)
        if reader is None:
            raise StreamError(f"partition {partition} is not assigned to this consumer; assigned: {self.assignment()}")
        reader.seek(offset)

    def seek_to_timestamp(self, timestamp_ms: int) -> None:
        self._check_open()
        if self._member is not None and not self._readers:
            self._rebalance()
        for reader in self._readers.values():
            reader.seek_to_timestamp(int(timestamp_ms))

    def assignment(self) -> list[int]:
        if self._member is not None and not self._closed and not self._readers:
            self._rebalance()
        return sorted(self._readers)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        if self._member is not None:
            self._member.leave()
