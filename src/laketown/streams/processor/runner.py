"""Running a job: poll a consumer group, process per partition, checkpoint, deliver, commit.

Each cycle: poll -> route records by partition -> each partition's pipeline (own state) ->
outputs held back. Every ``checkpoint_every_s`` (or ``checkpoint_every_batches``) each changed
partition writes its checkpoint (state + next offset + held outputs) atomically, then the
outputs go to the sinks (tagged with the checkpoint in the schema metadata, so a sink can drop a
re-delivery), then the group's offsets are committed. After a crash a worker restores each
partition from its checkpoint and seeks there, so results are as if it had never stopped;
only the outputs of the very checkpoint being delivered at the crash may reach sinks twice
(with the same checkpoint tag).

Several worker processes of one job share a consumer group and a checkpoint folder: the backend
splits partitions between them, and a per-partition lock file keeps two live workers from
owning one partition; when a worker dies its partitions move, with their checkpoints. The lock
is an ``flock``: it fences processes on one machine (or on a shared folder whose file system
honours ``flock``); workers on several machines need such a shared checkpoint folder.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laketown.errors import StreamError
from laketown.streams.base import Consumer, StreamBackend
from laketown.streams.processor.checkpoints import Checkpoint, CheckpointStore
from laketown.streams.processor.job import Job, PartitionProcessor, Sink, Writer, concat

log = logging.getLogger(__name__)

#: schema metadata keys on every delivered table
META_JOB = b"laketown.job"
META_PARTITION = b"laketown.partition"
META_CHECKPOINT = b"laketown.checkpoint"


@dataclass
class RunStats:
    """What a run did."""

    records: int = 0
    results: int = 0
    late: int = 0
    errors: int = 0
    checkpoints: int = 0
    partitions: set[int] = field(default_factory=set)


@dataclass
class _Task:
    partition: int
    processor: PartitionProcessor
    next_offset: int | None = None
    seq: int = 0
    results: list[pa.Table] = field(default_factory=list)
    late: list[pa.Table] = field(default_factory=list)
    errors: list[pa.Table] = field(default_factory=list)
    changed: bool = False
    last_record_at: float = field(default_factory=time.monotonic)


class Runner:
    """One worker of a job (see :func:`run`)."""

    def __init__(
        self,
        job: Job,
        backend: StreamBackend,
        checkpoint_dir: Any,
        *,
        checkpoint_every_s: float = 2.0,
        checkpoint_every_batches: int | None = None,
        max_records: int = 10_000,
        poll_timeout_s: float = 0.2,
        table_writer: Callable[[str], Writer] | None = None,
    ):
        self.job = job
        self.backend = backend
        self.store = CheckpointStore(checkpoint_dir, job.name)
        self.checkpoint_every_s = checkpoint_every_s
        self.checkpoint_every_batches = checkpoint_every_batches
        self.max_records = max_records
        self.poll_timeout_s = poll_timeout_s
        self.table_writer = table_writer
        self.stats = RunStats()
        self.tasks: dict[int, _Task] = {}
        self.consumer: Consumer | None = None
        self._stop = threading.Event()

    def caught_up(self) -> bool:
        """Every partition of the source is owned by a live worker's checkpoints up to its end
        (the group's committed offsets reach the end offsets)."""
        return not any(self.backend.lag(self.job.source, self.job.group).values())

    def stop(self) -> None:
        """Ask the loop to finish after the current batch (checkpointing what it has)."""
        self._stop.set()

    def run(
        self,
        stop_after: float | None = None,
        max_idle_polls: int | None = None,
        flush_on_stop: bool = False,
        until: Callable[[Runner], bool] | None = None,
    ) -> RunStats:
        """Process until ``stop()``, SIGTERM, ``stop_after`` seconds, ``max_idle_polls`` empty
        polls in a row, or ``until(runner)`` is true after a checkpoint; then checkpoint, deliver
        and commit. ``flush_on_stop`` fires every open window first (for a bounded input)."""
        self.job.partition_processor()  # validates the job
        sinks: list[Sink] = [*self.job.sinks, *self.job.late_sinks, *self.job.error_sinks]
        for s in sinks:
            s.open(self.backend, self.table_writer)
        old_handler = None
        if threading.current_thread() is threading.main_thread():
            old_handler = signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        self.consumer = self.backend.consumer(self.job.source, group=self.job.group)
        deadline = None if stop_after is None else time.monotonic() + stop_after
        last_ckpt, batches, idle = time.monotonic(), 0, 0
        try:
            while not self._stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self._sync_assignment()
                records = self.consumer.poll(self.max_records, self.poll_timeout_s)
                if records.num_rows:
                    idle = 0
                    batches += 1
                    self._process(records)
                else:
                    idle += 1
                    if max_idle_polls is not None and idle >= max_idle_polls:
                        break
                if self.job.idle_timeout_s is not None:
                    self._advance_idle(self.job.idle_timeout_s)
                due_batches = self.checkpoint_every_batches is not None and batches >= self.checkpoint_every_batches
                if due_batches or time.monotonic() - last_ckpt >= self.checkpoint_every_s:
                    self.checkpoint()
                    last_ckpt, batches = time.monotonic(), 0
                    if until is not None and until(self):
                        break
            if flush_on_stop:
                for task in self.tasks.values():
                    flushed = task.processor.flush()
                    if flushed is not None and flushed.num_rows:
                        task.results.append(flushed)
                        task.changed = True
            self.checkpoint()
        finally:
            self.consumer.close()
            self.store.close()
            for s in sinks:
                s.close()
            if old_handler is not None:
                signal.signal(signal.SIGTERM, old_handler)
        return self.stats

    # -- partitions -----------------------------------------------------------------------------

    def _sync_assignment(self) -> None:
        assert self.consumer is not None
        assigned = set(self.consumer.assignment())
        for p in [p for p in self.tasks if p not in assigned]:
            log.info("job %s: partition %d revoked; its next owner resumes from its checkpoint", self.job.name, p)
            del self.tasks[p]
            self.store.unlock(p)
        for p in sorted(assigned - set(self.tasks)):
            self._adopt(p)

    def _adopt(self, partition: int) -> _Task | None:
        """Own ``partition``: lock it, restore its checkpoint, re-deliver undelivered outputs,
        seek to its checkpointed offset (or its start). None while another live worker still
        holds it (its records are then left unread: the next adoption seeks back)."""
        assert self.consumer is not None
        if not self.store.lock(partition):
            return None
        task = _Task(partition, self.job.partition_processor())
        ckpt = self.store.load(partition)
        if ckpt is not None:
            task.processor.restore(ckpt.state)
            task.next_offset, task.seq = ckpt.next_offset, ckpt.seq
            if self.store.delivered(partition) < ckpt.seq:
                self._deliver(partition, ckpt.seq, ckpt.results, ckpt.late, ckpt.errors)
                self.store.mark_delivered(partition, ckpt.seq)
        # no checkpoint: nothing of this partition was ever processed, so read it from the start
        # whatever the reader's position (records may have been read while another worker held it)
        start: int | str = ckpt.next_offset if ckpt is not None else "earliest"
        if not self._seek(partition, start):
            return None
        log.info(
            "job %s: partition %d adopted at checkpoint %s, offset %s",
            self.job.name, partition, task.seq, start,
        )
        self.tasks[partition] = task
        self.stats.partitions.add(partition)
        return task

    def _seek(self, partition: int, offset: int | str) -> bool:
        """Seek, or give the partition up if the group just moved it away."""
        assert self.consumer is not None
        try:
            self.consumer.seek(partition, offset)  # type: ignore[arg-type]
            return True
        except StreamError as e:
            log.info("job %s: partition %d moved while seeking (%s)", self.job.name, partition, e)
            self.tasks.pop(partition, None)
            self.store.unlock(partition)
            return False

    def _process(self, records: pa.Table) -> None:
        parts = records.column("partition").to_numpy()
        for p in np.unique(parts).tolist():
            sub = records if parts[0] == parts[-1] and (parts == p).all() else records.filter(pa.array(parts == p))
            task = self.tasks.get(p)
            if task is None:
                # adopting seeks the partition to its checkpoint (or its start): these records
                # were read from wherever the reader stood, so read again from there
                self._adopt(p)
                continue
            offsets = sub.column("offset").to_numpy()
            if task.next_offset is not None:
                if offsets[0] > task.next_offset:
                    self._seek(p, task.next_offset)  # the consumer is ahead of the checkpoint: read the gap first
                    continue
                if offsets[0] < task.next_offset:
                    sub = sub.filter(pc.greater_equal(sub.column("offset"), task.next_offset))
                    if not sub.num_rows:
                        continue
                    offsets = sub.column("offset").to_numpy()
            results, late, errors = task.processor.process(sub)
            task.next_offset = int(offsets[-1]) + 1
            task.last_record_at = time.monotonic()
            task.changed = True
            self.stats.records += sub.num_rows
            for bucket, t in ((task.results, results), (task.late, late), (task.errors, errors)):
                if t is not None and t.num_rows:
                    bucket.append(t)

    def _advance_idle(self, timeout_s: float) -> None:
        """Move idle partitions' watermarks up to the highest of the others (their windows fire)."""
        ops = {p: t.processor.operator for p, t in self.tasks.items() if t.processor.operator is not None}
        if len(ops) < 2:
            return
        now = time.monotonic()
        top = max(op.watermark.current for op in ops.values())
        for p, op in ops.items():
            task = self.tasks[p]
            if now - task.last_record_at >= timeout_s and op.watermark.current < top:
                fired = op.advance_watermark(top)
                task.changed = True
                if fired.num_rows:
                    task.results.append(fired)

    # -- checkpoints ----------------------------------------------------------------------------

    def checkpoint(self) -> None:
        """Checkpoint every changed partition, deliver its held outputs, commit offsets."""
        assert self.consumer is not None
        assigned = set(self.consumer.assignment())
        commit: dict[int, int] = {}
        for p, task in list(self.tasks.items()):
            if p not in assigned:
                log.info("job %s: partition %d revoked before its checkpoint", self.job.name, p)
                del self.tasks[p]
                self.store.unlock(p)
                continue
            if not task.changed or task.next_offset is None:
                continue
            results, late, errors = concat(task.results), concat(task.late), concat(task.errors)
            task.seq += 1
            self.store.save(
                Checkpoint(self.job.name, p, task.seq, task.next_offset, task.processor.snapshot(), results, late, errors,
                           info={"pid": os.getpid(), "host": socket.gethostname()})
            )
            self.stats.checkpoints += 1
            self._deliver(p, task.seq, results, late, errors)
            self.store.mark_delivered(p, task.seq)
            task.results, task.late, task.errors, task.changed = [], [], [], False
            commit[p] = task.next_offset
        if commit:
            try:
                self.consumer.commit(commit)
            except StreamError as e:
                # the group moved a partition away (session expired); its checkpoint is the
                # truth and its next owner starts from there, so only the lag report is behind
                log.warning("job %s: offsets not committed: %s", self.job.name, e)

    def _deliver(self, partition: int, seq: int, results: pa.Table | None, late: pa.Table | None,
                 errors: pa.Table | None) -> None:
        meta = {META_JOB: self.job.name.encode(), META_PARTITION: str(partition).encode(),
                META_CHECKPOINT: str(seq).encode()}
        for table, sinks, counter in ((results, self.job.sinks, "results"), (late, self.job.late_sinks, "late"),
                                      (errors, self.job.error_sinks, "errors")):
            if table is None or not table.num_rows:
                continue
            setattr(self.stats, counter, getattr(self.stats, counter) + table.num_rows)
            tagged = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
            for sink in sinks:
                sink.write(tagged)


def run(
    job: Job,
    backend: StreamBackend,
    checkpoint_dir: Any,
    *,
    stop_after: float | None = None,
    max_idle_polls: int | None = None,
    flush_on_stop: bool = False,
    checkpoint_every_s: float = 2.0,
    checkpoint_every_batches: int | None = None,
    max_records: int = 10_000,
    poll_timeout_s: float = 0.2,
    table_writer: Callable[[str], Writer] | None = None,
    until: Callable[[Runner], bool] | None = None,
) -> RunStats:
    """Run ``job`` as one worker of its consumer group until stopped (see :class:`Runner`)."""
    runner = Runner(
        job,
        backend,
        checkpoint_dir,
        checkpoint_every_s=checkpoint_every_s,
        checkpoint_every_batches=checkpoint_every_batches,
        max_records=max_records,
        poll_timeout_s=poll_timeout_s,
        table_writer=table_writer,
    )
    return runner.run(stop_after=stop_after, max_idle_polls=max_idle_polls, flush_on_stop=flush_on_stop, until=until)
