"""Checkpoint files: round trip, damage detection, partition locks between processes."""

import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

from laketown.errors import ConfigError
from laketown.streams.processor import count, tumbling
from laketown.streams.processor.checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointStore,
)
from laketown.streams.processor.job import Job


def test_checkpoint_round_trip_keeps_state_offset_and_held_outputs(tmp_path):
    store = CheckpointStore(tmp_path, "job-a")
    results = pa.table({"k": [1, 2], "n": [3, 4]})
    store.save(Checkpoint("job-a", 3, seq=7, next_offset=1234, state=b"\x00state", results=results))
    got = store.load(3)
    assert (got.seq, got.next_offset, got.state) == (7, 1234, b"\x00state")
    assert got.results.equals(results) and got.late is None and got.errors is None
    assert store.load(4) is None
    assert store.delivered(3) == 0
    store.mark_delivered(3, 7)
    assert store.delivered(3) == 7
    assert not [p for p in store.dir.iterdir() if p.name.endswith(".tmp")]


def test_damaged_or_foreign_checkpoint_is_refused_with_what_to_do(tmp_path):
    store = CheckpointStore(tmp_path, "job-a")
    store.save(Checkpoint("job-a", 0, seq=1, next_offset=10, state=b"x" * 100))
    path = store.dir / "p-00000.ckpt"
    raw = bytearray(path.read_bytes())
    raw[40] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="damaged.*move it away"):
        store.load(0)
    path.write_bytes(b"hello")
    with pytest.raises(CheckpointError, match="not a Laketown checkpoint"):
        store.load(0)
    (tmp_path / "job-b").mkdir()
    CheckpointStore(tmp_path, "job-a").save(Checkpoint("job-a", 1, 1, 1))
    (tmp_path / "job-a" / "p-00001.ckpt").rename(tmp_path / "job-b" / "p-00001.ckpt")
    with pytest.raises(CheckpointError, match="belongs to job 'job-a'"):
        CheckpointStore(tmp_path, "job-b").load(1)


def test_partition_lock_excludes_a_second_process_until_the_owner_dies(tmp_path):
    store = CheckpointStore(tmp_path, "job-a")
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from laketown.streams.processor.checkpoints import CheckpointStore
            s = CheckpointStore({str(tmp_path)!r}, "job-a")
            assert s.lock(5)
            print("locked", flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert not store.lock(5)
        assert store.lock(6)
        holder.kill()  # SIGKILL: the kernel releases the lock
        holder.wait(timeout=10)
        assert store.lock(5)
    finally:
        if holder.poll() is None:
            holder.kill()
        store.close()


def test_job_definition_errors_say_what_to_fix():
    with pytest.raises(ConfigError, match="no sink"):
        Job("j", source="s").window(tumbling("1m"), aggs={"n": count()}).partition_processor()
    with pytest.raises(ConfigError, match="before window"):
        Job("j", source="s").window(tumbling("1m"), aggs={"n": count()}).filter(lambda t: t)
    with pytest.raises(ConfigError, match="decode_json\\(\\) must come first"):
        Job("j", source="s").filter(lambda t: t).decode_json()
    with pytest.raises(ConfigError, match="at least one aggregation"):
        Job("j", source="s").window(tumbling("1m"), aggs={})
    with pytest.raises(ConfigError, match="job name"):
        Job("a/b", source="s")
