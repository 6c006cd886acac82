"""Decoding consumed records (``RECORD_SCHEMA``) into columns, a whole batch at once.

The JSON values of a batch are joined with newlines by one Arrow kernel and parsed by Arrow's
JSON reader (C++, no Python object per record). A batch holding an invalid value falls back to
checking each value, so the bad ones go to a side output with the reason and the rest still flow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from laketown.streams.ndjson import ndjson
import pyarrow.compute as pc
import pyarrow.json as pj

from laketown.errors import ConfigError
from laketown.streams.processor.window_operator import EVENT_TIME

#: record columns carried next to the decoded fields
META_COLUMNS = {"partition": "_partition", "offset": "_offset", "timestamp_ms": "_timestamp_ms", "key": "_key"}

_UNIT_MS = {"ms": 1, "s": 1_000, "us": 0.001, "ns": 0.000001}


@dataclass
class Decoded:
    """Decoded records (fields + ``_event_time`` + ``_partition``/``_offset``/...) and the
    records that could not be decoded (``RECORD_SCHEMA`` + ``error``)."""

    table: pa.Table
    errors: pa.Table


class JsonDecoder:
    """Decodes the ``value`` column (JSON objects) of consumed records.

    ``time_field`` names the field holding the event time (epoch number in ``time_unit``, an
    ISO-8601 string or a timestamp); without it the record's ``timestamp_ms`` is used.
    ``schema`` fixes the types of some fields (the others are inferred)."""

    def __init__(self, time_field: str | None = None, time_unit: str = "ms", schema: pa.Schema | None = None,
                 use_threads: bool = True):
        if time_unit not in _UNIT_MS:
            raise ConfigError(f"time_unit {time_unit!r} is not one of {', '.join(_UNIT_MS)}")
        self.time_field = time_field
        self.time_unit = time_unit
        self.schema = schema
        self.use_threads = use_threads

    def decode(self, records: pa.Table) -> Decoded:
        """Decode one polled batch."""
        if "value" not in records.column_names:
            raise ConfigError(f"records have no 'value' column (columns: {', '.join(records.column_names)}); "
                              "pass what Consumer.poll returned")
        errors = records.schema.empty_table().append_column("error", pa.array([], pa.string()))
        if not records.num_rows:
            return Decoded(self._finish(pa.table({}), records.slice(0, 0)), errors)
        fields = self._parse(records.column("value").combine_chunks())
        if fields is None or fields.num_rows != records.num_rows:
            good, errors = self._split_bad(records)
            records = records.filter(pa.array(good))
            fields = self._parse(records.column("value").combine_chunks()) if records.num_rows else pa.table({})
        table = self._finish(fields, records)
        if self.time_field is not None and table.num_rows:
            missing = pc.is_null(table.column(EVENT_TIME))
            if pc.any(missing).as_py():
                bad = records.filter(missing).append_column(
                    "error", pa.array([f"no event time in field {self.time_field!r}"] * pc.sum(missing).as_py(), pa.string())
                )
                errors = pa.concat_tables([errors, bad])
                table = table.filter(pc.invert(missing))
        return Decoded(table, errors)

    def _parse(self, values: pa.Array) -> pa.Table | None:
        buf = ndjson(values)
        parse = pj.ParseOptions(explicit_schema=self.schema, unexpected_field_behavior="infer") if self.schema else None
        read = pj.ReadOptions(use_threads=self.use_threads, block_size=max(1 << 20, buf.size + 1))
        try:
            return pj.read_json(pa.BufferReader(buf), read_options=read, parse_options=parse)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None

    def _split_bad(self, records: pa.Table) -> tuple[np.ndarray, pa.Table]:
        """Slow path, only for a batch that failed to parse: find the bad values one by one."""
        good = np.ones(records.num_rows, bool)
        reasons = []
        for i, raw in enumerate(records.column("value").to_pylist()):
            try:
                obj = json.loads(raw)
                reason = None if isinstance(obj, dict) else f"not a JSON object: {type(obj).__name__}"
            except ValueError as e:
                reason = f"invalid JSON: {e}"
            if reason is not None:
                good[i] = False
                reasons.append(reason)
        bad = records.filter(pa.array(~good)).append_column("error", pa.array(reasons, pa.string()))
        return good, bad

    def _finish(self, fields: pa.Table, records: pa.Table) -> pa.Table:
        table = fields
        for src, dst in META_COLUMNS.items():
            if src in records.column_names and dst not in table.column_names:
                table = table.append_column(dst, records.column(src))
        if EVENT_TIME in table.column_names:
            table = table.drop_columns([EVENT_TIME])
        return table.append_column(EVENT_TIME, self._event_time(fields, records))

    def _event_time(self, fields: pa.Table, records: pa.Table) -> pa.ChunkedArray | pa.Array:
        if self.time_field is None:
            return records.column("timestamp_ms").cast(pa.int64())
        if self.time_field not in fields.column_names:
            if not fields.num_rows:
                return pa.array([], pa.int64())
            raise ConfigError(
                f"time field {self.time_field!r} is in no record of the batch; fields are: "
                f"{', '.join(fields.column_names)}"
            )
        return to_epoch_ms(fields.column(self.time_field), self.time_unit, self.time_field)


def to_epoch_ms(col: pa.ChunkedArray | pa.Array, unit: str = "ms", name: str = "time") -> pa.ChunkedArray | pa.Array:
    """Event times -> int64 epoch milliseconds: numbers in ``unit``, timestamps, ISO-8601 strings."""
    t = col.type
    if pa.types.is_timestamp(t):
        return pc.cast(col.cast(pa.timestamp("ms", tz=t.tz or "UTC")), pa.int64())
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            ts = pc.cast(col, pa.timestamp("ms", tz="UTC"))
        except pa.ArrowInvalid as e:
            raise ConfigError(f"time field {name!r} holds a string that is not ISO-8601 ({e}); "
                              "send epoch milliseconds or ISO-8601 like 2026-01-01T00:00:00Z") from e
        return pc.cast(ts, pa.int64())
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        factor = _UNIT_MS[unit]
        if factor == 1 and pa.types.is_integer(t):
            return col.cast(pa.int64())
        return pc.cast(pc.floor(pc.multiply(col.cast(pa.float64()), factor)), pa.int64())
    raise ConfigError(f"time field {name!r} has type {t}; use epoch numbers, timestamps or ISO-8601 strings")
