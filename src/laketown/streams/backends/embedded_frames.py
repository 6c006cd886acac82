"""On-disk frame format of the embedded log: one frame per produce call per partition.

A frame is a 32-byte header followed by a body that is one Arrow IPC record batch message
(columns ``timestamp_ms, key, value, headers``; partition and offsets are implied by the
header, so they are never stored)::

    magic "LTF1" | body length u32 | crc32 u32 | base offset i64 | record count u32 | max ts i64
    | body

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
HEADER = struct.Struct("<4sIIqIq")
HEADER_SIZE = HEADER.size  # 32
MAX_BODY = 1 << 31  # a frame body must fit a u32 length with room to spare

#: columns stored in a frame body (partition and offset are implied by the frame header)
BODY_SCHEMA = pa.schema([RECORD_SCHEMA.field(n) for n in ("timestamp_ms", "key", "value", "headers")])
HEADERS_TYPE = RECORD_SCHEMA.field("headers").type

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

    @property
    def end_position(self) -> int:
        return self.position + HEADER_SIZE + self.body_length

    @property
    def end_offset(self) -> int:
        return self.base_offset + self.count


def encode_frame(base_offset: int, body: pa.RecordBatch) -> tuple[bytes, pa.Buffer, int]:
    """Header bytes and body buffer of one frame, plus the body's max timestamp."""
    payload = body.serialize()
    ts = body.column(0)
    max_ts = int(np.max(ts.to_numpy(zero_copy_only=False))) if len(ts) else 0
    if payload.size >= MAX_BODY:
        raise ValueError(f"a produce call of {payload.size} bytes is too large for one frame; split it")
    rest = HEADER.pack(MAGIC, payload.size, 0, base_offset, body.num_rows, max_ts)[12:]
    crc = zlib.crc32(payload, zlib.crc32(rest))
    header = MAGIC + struct.pack("<II", payload.size, crc) + rest
    return header, payload, max_ts


def parse_header(buf: bytes | memoryview, at: int, position: int) -> FrameHeader | None:
    """The header at ``buf[at:]`` if its magic is right and it is complete, else ``None``."""
    if len(buf) - at < HEADER_SIZE:
        return None
    magic, length, _crc, base, count, max_ts = HEADER.unpack_from(buf, at)
    if magic != MAGIC:
        return None
    return FrameHeader(position, base, count, max_ts, length)


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
    """The body of a validated frame as a record batch (zero-copy over ``buf``)."""
    start = at + HEADER_SIZE
    view = pa.py_buffer(buf)[start : start + header.body_length]
    return pa.ipc.read_record_batch(view, BODY_SCHEMA)


def with_position(body: pa.RecordBatch, partition: int, base_offset: int) -> pa.RecordBatch:
    """A frame body with the ``partition`` and ``offset`` columns of :data:`RECORD_SCHEMA`."""
    n = body.num_rows
    columns = [
        pa.array(np.full(n, partition, dtype=np.int32)),
        pa.array(np.arange(base_offset, base_offset + n, dtype=np.int64)),
        *body.columns,
    ]
    return pa.RecordBatch.from_arrays(columns, schema=RECORD_SCHEMA)


def build_body(
    values: list[bytes] | tuple[bytes, ...],
    keys: object | None,
    headers: object | None,
    timestamps_ms: object | None,
    now_ms: int,
) -> pa.RecordBatch:
    """The body columns for records given as Python sequences (validated by Arrow)."""
    n = len(values)
    if timestamps_ms is None:
        ts = pa.array(np.full(n, now_ms, dtype=np.int64))
    else:
        ts = pa.array(np.asarray(timestamps_ms, dtype=np.int64))
    key_arr = pa.nulls(n, pa.binary()) if keys is None else pa.array(keys, pa.binary())
    if headers is None:
        head_arr = pa.nulls(n, HEADERS_TYPE)
    else:
        head_arr = pa.array([None if h is None else list(h.items()) for h in headers], HEADERS_TYPE)  # type: ignore[attr-defined]
    value_arr = pa.array(values, pa.binary())
    return pa.RecordBatch.from_arrays([ts, key_arr, value_arr, head_arr], schema=BODY_SCHEMA)
