"""One partition of the embedded log: a folder of segment files plus their sparse indexes.

``<partition>/<base offset:020d>.log`` holds frames (see :mod:`embedded_frames`);
``<base offset>.idx`` holds one :data:`INDEX_DTYPE` entry per frame. Writers of a partition
take ``writer.lock`` with ``flock`` for each append, so producers in several processes may
share a partition. Readers take no lock: they read only frames that are complete and whose
CRC matches, and the index is a cache that is checked against the log before use.

Durability: ``append`` returns once the frame is written to the OS page cache (it survives a
``kill -9`` of the process) and the file is fsynced every ``fsync_every`` records (0: every
append); only a machine crash can lose what was appended since the last fsync.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from laketown.errors import StreamError
from laketown.streams.backends.embedded_frames import (
    HEADER_SIZE,
    INDEX_DTYPE,
    Body,
    FrameHeader,
    decode_body,
    encode_frame,
    frame_is_valid,
    parse_header,
    scan_frames,
    with_position,
)

SEGMENT_BYTES = 64 * 1024 * 1024
READ_CHUNK = 256 * 1024


def segment_name(base_offset: int) -> str:
    return f"{base_offset:020d}.log"


def list_segments(folder: Path) -> list[int]:
    """Base offsets of the partition's segments, oldest first."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(int(n[:-4]) for n in names if n.endswith(".log") and n[:-4].isdigit())


def read_index(folder: Path, base: int) -> np.ndarray:
    """The segment's index entries (empty when the index file is missing or torn)."""
    try:
        raw = (folder / f"{base:020d}.idx").read_bytes()
    except FileNotFoundError:
        return np.empty(0, INDEX_DTYPE)
    whole = len(raw) - len(raw) % INDEX_DTYPE.itemsize
    return np.frombuffer(raw[:whole], INDEX_DTYPE)


def _pread_frames(
    fd: int, position: int, verify: bool = True, stop: Callable[[FrameHeader], bool] | None = None
) -> tuple[list[FrameHeader], int]:
    """Valid frames from ``position`` to the end of the file (or through the first frame for
    which ``stop`` is true), and the byte position where they end."""
    frames: list[FrameHeader] = []
    while True:
        buf = os.pread(fd, READ_CHUNK, position)
        found, used = scan_frames(buf, position, verify)
        if not found:
            header = parse_header(buf, 0, position)
            if header is None or len(buf) >= HEADER_SIZE + header.body_length:
                return frames, position
            big = os.pread(fd, HEADER_SIZE + header.body_length, position)  # frame larger than a chunk
            found, used = scan_frames(big, position, verify)
            if not found:
                return frames, position
        if stop is not None:
            for i, f in enumerate(found):
                if stop(f):
                    frames.extend(found[: i + 1])
                    return frames, f.end_position
        frames.extend(found)
        position += used


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def end_offset(folder: Path) -> int:
    """Next offset to be written in the partition (reads only the tail of the last segment)."""
    segments = list_segments(folder)
    if not segments:
        return 0
    base = segments[-1]
    index = read_index(folder, base)
    path = folder / segment_name(base)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return base
    try:
        end = base
        start = 0
        if len(index):
            header = parse_header(os.pread(fd, HEADER_SIZE, int(index["position"][-1])), 0, 0)
            if header is not None and header.base_offset == int(index["offset"][-1]):
                start = int(index["position"][-1])
        frames, _ = _pread_frames(fd, start)
        if frames:
            end = frames[-1].end_offset
        elif start:  # the indexed frame is not valid yet: fall back to a full scan
            frames, _ = _pread_frames(fd, 0)
            end = frames[-1].end_offset if frames else base
        return end
    finally:
        os.close(fd)


def start_offset(folder: Path) -> int:
    """First offset still present in the partition."""
    segments = list_segments(folder)
    return segments[0] if segments else 0


