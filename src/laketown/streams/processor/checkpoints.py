"""Checkpoint files: one per (job, partition), written atomically (temp file, fsync, os.replace).

A checkpoint holds the operator state, the next input offset, and the outputs computed since the
previous checkpoint (delivered only once the checkpoint is durable). A small ``.delivered``
marker says which checkpoint's outputs reached the sinks, so a restart re-delivers only what may
not have. Ownership of a partition among worker processes on one machine is fenced by an
advisory lock file (released by the kernel when a worker dies, even by SIGKILL).
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from laketown.errors import LaketownError

_MAGIC = b"LTCKPT1\n"
_SECTIONS = ("state", "results", "late", "errors")


class CheckpointError(LaketownError):
    """A checkpoint file is damaged or belongs to another job."""


@dataclass
class Checkpoint:
    """What a partition's checkpoint holds."""

    job: str
    partition: int
    seq: int
    next_offset: int
    state: bytes = b""
    results: pa.Table | None = None
    late: pa.Table | None = None
    errors: pa.Table | None = None
    info: dict = field(default_factory=dict)


def table_bytes(table: pa.Table | None) -> bytes:
    if table is None or not table.num_rows:
        return b""
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue()


def bytes_table(data: bytes) -> pa.Table | None:
    return pa.ipc.open_stream(data).read_all() if data else None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class CheckpointStore:
    """Checkpoints of one job under ``root/<job>/``: ``p-<partition>.ckpt``,
    ``p-<partition>.delivered`` and ``p-<partition>.lock``."""

    def __init__(self, root: str | os.PathLike, job: str):
        self.job = job
        self.dir = Path(root) / job
        self.dir.mkdir(parents=True, exist_ok=True)
        self._locks: dict[int, int] = {}

    def _path(self, partition: int, suffix: str) -> Path:
        return self.dir / f"p-{partition:05d}.{suffix}"

    def save(self, ckpt: Checkpoint) -> None:
        sections = [ckpt.state, table_bytes(ckpt.results), table_bytes(ckpt.late), table_bytes(ckpt.errors)]
        header = {
            "job": ckpt.job,
            "partition": ckpt.partition,
            "seq": ckpt.seq,
            "next_offset": ckpt.next_offset,
            "info": ckpt.info,
            "sections": dict(zip(_SECTIONS, map(len, sections))),
        }
        head = json.dumps(header).encode()
        body = b"".join([struct.pack("<Q", len(head)), head, *sections])
        write_atomic(self._path(ckpt.partition, "ckpt"), _MAGIC + body + struct.pack("<I", zlib.crc32(body)))

    def load(self, partition: int) -> Checkpoint | None:
        path = self._path(partition, "ckpt")
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        if not raw.startswith(_MAGIC) or len(raw) < len(_MAGIC) + 12:
            raise CheckpointError(f"{path} is not a Laketown checkpoint; move it away to start this partition over")
        body, crc = raw[len(_MAGIC):-4], struct.unpack("<I", raw[-4:])[0]
        if zlib.crc32(body) != crc:
            raise CheckpointError(f"{path} is damaged (checksum mismatch); move it away to start this partition over")
        (n,) = struct.unpack("<Q", body[:8])
        header = json.loads(body[8 : 8 + n])
        if header["job"] != self.job:
            raise CheckpointError(f"{path} belongs to job {header['job']!r}, not {self.job!r}")
        pos = 8 + n
        parts = {}
        for name in _SECTIONS:
            size = header["sections"][name]
            parts[name] = body[pos : pos + size]
            pos += size
        return Checkpoint(
            job=header["job"],
            partition=header["partition"],
            seq=header["seq"],
            next_offset=header["next_offset"],
            state=parts["state"],
            results=bytes_table(parts["results"]),
            late=bytes_table(parts["late"]),
            errors=bytes_table(parts["errors"]),
            info=header.get("info", {}),
        )

    def delivered(self, partition: int) -> int:
        """Sequence number of the last checkpoint whose outputs reached the sinks (0: none)."""
        try:
            return int(self._path(partition, "delivered").read_text())
        except FileNotFoundError:
            return 0

    def mark_delivered(self, partition: int, seq: int) -> None:
        write_atomic(self._path(partition, "delivered"), str(seq).encode())

    def lock(self, partition: int) -> bool:
        """Take this process's exclusive ownership of ``partition``; False if another live
        process holds it."""
        if partition in self._locks:
            return True
        fd = os.open(self._path(partition, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._locks[partition] = fd
        return True

    def unlock(self, partition: int) -> None:
        fd = self._locks.pop(partition, None)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def close(self) -> None:
        for p in list(self._locks):
            self.unlock(p)
