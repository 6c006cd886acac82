"""On-disk frame format of the embedded log: one frame per produce call per partition.

A frame is a 36-byte header followed by a body that is one Arrow IPC record batch message
holding the ``value`` column and, only when they carry data, ``timestamp_ms``, ``key`` and
``headers`` (flags say which; partition and offsets are implied by the header)::

    magic "LTF1" | body length u32 | crc32 u32 | base offset i64 | record count u32
    | max ts i64 | flags u32 | body

Leaving out all-null keys and headers and a timestamp shared by the whole batch keeps a frame
of 100-byte values within ~5% of the raw value bytes.

The CRC covers the header bytes after the CRC field and the body, so a torn or half-written
frame never passes as valid: readers stop before it and the next writer truncates it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from laketown.streams.base import RECORD_SCHEMA

MAGIC = b"LTF1"
HEADER = struct.Struct("<4sIIqIqI")
HEADER_SIZE = HEADER.size  # 36
MAX_BODY = 1 << 31  # a frame body must fit a u32 length with room to spare

HEADERS_TYPE = RECORD_SCHEMA.field("headers").type
HAS_TIMESTAMPS, HAS_KEYS, HAS_HEADERS = 1, 2, 4
#: optional body columns and the flag that says a frame stores them
OPTIONAL = (("timestamp_ms", HAS_TIMESTAMPS), ("key", HAS_KEYS), ("headers", HAS_HEADERS))


def body_schema(flags: int) -> pa.Schema:
    """Columns stored in a frame body with these flags, ``value`` last."""
    names = [name for name, bit in OPTIONAL if flags & bit] + ["value"]
    return pa.schema([RECORD_SCHEMA.field(n) for n in names])


BODY_SCHEMAS = [body_schema(f) for f in range(8)]

#: one sparse-index entry per frame: first offset, byte position in the segment, and the
#: running maximum timestamp of the segment up to and including that frame
INDEX_DTYPE = np.dtype([("offset", "<i8"), ("position", "<i8"), ("max_ts", "<i8")])


@dataclass(frozen=True)
class FrameHeader:
    position: int  # byte position of the header in its segment
    base_offset: int
    count: int
    max_ts: int
    body_length: int
    flags: int = 0

    @property
    def end_position(self) -> int:
        return self.position + HEADER_SIZE + self.body_length

    @property
    def end_offset(self) -> int:
        return self.base_offset + self.count


@dataclass(frozen=True)
class Body:
    """Records of one frame before encoding: the stored columns and the frame's max timestamp."""

    batch: pa.RecordBatch
    flags: int
    max_ts: int

    @property
    def num_rows(self) -> int:
        return self.batch.num_rows

    def take(self, indices: pa.Array) -> Body:
        batch = self.batch.take(indices)
        max_ts = self.max_ts
        if self.flags & HAS_TIMESTAMPS:
            max_ts = int(np.max(batch.column(0).to_numpy()))
        return Body(batch, self.flags, max_ts)


def encode_frame(base_offset: int, body: Body) -> tuple[bytes, pa.Buffer]:
    """Header bytes and body buffer of one frame."""
    payload = body.batch.serialize()
    if payload.size >= MAX_BODY:
        raise ValueError(f"a produce call of {payload.size} bytes is too large for one frame; split it")
    rest = HEADER.pack(MAGIC, payload.size, 0, base_offset, body.num_rows, body.max_ts, body.flags)[12:]
    crc = zlib.crc32(payload, zlib.crc32(rest))
    header = MAGIC + struct.pack("<II", payload.size, crc) + rest
    return header, payload


def parse_header(buf: bytes | memoryview, at: int, position: int) -> FrameHeader | None:
    """The header at ``buf[at:]`` if its magic is right and it is complete, else ``None``."""
    if len(buf) - at < HEADER_SIZE:
        return None
    magic, length, _crc, base, count, max_ts, flags = HEADER.unpack_from(buf, at)
    if magic != MAGIC or flags > 7:
        return None
    return FrameHeader(position, base, count, max_ts, length, flags)


