"""Ingest's duplicate filter, durable across restarts: the last ``seq`` seen per device, saved
with the telemetry stream's end offsets at that moment (a checkpoint of the stream).

Edge agents deliver at least once, so a batch whose acknowledgement was lost comes again, also
after ingest restarts. :class:`SeqCheckpoint` keeps ``{device: last seq}`` in memory, writes it
atomically (temp file + rename) together with the next offset of every telemetry partition
that ingest has produced to, and on start loads the file and reads the stream from those
offsets to its end: records produced after the last save (e.g. just before a crash) count too.
Without a file the whole stream is read. The result is exactly what the stream holds.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from laketown.streams.ndjson import ndjson


class SeqCheckpoint:
    """Per-device last sequence numbers, saved every ``every_s`` seconds (and on close)."""

    def __init__(self, path: str | Path | None, streams: Any = None, stream: str | None = None, every_s: float = 1.0):
        self.path = Path(path) if path else None
        self.every_s = every_s
        self.last: dict[str, int] = {}
        self.offsets: dict[int, int] = {}
        self.replayed = 0  # records read from the stream on start (produced after the last save)
        self._saved_at = time.monotonic()
        self._dirty = False
        if self.path is not None:
            self._load(streams, stream)

    def _load(self, streams: Any, stream: str | None) -> None:
        if self.path is not None and self.path.exists():
            state = json.loads(self.path.read_text())
            self.last = {str(k): int(v) for k, v in state.get("last_seq", {}).items()}
            self.offsets = {int(p): int(o) for p, o in state.get("offsets", {}).items()}
        if streams is not None and stream is not None:
            self._catch_up(streams, stream)

    def _catch_up(self, streams: Any, stream: str) -> None:
        """Read the records the stream got after the saved offsets (device_id and seq only)."""
        ends = streams.describe(stream).end_offsets
        todo = {p: end for p, end in ends.items() if end > self.offsets.get(p, 0)}
        if not todo:
            self.offsets.update(ends)
            return
        with streams.consumer(stream, partitions=sorted(todo)) as c:
            for p in todo:
                c.seek(p, self.offsets.get(p, 0))
            pos = {p: self.offsets.get(p, 0) for p in todo}
            deadline = time.monotonic() + 120
            while any(pos[p] < todo[p] for p in todo) and time.monotonic() < deadline:
                got = c.poll(max_records=50_000, timeout_s=1.0)
                if not got.num_rows:
                    continue
                self._take(got.column("value").combine_chunks())
                for p, o in zip(got.column("partition").to_pylist(), got.column("offset").to_pylist(), strict=True):
                    pos[p] = max(pos[p], o + 1)
                self.replayed += got.num_rows
        self.offsets.update(pos)
        self._dirty = True

    def _take(self, values: pa.Array) -> None:
        schema = pa.schema([("device_id", pa.string()), ("seq", pa.int64())])
        opts = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        t = pj.read_json(pa.BufferReader(ndjson(values)), parse_options=opts)
        t = t.filter(pc.is_valid(t.column("seq")))
        if not t.num_rows:
            return
        best = t.group_by("device_id").aggregate([("seq", "max")])
        for dev, seq in zip(best.column("device_id").to_pylist(), best.column("seq_max").to_pylist(), strict=True):
            if seq > self.last.get(dev, -1):
                self.last[dev] = seq

    def produced(self, partitions: list[int], offsets: list[int]) -> None:
        """Note where a produced batch landed (from the producer's acknowledgement)."""
        for p, o in zip(partitions, offsets, strict=True):
            if o >= self.offsets.get(p, 0):
                self.offsets[p] = o + 1
        self._dirty = True

    def maybe_save(self) -> None:
        if self._dirty and time.monotonic() - self._saved_at >= self.every_s:
            self.save()

    def save(self) -> None:
        """Write the state atomically (call only after the produced records are durable)."""
        self._saved_at = time.monotonic()
        if self.path is None or not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"offsets": {str(p): o for p, o in self.offsets.items()}, "last_seq": self.last}))
        os.replace(tmp, self.path)
        self._dirty = False