class PartitionWriter:
    """Appends frames to one partition; safe to use from several processes at once."""

    def __init__(self, folder: Path, partition: int, fsync_every: int = 1000, segment_bytes: int = SEGMENT_BYTES):
        self.folder = folder
        self.partition = partition
        self.fsync_every = fsync_every
        self.segment_bytes = segment_bytes
        self.retention_ms: int | None = None
        self.retention_bytes: int | None = None
        self._lock_fd = os.open(folder / "writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
        self._fd = -1
        self._idx_fd = -1
        self._base = -1
        self._size = 0  # valid bytes in the active segment as this writer last saw them
        self._next = 0
        self._max_ts: int | None = None
        self._unsynced = 0

    # -- locking and recovery -------------------------------------------------------------
    def _open_active(self) -> None:
        """Open the newest segment and cut any torn tail (called with the lock held)."""
        first_open = self._fd < 0
        self._close_files()
        segments = list_segments(self.folder)
        if not segments:
            self._create_segment(0)
            return
        base = segments[-1]
        self._base = base
        self._fd = os.open(self.folder / segment_name(base), os.O_RDWR | os.O_APPEND)
        frames, valid_end = _pread_frames(self._fd, 0)
        if os.fstat(self._fd).st_size != valid_end:
            os.ftruncate(self._fd, valid_end)  # a writer died mid-append: cut the torn tail
            os.fsync(self._fd)
        # the index is fixed in place (same inode), so other writers' open handles stay valid
        self._idx_fd = os.open(self.folder / f"{base:020d}.idx", os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self._sync_index(frames, valid_end)
        self._size = valid_end
        self._next = frames[-1].end_offset if frames else base
        self._max_ts = max((f.max_ts for f in frames), default=None)
        if first_open:
            self._enforce_retention()

    def _create_segment(self, base: int) -> None:
        self._close_files()
        path = self.folder / segment_name(base)
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self._idx_fd = os.open(
            self.folder / f"{base:020d}.idx", os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o644
        )
        _fsync_dir(self.folder)
        self._base = base
        self._size = os.fstat(self._fd).st_size
        self._next = base
        self._max_ts = None

    def _catch_up(self) -> None:
        """Account for frames other writers appended since this one last held the lock."""
        if self._fd < 0:
            self._open_active()
            return
        size = os.fstat(self._fd).st_size
        if size == self._size:
            # unchanged since we last wrote: another writer can only have rolled to a segment
            # named after our next offset (cheaper to check than listing the folder)
            if self._next != self._base and os.path.exists(self.folder / segment_name(self._next)):
                self._open_active()
            return
        segments = list_segments(self.folder)
        if not segments or segments[-1] != self._base:
            self._open_active()
            return
        frames, valid_end = _pread_frames(self._fd, self._size)
        if valid_end != size:
            self._open_active()  # a torn tail from a writer that died: rescan and truncate
            return
        if frames:
            self._next = frames[-1].end_offset
            top = max(f.max_ts for f in frames)
            self._max_ts = top if self._max_ts is None else max(self._max_ts, top)
            self._sync_index(frames)  # a writer may have died between its frame and its entry
        self._size = valid_end

    def _sync_index(self, frames: list[FrameHeader], valid_end: int | None = None) -> None:
        """Make the active segment's index cover ``frames``; with ``valid_end``, first drop
        entries that point at or past it (the log was cut there)."""
        fd, item = self._idx_fd, INDEX_DTYPE.itemsize
        size = os.fstat(fd).st_size
        count = size // item
        if size % item:
            os.ftruncate(fd, count * item)  # a torn entry
        entries = np.empty(0, INDEX_DTYPE)
        if count and valid_end is not None:
            entries = np.frombuffer(os.pread(fd, count * item, 0), INDEX_DTYPE)
            keep = int(np.searchsorted(entries["position"], valid_end, side="left"))
            if keep < count:
                os.ftruncate(fd, keep * item)
                entries = entries[:keep]
        elif count:
            entries = np.frombuffer(os.pread(fd, item, (count - 1) * item), INDEX_DTYPE)
        last_pos = int(entries["position"][-1]) if len(entries) else -1
        running = int(entries["max_ts"][-1]) if len(entries) else None
        missing = [f for f in frames if f.position > last_pos]
        if not missing:
            return
        out = np.empty(len(missing), INDEX_DTYPE)
        for i, f in enumerate(missing):
            running = f.max_ts if running is None else max(running, f.max_ts)
            out[i] = (f.base_offset, f.position, running)
        os.write(fd, out.tobytes())

    def _close_files(self) -> None:
        for fd in (self._fd, self._idx_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._idx_fd = -1

    # -- appending ------------------------------------------------------------------------
    def append(self, body: Body, now_ms: int | None = None) -> int:
        """Append one frame; returns its base offset once it is in the page cache."""
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            self._catch_up()
            base = self._next
            header, payload = encode_frame(base, body)
            max_ts = body.max_ts
            written = os.writev(self._fd, [header, payload])
            if written != len(header) + payload.size:
                raise StreamError(f"short write to {self.folder}: {written} bytes; is the disk full?")
            position = self._size
            self._size += written
            self._next = base + body.num_rows
            self._max_ts = max_ts if self._max_ts is None else max(self._max_ts, max_ts)
            entry = np.array([(base, position, self._max_ts)], INDEX_DTYPE)
            os.write(self._idx_fd, entry.tobytes())
            self._unsynced += body.num_rows
            if self._unsynced >= self.fsync_every:
                os.fsync(self._fd)
                self._unsynced = 0
            if self._size >= self.segment_bytes:
                self._roll(now_ms)
            return base
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _roll(self, now_ms: int | None) -> None:
        os.fsync(self._fd)
        os.fsync(self._idx_fd)
        self._unsynced = 0
        self._create_segment(self._next)
        self._enforce_retention(now_ms)

    def _enforce_retention(self, now_ms: int | None = None) -> list[int]:
        """Delete whole old segments past the time or size limit (never the active one)."""
        if self.retention_ms is None and self.retention_bytes is None:
            return []
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        segments = list_segments(self.folder)
        sizes = {b: (self.folder / segment_name(b)).stat().st_size for b in segments}
        total = sum(sizes.values())
        dropped = []
        for base in segments[:-1]:
            index = read_index(self.folder, base)
            too_old = (
                self.retention_ms is not None
                and len(index) > 0
                and int(index["max_ts"][-1]) < now_ms - self.retention_ms
            )
            too_big = self.retention_bytes is not None and total - sizes[base] >= self.retention_bytes
            if not (too_old or too_big):
                break
            (self.folder / segment_name(base)).unlink(missing_ok=True)
            (self.folder / f"{base:020d}.idx").unlink(missing_ok=True)
            total -= sizes[base]
            dropped.append(base)
        return dropped

    def enforce_retention(self, now_ms: int | None = None) -> list[int]:
        """Apply the retention limits now; returns the base offsets of the dropped segments."""
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            return self._enforce_retention(now_ms)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def roll(self) -> None:
        """Start a new segment now (used by retention tests and compaction of idle logs)."""
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            self._catch_up()
            if self._size:
                os.fsync(self._fd)
                os.fsync(self._idx_fd)
                self._create_segment(self._next)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def flush(self) -> None:
        """fsync what this writer appended."""
        if self._fd >= 0 and self._unsynced:
            os.fsync(self._fd)
            self._unsynced = 0

    def close(self) -> None:
        self.flush()
        self._close_files()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


class PartitionReader:
    """Reads one partition from a position; takes no lock and never returns a torn frame."""

    def __init__(self, folder: Path, partition: int):
        self.folder = folder
        self.partition = partition
        self._fd = -1
        self._base = -1
        self._pos = 0  # byte position of the frame holding ``next_offset``
        self.next_offset = 0
        self._chunk = b""  # the last bytes read from the segment, and where they start
        self._chunk_start = 0

    def _open(self, base: int) -> None:
        self.close()
        self._fd = os.open(self.folder / segment_name(base), os.O_RDONLY)
        self._base = base
        self._chunk, self._chunk_start = b"", 0

    def seek(self, offset: int | str) -> int:
        """Position at ``offset`` (clamped to what the log holds), ``"earliest"`` or ``"latest"``."""
        for _ in range(5):  # a segment may vanish under retention while we look at it
            segments = list_segments(self.folder)
            if not segments:
                raise StreamError(f"partition folder {self.folder} has no segments; was the stream deleted?")
            try:
                if offset == "earliest":
                    return self._seek_in(segments[0], segments[0])
                if offset == "latest":
                    return self._seek_in(segments[-1], None)
                if not isinstance(offset, int) or offset < 0:
                    raise StreamError(f"offset must be an int >= 0, 'earliest' or 'latest', got {offset!r}")
                target = max(offset, segments[0])
                base = max(b for b in segments if b <= target)
                return self._seek_in(base, target)
            except FileNotFoundError:
                continue
        raise StreamError(f"could not seek in {self.folder}: segments keep disappearing under retention")

    def _seek_in(self, base: int, target: int | None) -> int:
        """Position at ``target`` inside segment ``base`` (None: its end)."""
        self._open(base)
        index = read_index(self.folder, base)
        start_pos, start_off = 0, base
        if len(index):
            i = len(index) - 1 if target is None else int(np.searchsorted(index["offset"], target, side="right")) - 1
            if i >= 0:
                pos = int(index["position"][i])
                header = parse_header(os.pread(self._fd, HEADER_SIZE, pos), 0, pos)
                if header is not None and header.base_offset == int(index["offset"][i]):
                    start_pos, start_off = pos, header.base_offset
        stop = None if target is None else (lambda f: f.end_offset > target)
        frames, end = _pread_frames(self._fd, start_pos, stop=stop)
        self._pos, self.next_offset = end, frames[-1].end_offset if frames else start_off
        for f in frames:
            if target is not None and f.end_offset > target:
                self._pos, self.next_offset = f.position, max(target, f.base_offset)
                break
        return self.next_offset

    def seek_to_timestamp(self, timestamp_ms: int) -> int:
        """Position at the first record whose timestamp is at or after ``timestamp_ms``."""
        segments = list_segments(self.folder)
        for base in segments:
            index = read_index(self.folder, base)
            if base != segments[-1] and len(index) and int(index["max_ts"][-1]) < timestamp_ms:
                continue  # a rolled segment's index is complete: the whole segment is older
            try:
                self._open(base)
            except FileNotFoundError:
                continue
            start = 0
            if len(index):
                i = int(np.searchsorted(index["max_ts"], timestamp_ms, side="left")) - 1
                if i >= 0:
                    start = int(index["position"][i])
            frames, _ = _pread_frames(self._fd, start, stop=lambda f: f.max_ts >= timestamp_ms)
            if start and not frames:  # the index points past the log (cut after a crash)
                frames, _ = _pread_frames(self._fd, 0, stop=lambda f: f.max_ts >= timestamp_ms)
            for f in frames:
                if f.max_ts < timestamp_ms:
                    continue
                buf = os.pread(self._fd, HEADER_SIZE + f.body_length, f.position)
                ts = decode_body(buf, 0, f).column(0).to_numpy()
                first = int(np.argmax(ts >= timestamp_ms))
                self._pos, self.next_offset = f.position, f.base_offset + first
                return self.next_offset
        return self.seek("latest")

    def read(self, max_records: int) -> list[pa.RecordBatch]:
        """Up to ``max_records`` records from the current position, as record batches."""
        if self._fd < 0:
            self.seek(self.next_offset)
        out: list[pa.RecordBatch] = []
        remaining = max_records
        looked_again = False
        while remaining > 0:
            # frames already read but not yet returned stay in the chunk for the next call
            fresh = not (self._chunk_start <= self._pos < self._chunk_start + len(self._chunk))
            if fresh:
                self._chunk, self._chunk_start = os.pread(self._fd, READ_CHUNK, self._pos), self._pos
            buf, chunk_start = self._chunk, self._chunk_start
            at = self._pos - chunk_start
            progressed = False
            while remaining > 0:
                header = parse_header(buf, at, chunk_start + at)
                if header is None:
                    break
                need = HEADER_SIZE + header.body_length
                if len(buf) - at < need:
                    whole = os.pread(self._fd, need, self._pos)  # a frame beyond this chunk
                    if len(whole) < need:
                        break
                    self._chunk, self._chunk_start = buf, chunk_start = whole, self._pos
                    at = 0
                if not frame_is_valid(buf, at, header):
                    if not fresh:
                        fresh = True  # read again: it may have been half-written when cached
                        self._chunk = b""
                    break  # being written right now, or torn: the next writer cuts it
                self.next_offset = max(self.next_offset, header.base_offset)
                skip = self.next_offset - header.base_offset
                take = min(header.count - skip, remaining)
                if take > 0:
                    body = decode_body(buf, at, header)
                    out.append(with_position(body.slice(skip, take), self.partition, self.next_offset))
                    self.next_offset += take
                    remaining -= take
                progressed = True
                if self.next_offset < header.end_offset:
                    break
                at += need
                self._pos = chunk_start + at
            if remaining <= 0:
                break
            if progressed or not fresh:
                looked_again = False
                if not progressed:
                    self._chunk = b""
                continue
            # at the end of this segment: move on when a newer one exists, after one more
            # look at this one (its writer may have appended just before rolling)
            newer = [b for b in list_segments(self.folder) if b > self._base]
            if not newer:
                break
            if not looked_again:
                looked_again = True
                continue
            try:
                self._open(newer[0])
            except FileNotFoundError:  # dropped by retention meanwhile
                self.seek("earliest")
                continue
            self._pos = 0
            self.next_offset = max(self.next_offset, newer[0])
            looked_again = False
        return out

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
