"""Delivery of a stream into an Iceberg table (Kinesis Data Firehose), exactly once.

The sink buffers records by count, bytes and seconds (whichever comes first), decodes the JSON
values of a whole buffer at once against the table's schema, and appends them. The offsets it
consumed are written into the *same* Iceberg snapshot, as snapshot summary properties
``laketown.offsets.<stream>.<partition> = next offset``. A restarted sink reads them back from
the table and resumes there: a kill at any point leaves no gap and no duplicate, because data
and offsets become visible together or not at all.

Records that cannot be decoded or do not fit the schema go to a dead-letter table with the raw
value, the error and their offset; that table carries its own offsets in the same way, so dead
letters are not duplicated either.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from laketown.errors import LaketownError, SchemaMismatchError
from laketown.lake.schema import conform
from laketown.streams.base import RECORD_SCHEMA
from laketown.streams.ndjson import ndjson
from laketown.streams.status import write_status

if TYPE_CHECKING:
    from laketown.lake import Lake, LakeTable
    from laketown.streams.base import StreamBackend

OFFSET_PREFIX = "laketown.offsets."
DEAD_LETTER_SCHEMA = pa.schema(
    [
        pa.field("stream", pa.string()),
        pa.field("source_partition", pa.int32()),
        pa.field("source_offset", pa.int64()),
        pa.field("timestamp_ms", pa.int64()),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field("error", pa.string()),
        pa.field("table", pa.string()),
        pa.field("received_at", pa.timestamp("us", tz="UTC")),
    ]
)

Transform = Callable[[pa.Table], pa.Table]


@dataclass
class SinkStats:
    """What a sink has done since it started."""

    records_in: int = 0
    records_written: int = 0
    dead_letters: int = 0
    commits: int = 0
    last_commit_at: float | None = None
    started_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def latest_properties(table: LakeTable, prefix: str) -> dict[str, str]:
    """Snapshot summary properties starting with ``prefix``, newest value of each key."""
    found: dict[str, str] = {}
    for snap in reversed(table.iceberg.snapshots()):
        summary = snap.summary.additional_properties if snap.summary else {}
        for key, value in summary.items():
            if key.startswith(prefix):
                found.setdefault(key[len(prefix):], value)
    return found


def committed_offsets(table: LakeTable, stream: str) -> dict[int, int]:
    """Next offset per partition recorded in the table's snapshots for ``stream`` (newest wins)."""
    return {int(p): int(o) for p, o in latest_properties(table, f"{OFFSET_PREFIX}{stream}.").items()}


def processor_table_writer(lake: Lake) -> Callable[[str], Callable[[pa.Table], None]]:
    """``table name -> write(results)`` for stream processor jobs (``Job.to_table``): each
    delivery is appended with its job, partition and checkpoint number in the snapshot, and a
    delivery the table already holds (re-sent after a crash) is dropped: exactly once."""
    from laketown.lake.schema import storable_schema
    from laketown.streams.processor.runner import META_CHECKPOINT, META_JOB, META_PARTITION

    def factory(name: str) -> Callable[[pa.Table], None]:
        def write(results: pa.Table) -> None:
            meta = results.schema.metadata or {}
            data = results.replace_schema_metadata(None)
            table = lake.create_table(name, schema=storable_schema(data.schema), exist_ok=True)
            props: dict[str, str] = {}
            if META_JOB in meta:
                prefix = f"laketown.job.{meta[META_JOB].decode()}."
                part, ckpt = meta[META_PARTITION].decode(), int(meta[META_CHECKPOINT])
                done = latest_properties(table, prefix).get(part)
                if done is not None and int(done) >= ckpt:
                    return
                props[prefix + part] = str(ckpt)
            table.append(data, properties=props, allow_empty=bool(props))

        return write

    return factory


def infer_table_schema(streams: StreamBackend, stream: str, sample: int = 1000) -> pa.Schema:
    """A table schema inferred from the first JSON records of ``stream`` (records that are not
    JSON objects are left out of the sample)."""
    from laketown.lake.schema import storable_schema

    consumer = streams.consumer(stream, partitions=list(range(streams.describe(stream).partitions)))
    try:
        records = consumer.poll(max_records=sample, timeout_s=1.0)
    finally:
        consumer.close()
    rows = []
    for value in records.column("value").to_pylist():
        try:
            obj = json.loads(value)
        except ValueError:
            continue
        if isinstance(obj, dict):
            rows.append(obj)
    if not rows:
        raise LaketownError(
            f"stream {stream!r} has no JSON object records to infer a table from; create the table first"
        )
    return storable_schema(pa.Table.from_pylist(rows).schema)


