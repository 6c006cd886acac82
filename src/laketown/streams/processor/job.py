"""Declaring a stream processing job: source, decoding, steps, window, sinks.

    job = (Job("iot-1m", source="iot_telemetry")
           .decode_json(time_field="ts")
           .filter(lambda t: pc.greater(t["temp"], -50))
           .lookup(devices_table, on="device_id", refresh="5m")
           .window(tumbling("1m"), key=["device_id"], aggs={"temp_mean": mean("temp"), "n": count()},
                   lateness="30s", out_of_orderness="5s")
           .to_table("curated.iot_1m"))
    run(job, backend, checkpoint_dir)          # laketown.streams.processor.runner

A job is a description; :meth:`Job.partition_processor` builds the per-partition pipeline that
the runner feeds (one per input partition, each with its own state and checkpoint).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from laketown.errors import ConfigError
from laketown.streams.base import Producer, encode_json
from laketown.streams.processor.aggregations import Aggregation
from laketown.streams.processor.decode import JsonDecoder
from laketown.streams.processor.lookups import LookupJoin
from laketown.streams.processor.transforms import Filter, Map
from laketown.streams.processor.window_operator import EVENT_TIME, WindowOperator
from laketown.streams.processor.windows import WindowAssigner, parse_duration

Writer = Callable[[pa.Table], Any]


class Sink:
    """Where a job's results go. ``open`` is called once by the runner before the first write."""

    def open(self, backend: Any, table_writer: Callable[[str], Writer] | None) -> None:
        """Connect to what the sink writes into."""

    def write(self, table: pa.Table) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what ``open`` took."""


class CallbackSink(Sink):
    """Calls ``fn(table)`` with each delivered batch of results."""

    def __init__(self, fn: Writer):
        self.fn = fn

    def write(self, table: pa.Table) -> None:
        self.fn(table)


class StreamSink(Sink):
    """Produces each result row as a JSON record to a stream, keyed by the group key; times are
    epoch milliseconds and the record timestamp is the window end."""

    def __init__(self, stream: str, partitions: int | None = None):
        self.stream = stream
        self.partitions = partitions
        self._producer: Producer | None = None
        self.key: list[str] = []

    def open(self, backend: Any, table_writer: Callable[[str], Writer] | None) -> None:
        if backend is None:
            raise ConfigError(f"to_stream({self.stream!r}) needs the runner's stream backend")
        if self.partitions is not None:
            backend.create_stream(self.stream, partitions=self.partitions, exist_ok=True)
        elif self.stream not in {s.name for s in backend.list_streams()}:
            backend.create_stream(self.stream, partitions=1, exist_ok=True)
        self._producer = backend.producer(self.stream)

    def write(self, table: pa.Table) -> None:
        assert self._producer is not None, "StreamSink.open was not called"
        for name in table.column_names:
            if pa.types.is_timestamp(table.schema.field(name).type):
                table = table.set_column(
                    table.column_names.index(name), name, pc.cast(pc.cast(table[name], pa.timestamp("ms")), pa.int64())
                )
        rows = table.to_pylist()
        keys = None
        if self.key:
            keys = ["|".join("" if r[k] is None else str(r[k]) for k in self.key).encode() for r in rows]
        ts = table["window_end"].to_pylist() if "window_end" in table.column_names else None
        self._producer.produce(encode_json(rows), keys=keys, timestamps_ms=ts)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()


class TableSink(Sink):
    """Appends results to a lake table through an injected writer ``write(arrow_table)``."""

    def __init__(self, table: str, write: Writer | None = None):
        self.table = table
        self._write = write

    def open(self, backend: Any, table_writer: Callable[[str], Writer] | None) -> None:
        if self._write is None:
            if table_writer is None:
                raise ConfigError(
                    f"to_table({self.table!r}) has no writer: pass write= to to_table or table_writer= to run()"
                )
            self._write = table_writer(self.table)

    def write(self, table: pa.Table) -> None:
        assert self._write is not None, "TableSink.open was not called"
        self._write(table)


class Job:
    """A stream processing job over the records of stream ``source``, read by consumer group
    ``group`` (default: the job name). Builder methods return the job itself."""

    def __init__(self, name: str, source: str, group: str | None = None):
        if not name or "/" in name or name.startswith("."):
            raise ConfigError(f"job name {name!r} must be non-empty, without '/' and not start with '.'")
        self.name = name
        self.source = source
        self.group = group or name
        self.decoder: JsonDecoder | None = None
        self.steps: list[Callable[[pa.Table], pa.Table]] = []
        self.window_spec: dict[str, Any] | None = None
        self.idle_timeout_s: float | None = None
        self.sinks: list[Sink] = []
        self.late_sinks: list[Sink] = []
        self.error_sinks: list[Sink] = []

    # -- input and stateless steps ------------------------------------------------------------

    def decode_json(
        self, time_field: str | None = None, time_unit: str = "ms", schema: pa.Schema | None = None
    ) -> Job:
        """Decode record values as JSON objects; event time from ``time_field`` (else the
        record timestamp)."""
        if self.steps or self.window_spec:
            raise ConfigError("decode_json() must come first, before map/filter/lookup/window")
        self.decoder = JsonDecoder(time_field=time_field, time_unit=time_unit, schema=schema)
        return self

    def map(self, fn: Callable[[pa.Table], pa.Table]) -> Job:
        """Transform each batch: ``fn(table) -> table`` (keep row order)."""
        return self._step(Map(fn))

    def filter(self, fn: Callable[[pa.Table], Any]) -> Job:
        """Keep the rows where ``fn(table)`` (a boolean array) is true."""
        return self._step(Filter(fn))

    def lookup(
        self,
        table: Callable[[], pa.Table],
        on: str | Sequence[str] | None = None,
        *,
        left_on: str | Sequence[str] | None = None,
        right_on: str | Sequence[str] | None = None,
        refresh: str | int = "60s",
        how: str = "left",
    ) -> Job:
        """Enrich records with the matching row of ``table()`` (reloaded every ``refresh``)."""
        return self._step(LookupJoin(table, on, left_on=left_on, right_on=right_on, refresh=refresh, how=how))

    def _step(self, step: Callable[[pa.Table], pa.Table]) -> Job:
        if self.window_spec is not None:
            raise ConfigError("map/filter/lookup must come before window(); a job has one window step, at the end")
        self.steps.append(step)
        return self

    # -- window ---------------------------------------------------------------------------------

    def window(
        self,
        window: WindowAssigner,
        aggs: Mapping[str, Aggregation],
        key: str | Sequence[str] = (),
        lateness: str | int = 0,
        out_of_orderness: str | int = 0,
        idle_timeout: str | int | None = None,
    ) -> Job:
        """Keyed event-time windows; results have the key columns, ``window_start``,
        ``window_end``, the aggregates and ``is_update``.

        Each input partition has its own watermark, so records of one group key should share a
        partition (key the produced records by it). ``idle_timeout``: a partition that brings no
        record for that long (wall clock) has its watermark moved up to the highest watermark of
        the worker's other partitions, so its windows fire instead of waiting for new data
        (results then depend on timing; off by default)."""
        if self.window_spec is not None:
            raise ConfigError("a job has one window step; chain another job on its output stream for more")
        spec = {"window": window, "aggs": dict(aggs), "key": key, "lateness": lateness,
                "out_of_orderness": out_of_orderness}
        WindowOperator(**spec)  # fail now, not in the runner, on a bad definition
        self.window_spec = spec
        self.idle_timeout_s = None if idle_timeout is None else parse_duration(idle_timeout, "idle timeout") / 1000
        return self

    # -- sinks ----------------------------------------------------------------------------------

    def to_callback(self, fn: Writer) -> Job:
        """Deliver results to ``fn(table)`` (after each checkpoint)."""
        self.sinks.append(CallbackSink(fn))
        return self

    def to_stream(self, stream: str, partitions: int | None = None) -> Job:
        """Produce results as JSON records to ``stream`` (created if missing)."""
        sink = StreamSink(stream, partitions)
        if self.window_spec is not None:
            key = self.window_spec["key"]
            sink.key = [key] if isinstance(key, str) else list(key)
        self.sinks.append(sink)
        return self

    def to_table(self, table: str, write: Writer | None = None) -> Job:
        """Append results to lake table ``table`` through ``write(arrow_table)`` (or the
        runner's ``table_writer``)."""
        self.sinks.append(TableSink(table, write))
        return self

    def on_late(self, fn: Writer) -> Job:
        """Deliver records too late for their window (with ``late_reason``) to ``fn(table)``."""
        self.late_sinks.append(CallbackSink(fn))
        return self

    def on_error(self, fn: Writer) -> Job:
        """Deliver records that could not be decoded (with ``error``) to ``fn(table)``."""
        self.error_sinks.append(CallbackSink(fn))
        return self

    def partition_processor(self) -> PartitionProcessor:
        """A fresh pipeline for one input partition."""
        if not self.sinks:
            raise ConfigError(f"job {self.name!r} has no sink; add to_callback(), to_stream() or to_table()")
        return PartitionProcessor(self)


class PartitionProcessor:
    """The job's pipeline for one partition: decode -> steps -> window (state snapshot-able)."""

    def __init__(self, job: Job):
        self.job = job
        self.operator = WindowOperator(**job.window_spec) if job.window_spec else None

    def process(self, records: pa.Table) -> tuple[pa.Table, pa.Table | None, pa.Table | None]:
        """``(results, late, errors)`` of one batch of records (``RECORD_SCHEMA``)."""
        errors = None
        if self.job.decoder is not None:
            decoded = self.job.decoder.decode(records)
            table, errors = decoded.table, decoded.errors
        else:
            table = records.append_column(EVENT_TIME, records.column("timestamp_ms"))
        for step in self.job.steps:
            if not table.num_rows:
                break
            table = step(table)
        if self.operator is None:
            return table, None, errors
        out = self.operator.process(table)
        return out.results, out.late, errors

    def flush(self) -> pa.Table | None:
        """Fire every open window (bounded input finished)."""
        return self.operator.flush() if self.operator is not None else None

    def snapshot(self) -> bytes:
        return self.operator.snapshot() if self.operator is not None else b""

    def restore(self, state: bytes) -> None:
        if self.operator is not None and state:
            self.operator.restore(state)


def concat(parts: list[pa.Table]) -> pa.Table | None:
    """Non-empty parts as one table (``None`` when there is nothing)."""
    parts = [p for p in parts if p is not None and p.num_rows]
    if not parts:
        return None
    return pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]


__all__ = ["CallbackSink", "Job", "PartitionProcessor", "Sink", "StreamSink", "TableSink", "concat"]
