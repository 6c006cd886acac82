"""The Stream interface every streams backend implements (embedded log, Kafka).

Records travel in batches. Produced records are given as Python lists (values as bytes);
consumed records come back as one Arrow table per poll with the columns of
:data:`RECORD_SCHEMA`, so processors and sinks work on columns, never on a Python loop per
record.
"""

from __future__ import annotations

import abc
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pyarrow as pa

RECORD_SCHEMA = pa.schema(
    [
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("timestamp_ms", pa.int64(), nullable=False),  # event time given by the producer, else append time
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary(), nullable=False),
        pa.field("headers", pa.map_(pa.string(), pa.binary())),
    ]
)

Position = Literal["earliest", "latest"]


def partition_for_key(key: bytes | None, partitions: int, fallback: int = 0) -> int:
    """Key -> partition: CRC32 of the key modulo the partition count (the same on every backend,
    so a key lands in the same partition whichever backend carries it)."""
    if key is None:
        return fallback % partitions
    return zlib.crc32(key) % partitions


def encode_json(values: Iterable[Any]) -> list[bytes]:
    """JSON-encode values compactly (UTF-8); dates and other objects go through ``str``."""
    dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode
    return [dumps(v).encode() for v in values]


@dataclass(frozen=True)
class StreamInfo:
    name: str
    partitions: int
    retention_ms: int | None = None
    retention_bytes: int | None = None  # per partition
    end_offsets: dict[int, int] = field(default_factory=dict)  # next offset to be written, per partition


@dataclass(frozen=True)
class Ack:
    """Where a produced batch landed: one (partition, offset) per record, in input order."""

    partitions: list[int]
    offsets: list[int]

    def __len__(self) -> int:
        return len(self.offsets)


class Producer(abc.ABC):
    """Writes batches to one stream. ``produce`` returns only once the records are durable
    (embedded: written and flushed per the fsync policy; Kafka: acknowledged by the broker)."""

    @abc.abstractmethod
    def produce(
        self,
        values: Sequence[bytes],
        keys: Sequence[bytes | None] | None = None,
        headers: Sequence[dict[str, bytes] | None] | None = None,
        timestamps_ms: Sequence[int] | None = None,
        partition: int | None = None,
    ) -> Ack:
        """Append records; keys pick partitions by :func:`partition_for_key` unless
        ``partition`` is given; records without a key are spread round-robin per batch."""

    @staticmethod
    def check_batch(
        stream: str,
        partitions: int,
        values: Sequence[bytes],
        keys: Sequence[bytes | None] | None,
        headers: Sequence[dict[str, bytes] | None] | None,
        timestamps_ms: Sequence[int] | None,
        partition: int | None,
    ) -> None:
        """Refuse a malformed batch before any of it is written (a batch goes whole or not at all)."""
        from laketown.errors import StreamError

        n = len(values)
        for what, seq in (("keys", keys), ("headers", headers), ("timestamps_ms", timestamps_ms)):
            if seq is not None and len(seq) != n:
                raise StreamError(f"{what} has {len(seq)} items but values has {n}; give one per value")
        if partition is not None and not 0 <= partition < partitions:
            raise StreamError(f"stream {stream!r} has partitions 0..{partitions - 1}; got partition={partition}")
        odd = set(map(type, values)) - {bytes, bytearray, memoryview}
        if odd:
            kinds = ", ".join(sorted(t.__name__ for t in odd))
            raise StreamError(f"cannot produce to {stream!r}: values must be bytes, got {kinds}; encode them first")

    def produce_json(self, objects: Sequence[Any], key_field: str | None = None, **kw: Any) -> Ack:
        """Produce JSON objects; ``key_field`` names the field whose value becomes the key."""
        keys = None
        if key_field is not None:
            keys = [None if o.get(key_field) is None else str(o[key_field]).encode() for o in objects]
        return self.produce(encode_json(objects), keys=keys, **kw)

    def flush(self) -> None:  # noqa: B027 - optional for backends whose produce is synchronous
        """Block until every produced record is durable."""

    def close(self) -> None:  # noqa: B027
        self.flush()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Consumer(abc.ABC):
    """Reads one stream, either as a member of a consumer group (partitions assigned and
    rebalanced by the backend) or with an explicit ``partitions`` assignment (no group
    coordination; used by sinks that keep their offsets elsewhere)."""

    @abc.abstractmethod
    def poll(self, max_records: int = 10_000, timeout_s: float = 1.0) -> pa.Table:
        """Next records (schema :data:`RECORD_SCHEMA`), empty table when none arrived in time."""

    @abc.abstractmethod
    def commit(self, offsets: dict[int, int] | None = None) -> None:
        """Commit the group's position: ``{partition: next offset to read}``; ``None`` commits
        what has been returned by ``poll`` so far."""

    @abc.abstractmethod
    def seek(self, partition: int, offset: int | Position) -> None:
        """Move the read position of one assigned partition."""

    @abc.abstractmethod
    def seek_to_timestamp(self, timestamp_ms: int) -> None:
        """Move every assigned partition to the first record at or after ``timestamp_ms``."""

    @abc.abstractmethod
    def assignment(self) -> list[int]:
        """Partitions this consumer currently reads."""

    @abc.abstractmethod
    def close(self) -> None:
        """Leave the group (its partitions go to the other members)."""

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StreamBackend(abc.ABC):
    """A place streams live: one embedded folder, or one Kafka cluster."""

    name: ClassVar[str]
    #: what the backend can do, as data (apps and tests read this, never isinstance)
    capabilities: ClassVar[frozenset[str]] = frozenset()

    @abc.abstractmethod
    def create_stream(
        self,
        name: str,
        partitions: int = 1,
        retention_ms: int | None = None,
        retention_bytes: int | None = None,
        exist_ok: bool = False,
    ) -> StreamInfo: ...

    @abc.abstractmethod
    def delete_stream(self, name: str) -> None: ...

    @abc.abstractmethod
    def list_streams(self) -> list[StreamInfo]: ...

    @abc.abstractmethod
    def describe(self, name: str) -> StreamInfo: ...

    @abc.abstractmethod
    def producer(self, stream: str) -> Producer: ...

    @abc.abstractmethod
    def consumer(
        self,
        stream: str,
        group: str | None = None,
        partitions: Sequence[int] | None = None,
        start: Position = "earliest",
    ) -> Consumer:
        """``group`` joins a consumer group and resumes from its committed offsets (``start``
        applies where none is committed); ``partitions`` reads those partitions without a group."""

    @abc.abstractmethod
    def committed(self, stream: str, group: str) -> dict[int, int]:
        """Committed offsets of a group, per partition (partitions never committed are absent)."""

    def lag(self, stream: str, group: str) -> dict[int, int]:
        """Records not yet committed by ``group``, per partition."""
        info = self.describe(stream)
        done = self.committed(stream, group)
        return {p: max(0, end - done.get(p, 0)) for p, end in sorted(info.end_offsets.items())}

    def close(self) -> None:  # noqa: B027
        """Release connections and files."""