def frame_is_valid(buf: bytes | memoryview, at: int, header: FrameHeader) -> bool:
    """Whether the whole frame at ``buf[at:]`` is present and its CRC matches."""
    end = at + HEADER_SIZE + header.body_length
    if len(buf) < end:
        return False
    view = memoryview(buf)
    (crc,) = struct.unpack_from("<I", view, at + 8)
    return zlib.crc32(view[at + HEADER_SIZE : end], zlib.crc32(view[at + 12 : at + HEADER_SIZE])) == crc


def scan_frames(buf: bytes | memoryview, base_position: int, verify: bool = True) -> tuple[list[FrameHeader], int]:
    """Valid frames at the start of ``buf`` (which begins at ``base_position`` in the segment)
    and the byte length they cover. Scanning stops at the first incomplete or invalid frame."""
    frames: list[FrameHeader] = []
    at = 0
    while True:
        header = parse_header(buf, at, base_position + at)
        if header is None:
            break
        if len(buf) - at < HEADER_SIZE + header.body_length:
            break
        if verify and not frame_is_valid(buf, at, header):
            break
        frames.append(header)
        at += HEADER_SIZE + header.body_length
    return frames, at


def decode_body(buf: bytes | memoryview, at: int, header: FrameHeader) -> pa.RecordBatch:
    """The records of a validated frame with every body column (zero-copy over ``buf``)."""
    start = at + HEADER_SIZE
    view = pa.py_buffer(buf)[start : start + header.body_length]
    stored = pa.ipc.read_record_batch(view, BODY_SCHEMAS[header.flags])
    n = header.count
    flags = header.flags
    columns = list(stored.columns)
    ts = columns.pop(0) if flags & HAS_TIMESTAMPS else pa.array(np.full(n, header.max_ts, dtype=np.int64))
    key = columns.pop(0) if flags & HAS_KEYS else pa.nulls(n, pa.binary())
    heads = columns.pop(0) if flags & HAS_HEADERS else pa.nulls(n, HEADERS_TYPE)
    return pa.RecordBatch.from_arrays([ts, key, heads, columns[0]], names=["timestamp_ms", "key", "headers", "value"])


def with_position(body: pa.RecordBatch, partition: int, base_offset: int) -> pa.RecordBatch:
    """Decoded frame records with the ``partition`` and ``offset`` columns of :data:`RECORD_SCHEMA`."""
    n = body.num_rows
    columns = [
        pa.array(np.full(n, partition, dtype=np.int32)),
        pa.array(np.arange(base_offset, base_offset + n, dtype=np.int64)),
        body.column(0),
        body.column(1),
        body.column(3),
        body.column(2),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=RECORD_SCHEMA)


def build_body(
    values: list[bytes] | tuple[bytes, ...],
    keys: object | None,
    headers: object | None,
    timestamps_ms: object | None,
    now_ms: int,
) -> Body:
    """The frame body for records given as Python sequences (validated by Arrow)."""
    flags = 0
    columns = []
    max_ts = now_ms
    if timestamps_ms is not None:
        ts = np.asarray(timestamps_ms, dtype=np.int64)
        max_ts = int(ts.max()) if len(ts) else now_ms
        if len(ts) and int(ts.min()) != max_ts:
            flags |= HAS_TIMESTAMPS
            columns.append(pa.array(ts))
    if keys is not None and any(k is not None for k in keys):  # type: ignore[attr-defined]
        flags |= HAS_KEYS
        columns.append(pa.array(keys, pa.binary()))
    if headers is not None and any(headers):  # type: ignore[arg-type]
        flags |= HAS_HEADERS
        columns.append(pa.array([list(h.items()) if h else None for h in headers], HEADERS_TYPE))  # type: ignore[attr-defined]
    columns.append(pa.array(values, pa.binary()))
    return Body(pa.RecordBatch.from_arrays(columns, schema=BODY_SCHEMAS[flags]), flags, max_ts)