def _last_per_key(rows: pa.Table, keys: list[str]) -> pa.Table:
    """The row with the highest (partition, offset) for each key."""
    order = rows.sort_by([("__partition", "ascending"), ("__offset", "ascending")])
    idx = pa.array(np.arange(order.num_rows))
    last = order.append_column("__i", idx).group_by(keys).aggregate([("__i", "max")]).column("__i_max")
    return order.take(last)


def _offset_properties(stream: str, offsets: dict[int, int]) -> dict[str, str]:
    return {f"{OFFSET_PREFIX}{stream}.{p}": str(o) for p, o in offsets.items()}


class DeliverySink:
    """Moves one stream (or some of its partitions) into one lake table, exactly once."""

    def __init__(
        self,
        lake: Lake,
        streams: StreamBackend,
        stream: str,
        table: str,
        partitions: Sequence[int] | None = None,
        buffer_records: int = 100_000,
        buffer_bytes: int = 16 << 20,
        buffer_seconds: float = 1.0,
        transform: Transform | None = None,
        dead_letter_table: str | None = None,
        unknown_fields: str = "error",
        name: str | None = None,
        key_columns: Sequence[str] = (),
    ):
        if unknown_fields not in ("error", "ignore"):
            raise LaketownError(f"unknown_fields must be 'error' or 'ignore', got {unknown_fields!r}")
        self.lake, self.streams, self.stream = lake, streams, stream
        self.table = lake.table(table)
        self.dead_letter_name = dead_letter_table or "raw.dead_letters"
        self.dead_letters = lake.create_table(self.dead_letter_name, schema=DEAD_LETTER_SCHEMA, exist_ok=True)
        info = streams.describe(stream)
        self.partitions = list(partitions) if partitions is not None else list(range(info.partitions))
        bad = [p for p in self.partitions if not 0 <= p < info.partitions]
        if bad:
            raise LaketownError(f"stream {stream!r} has partitions 0..{info.partitions - 1}; got {bad}")
        self.buffer_records, self.buffer_bytes, self.buffer_seconds = buffer_records, buffer_bytes, buffer_seconds
        self.transform = transform
        self.unknown_fields = unknown_fields
        self.key_columns = list(key_columns)
        missing = [c for c in self.key_columns if c not in self.table.schema.names]
        if missing:
            raise LaketownError(f"key column {missing[0]!r} is not a column of {table!r}: {', '.join(self.table.schema.names)}")
        self.stats = SinkStats()
        self.name = name or f"sink-{stream}-to-{table.replace('.', '-')}"
        self._workspace = lake.settings.workspace
        self._lock_fd = self._lock_partitions(table)
        self._stop = threading.Event()
        self._closed = False
        self._schema = self.table.schema
        self._table_offsets = self._mine(committed_offsets(self.table, stream))
        self._dlq_offsets = self._mine(committed_offsets(self.dead_letters, stream))
        self.consumer = streams.consumer(stream, partitions=self.partitions)
        for p in self.partitions:
            off = self._table_offsets.get(p)
            self.consumer.seek(p, off if off is not None else "earliest")
        self._buffer: list[pa.Table] = []
        self._buffered_records = 0
        self._buffered_bytes = 0
        self._first_buffered_at: float | None = None

    def _lock_partitions(self, table: str) -> list[int]:
        """One sink per (stream, partition, table) at a time, across processes: a second one
        would not know the first one's buffered offsets. The locks die with the process."""
        import fcntl
        import os

        folder = Path(self._workspace) / "jobs" / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        fds = []
        for p in self.partitions:
            path = folder / f"{self.stream}.{p}.{table}.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                for other in fds:
                    os.close(other)
                holder = path.read_text().strip() or "another process"
                raise LaketownError(
                    f"a sink already delivers partition {p} of stream {self.stream!r} into {table!r} "
                    f"(pid {holder}); stop it first, or give this one other partitions"
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            fds.append(fd)
        return fds

    def _release(self) -> None:
        import os

        for fd in self._lock_fd:
            os.close(fd)
        self._lock_fd = []

    def _mine(self, offsets: dict[int, int]) -> dict[int, int]:
        return {p: o for p, o in offsets.items() if p in self.partitions}

    # -- running ---------------------------------------------------------------------------
    def run(self, max_seconds: float | None = None, idle_exit_s: float | None = None) -> SinkStats:
        """Poll and deliver until :meth:`stop`, ``max_seconds``, or ``idle_exit_s`` without data."""
        deadline = time.monotonic() + max_seconds if max_seconds else None
        last_data = time.monotonic()
        while not self._stop.is_set():
            got = self.step()
            now = time.monotonic()
            if got:
                last_data = now
            if deadline and now >= deadline:
                break
            if idle_exit_s is not None and now - last_data >= idle_exit_s and not self._buffer:
                break
        self.close()
        return self.stats

    def stop(self) -> None:
        self._stop.set()

    def step(self) -> int:
        """One poll; flushes when a buffer limit is reached. Returns records polled."""
        wait = self.buffer_seconds
        if self._first_buffered_at is not None:
            wait = max(0.0, self._first_buffered_at + self.buffer_seconds - time.monotonic())
        batch = self.consumer.poll(max_records=self.buffer_records, timeout_s=min(wait, 0.5) if wait else 0.0)
        if batch.num_rows:
            self._buffer.append(batch)
            self._buffered_records += batch.num_rows
            self._buffered_bytes += batch.column("value").nbytes
            self.stats.records_in += batch.num_rows
            if self._first_buffered_at is None:
                self._first_buffered_at = time.monotonic()
        full = self._buffered_records >= self.buffer_records or self._buffered_bytes >= self.buffer_bytes
        due = self._first_buffered_at is not None and time.monotonic() - self._first_buffered_at >= self.buffer_seconds
        if full or due:
            self.flush()
        return batch.num_rows

    def flush(self) -> int:
        """Decode, validate and commit what is buffered: dead letters first, then the data
        with the offsets in the same snapshot. Returns the rows written to the table."""
        if not self._buffer:
            return 0
        records = pa.concat_tables(self._buffer).cast(RECORD_SCHEMA)
        self._buffer, self._buffered_records, self._buffered_bytes, self._first_buffered_at = [], 0, 0, None
        next_offsets = self._next_offsets(records)
        good, bad = self.decode(records)
        # After a kill between the two commits, records are read again: each table skips
        # what it already holds, by the offsets its own snapshots carry.
        good = self._after(good, self._table_offsets, "__offset", "__partition")
        bad = self._after(bad, self._dlq_offsets, "source_offset", "source_partition")
        if bad.num_rows:
            self.dead_letters.append(bad, properties=_offset_properties(self.stream, next_offsets))
            self._dlq_offsets.update(next_offsets)
            self.stats.dead_letters += bad.num_rows
        data = good.drop_columns(["__offset", "__partition"])
        props = _offset_properties(self.stream, next_offsets)
        if self.key_columns and data.num_rows:
            # at-least-once producers may send a record twice: the newest per key wins, in the
            # buffer and against the table, and offsets still commit with the data
            data = _last_per_key(good, self.key_columns).drop_columns(["__offset", "__partition"])
            self.table.upsert(data, on=self.key_columns, properties=props)
        else:
            # an all-bad buffer still commits (an empty append) so that the offsets move on
            self.table.append(data, properties=props, allow_empty=True)
        self._table_offsets.update(next_offsets)
        self.stats.records_written += data.num_rows
        self.stats.commits += 1
        self.stats.last_commit_at = time.time()
        self._report()
        return data.num_rows

    def _report(self) -> None:
        elapsed = max(time.time() - self.stats.started_at, 1e-9)
        write_status(self._workspace, self.name, {
            "kind": "sink", "stream": self.stream, "table": self.table.name, "partitions": self.partitions,
            "records_per_s": round(self.stats.records_written / elapsed, 1),
            "offsets": {str(p): o for p, o in sorted(self._table_offsets.items())},
            **self.stats.as_dict(),
        })

    @staticmethod
    def _next_offsets(records: pa.Table) -> dict[int, int]:
        grouped = records.group_by("partition").aggregate([("offset", "max")])
        return {p: o + 1 for p, o in zip(grouped.column("partition").to_pylist(), grouped.column("offset_max").to_pylist())}

    @staticmethod
    def _after(rows: pa.Table, done: dict[int, int], off_col: str, part_col: str) -> pa.Table:
        """Rows whose offset is at or past what ``done`` says their partition already holds."""
        if not done or not rows.num_rows:
            return rows
        parts = rows.column(part_col).to_numpy()
        lookup = np.zeros(max(max(done), int(parts.max())) + 1, dtype=np.int64)
        for p, o in done.items():
            lookup[p] = o
        keep = rows.column(off_col).to_numpy() >= lookup[parts]
        return rows.filter(pa.array(keep))

    # -- decoding --------------------------------------------------------------------------
    def decode(self, records: pa.Table) -> tuple[pa.Table, pa.Table]:
        """JSON values -> rows of the table's schema (+ ``__partition``/``__offset``), and dead letters."""
        try:
            rows = self._decode_fast(records)
            return rows, DEAD_LETTER_SCHEMA.empty_table()
        except (pa.ArrowInvalid, pa.ArrowTypeError, SchemaMismatchError, LaketownError, ValueError):
            return self._decode_one_by_one(records)

    def _parse(self, payload: bytes | pa.Buffer, expected_rows: int) -> pa.Table:
        """Newline-delimited JSON -> a table of exactly the target schema (or an error)."""
        opts = pajson.ParseOptions(
            explicit_schema=self._schema,
            unexpected_field_behavior="error" if self.unknown_fields == "error" else "ignore",
        )
        table = pajson.read_json(
            pa.BufferReader(payload),
            parse_options=opts,
            read_options=pajson.ReadOptions(block_size=max(1 << 20, pa.py_buffer(payload).size + 1)),
        )
        if table.num_rows != expected_rows:
            raise LaketownError(f"{expected_rows} records decoded into {table.num_rows} rows")
        if self.transform is not None:
            table = self.transform(table)
        return conform(table, self._schema, self.table.name)

    def _decode_fast(self, records: pa.Table) -> pa.Table:
        table = self._parse(ndjson(records.column("value").combine_chunks()), records.num_rows)
        return table.append_column("__partition", records.column("partition")).append_column(
            "__offset", records.column("offset")
        )

    def _check_fields(self, obj: Any) -> None:
        """Name the field that is unknown or missing (Arrow's own message does not)."""
        if not isinstance(obj, dict):
            raise SchemaMismatchError(f"a record must be a JSON object, got {type(obj).__name__}")
        if self.unknown_fields == "error":
            unknown = sorted(set(obj) - set(self._schema.names))
            if unknown:
                raise SchemaMismatchError(
                    f"unknown field {unknown[0]!r} for table {self.table.name!r}; fields: {', '.join(self._schema.names)}"
                )
        for f in self._schema:
            if not f.nullable and obj.get(f.name) is None:
                raise SchemaMismatchError(f"required field {f.name!r} ({f.type}) is missing or null")

    def _decode_one_by_one(self, records: pa.Table) -> tuple[pa.Table, pa.Table]:
        good_idx: list[int] = []
        good_rows: list[pa.Table] = []
        bad: list[tuple[int, str]] = []
        for i, value in enumerate(records.column("value").to_pylist()):
            try:
                obj = json.loads(value)
                self._check_fields(obj)
                good_rows.append(self._parse(json.dumps(obj, separators=(",", ":")).encode(), 1))
                good_idx.append(i)
            except Exception as exc:  # noqa: BLE001 - any failure makes a dead letter, with its reason
                bad.append((i, f"{type(exc).__name__}: {exc}".splitlines()[0][:500]))
        good = pa.concat_tables(good_rows) if good_rows else self._schema.empty_table()
        idx = pa.array(good_idx, pa.int64())
        good = good.append_column("__partition", records.column("partition").take(idx)).append_column(
            "__offset", records.column("offset").take(idx)
        )
        if not bad:
            return good, DEAD_LETTER_SCHEMA.empty_table()
        sub = records.take(pa.array([i for i, _ in bad], pa.int64()))
        now = pa.scalar(time.time_ns() // 1000, pa.timestamp("us", tz="UTC"))
        dead = pa.table(
            {
                "stream": pa.array([self.stream] * len(bad)),
                "source_partition": sub.column("partition"),
                "source_offset": sub.column("offset"),
                "timestamp_ms": sub.column("timestamp_ms"),
                "key": sub.column("key"),
                "value": sub.column("value"),
                "error": pa.array([reason for _, reason in bad]),
                "table": pa.array([self.table.name] * len(bad)),
                "received_at": pa.array([now] * len(bad), pa.timestamp("us", tz="UTC")),
            },
            schema=DEAD_LETTER_SCHEMA,
        )
        return good, dead

    def close(self) -> None:
        """Commit what is buffered, then let go of the stream and the partition locks."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self.consumer.close()
            self._release()
