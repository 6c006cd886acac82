"""The embedded log under process death: SIGKILL by PID, torn tails, dead group members,
retention, several writer processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest

from laketown.streams.backends.embedded import EmbeddedStreams, partition_dir
from laketown.streams.backends.embedded_log import start_offset

pytestmark = pytest.mark.crash

SRC = str(Path(__file__).resolve().parents[2] / "src")

PRODUCER = textwrap.dedent(
    """
    import sys
    from laketown.streams.backends.embedded import EmbeddedStreams
    root, stream = sys.argv[1], sys.argv[2]
    producer = EmbeddedStreams(root).producer(stream)
    batch = 0
    while True:
        values = [b"%d-%d" % (batch, i) for i in range(200)]
        ack = producer.produce(values, keys=[b"k%d" % (i % 7) for i in range(200)])
        last = {}
        for p, o in zip(ack.partitions, ack.offsets):
            last[p] = max(o, last.get(p, -1))
        print(batch, " ".join(f"{p}:{o}" for p, o in sorted(last.items())), flush=True)
        batch += 1
    """
)

MEMBER = textwrap.dedent(
    """
    import sys, time
    from laketown.streams.backends.embedded import EmbeddedStreams
    root, stream, group = sys.argv[1], sys.argv[2], sys.argv[3]
    consumer = EmbeddedStreams(root, session_timeout_s=1.5).consumer(stream, group=group)
    while True:
        table = consumer.poll(max_records=5, timeout_s=0.1)
        consumer.commit()
        print("assigned", ",".join(map(str, consumer.assignment())), flush=True)
        time.sleep(0.05)
    """
)


def spawn(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=env)


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()


def read_all(backend: EmbeddedStreams, stream: str) -> pa.Table:
    ends = backend.describe(stream).end_offsets
    expected = sum(end - start_offset(partition_dir(backend.root / stream, p)) for p, end in ends.items())
    with backend.consumer(stream) as consumer:
        tables, got = [], 0
        deadline = time.monotonic() + 20
        while got < expected and time.monotonic() < deadline:
            t = consumer.poll(max_records=100_000, timeout_s=0.2)
            tables.append(t)
            got += t.num_rows
    return pa.concat_tables(tables)


def test_acknowledged_records_survive_kill_9_of_the_producer(tmp_path):
    root = tmp_path / "streams"
    backend = EmbeddedStreams(root)
    backend.create_stream("events", partitions=3)
    proc = spawn(PRODUCER, str(root), "events")
    acked: dict[int, int] = {}
    for batches, line in enumerate(proc.stdout, 1):
        for pair in line.split()[1:]:
            p, o = map(int, pair.split(":"))
            acked[p] = max(o, acked.get(p, -1))
        if batches >= 60:
            break
    kill9(proc)  # mid-run: it was producing the next batch

    reopened = EmbeddedStreams(root)
    table = read_all(reopened, "events")
    by_partition: dict[int, list[int]] = {}
    for p, o in zip(table["partition"].to_pylist(), table["offset"].to_pylist()):
        by_partition.setdefault(p, []).append(o)
    for p, last in acked.items():
        offsets = by_partition[p]
        assert offsets == list(range(len(offsets))), "offsets are dense and ordered"
        assert offsets[-1] >= last, f"acknowledged offset {last} of partition {p} was lost"
    values = table["value"].to_pylist()
    assert len(values) == len(set(values))
    # the log opens cleanly: a new producer continues right after the last record
    ends = reopened.describe("events").end_offsets
    with reopened.producer("events") as producer:
        ack = producer.produce([b"after"], partition=0)
    assert ack.offsets == [ends[0]]


def _produce_three_batches(backend: EmbeddedStreams) -> Path:
    backend.create_stream("s", partitions=1)
    with backend.producer("s") as producer:
        for b in range(3):
            producer.produce([f"{b}-{i}".encode() for i in range(10)])
    return partition_dir(backend.root / "s", 0) / "00000000000000000000.log"


@pytest.mark.parametrize(
    "damage",
    ["garbage_appended", "last_frame_cut_short", "frame_header_without_body"],
)
def test_torn_tail_is_cut_on_open_and_earlier_records_stay(tmp_path, damage):
    backend = EmbeddedStreams(tmp_path / "streams")
    segment = _produce_three_batches(backend)
    intact = segment.stat().st_size
    expected = [f"{b}-{i}".encode() for b in range(3) for i in range(10)]
    if damage == "garbage_appended":
        with open(segment, "ab") as f:
            f.write(os.urandom(37))
    elif damage == "last_frame_cut_short":
        os.truncate(segment, intact - 5)
        expected = expected[:20]
    else:
        with open(segment, "ab") as f:
            f.write(segment.read_bytes()[:32])  # a valid-looking header whose body never came
    # readers never return the damaged part, even before a writer repairs it
    assert read_all(backend, "s")["value"].to_pylist() == expected
    assert backend.describe("s").end_offsets == {0: len(expected)}
    # the next writer cuts the tail and appends where the valid records end
    with EmbeddedStreams(tmp_path / "streams").producer("s") as producer:
        ack = producer.produce([b"fresh"])
    assert ack.offsets == [len(expected)]
    table = read_all(backend, "s")
    assert table["value"].to_pylist() == expected + [b"fresh"]
    assert table["offset"].to_pylist() == list(range(len(expected) + 1))


def test_killed_group_member_partitions_are_taken_over(tmp_path):
    root = tmp_path / "streams"
    backend = EmbeddedStreams(root, session_timeout_s=1.5)
    backend.create_stream("jobs", partitions=4)
    with backend.producer("jobs") as producer:
        for p in range(4):
            producer.produce([f"{p}-{i}".encode() for i in range(200)], partition=p)
    member = spawn(MEMBER, str(root), "jobs", "workers")
    survivor = backend.consumer("jobs", group="workers")
    try:
        deadline = time.monotonic() + 20
        theirs: list[int] = []
        for line in member.stdout:  # wait until the member holds half of the partitions
            survivor.poll(max_records=1, timeout_s=0.05)
            theirs = [int(p) for p in line.split()[1].split(",")] if len(line.split()) > 1 else []
            if len(theirs) == 2 and len(survivor.assignment()) == 2 or time.monotonic() > deadline:
                break
        assert len(theirs) == 2 and sorted(theirs + survivor.assignment()) == [0, 1, 2, 3]
        kill9(member)
        committed_by_dead = {p: o for p, o in backend.committed("jobs", "workers").items() if p in theirs}

        first_seen: dict[int, int] = {}
        while time.monotonic() < deadline and survivor.assignment() != [0, 1, 2, 3]:
            table = survivor.poll(max_records=1_000, timeout_s=0.2)
            for p, o in zip(table["partition"].to_pylist(), table["offset"].to_pylist()):
                first_seen.setdefault(p, o)
        assert survivor.assignment() == [0, 1, 2, 3], "the survivor took over after the session timeout"
        while time.monotonic() < deadline and not all(p in first_seen for p in theirs):
            table = survivor.poll(max_records=1_000, timeout_s=0.2)
            for p, o in zip(table["partition"].to_pylist(), table["offset"].to_pylist()):
                first_seen.setdefault(p, o)
        for p in theirs:  # the taken-over partitions resume at the dead member's commits
            assert first_seen[p] == committed_by_dead.get(p, 0)
    finally:
        if member.poll() is None:
            kill9(member)
        survivor.close()


def test_retention_drops_old_segments_by_time_and_size(tmp_path):
    backend = EmbeddedStreams(tmp_path / "streams", segment_bytes=4096)
    hour_ago = int(time.time() * 1000) - 3_600_000
    backend.create_stream("by-time", partitions=1, retention_ms=60_000)
    with backend.producer("by-time") as producer:
        for b in range(20):
            producer.produce([b"o" * 100] * 10, timestamps_ms=[hour_ago] * 10)
        folder = partition_dir(backend.root / "by-time", 0)
        bases = sorted(int(p.stem) for p in folder.glob("*.log"))
        assert len(bases) == 1 and bases[0] > 0, "old segments were dropped as segments rolled"
        producer.produce([b"recent"])
    assert backend.enforce_retention("by-time") == {0: []}, "the active segment is never dropped"
    table = read_all(backend, "by-time")
    assert table["offset"].to_pylist() == list(range(bases[0], 201))
    assert table["value"].to_pylist()[-1] == b"recent"

    backend.create_stream("by-size", partitions=1, retention_bytes=12_000)
    with backend.producer("by-size") as producer:
        for b in range(40):
            producer.produce([b"%03d" % b + b"s" * 97] * 10)
    sizes = [p.stat().st_size for p in partition_dir(backend.root / "by-size", 0).glob("*.log")]
    assert sum(sizes) < 12_000 + 2 * 4096 + 2048
    table = read_all(backend, "by-size")
    offsets = table["offset"].to_pylist()
    assert offsets[0] > 0 and offsets == list(range(offsets[0], 400)), "a contiguous newest tail remains"


def test_two_producer_processes_share_a_partition(tmp_path):
    root = tmp_path / "streams"
    backend = EmbeddedStreams(root)
    backend.create_stream("shared", partitions=1)
    code = textwrap.dedent(
        """
        import sys
        from laketown.streams.backends.embedded import EmbeddedStreams
        producer = EmbeddedStreams(sys.argv[1]).producer("shared")
        for b in range(100):
            producer.produce([b"%s-%d-%d" % (sys.argv[2].encode(), b, i) for i in range(50)])
        producer.close()
        print("done", flush=True)
        """
    )
    procs = [spawn(code, str(root), name) for name in ("a", "b")]
    for proc in procs:
        assert proc.stdout.readline().strip() == "done"
        proc.wait(timeout=20)
        proc.stdout.close()
    table = read_all(backend, "shared")
    assert table["offset"].to_pylist() == list(range(10_000))
    values = table["value"].to_pylist()
    assert len(set(values)) == 10_000
    for name in (b"a", b"b"):  # each writer's batches stay whole and in order
        mine = [v for v in values if v.startswith(name + b"-")]
        assert mine == [b"%s-%d-%d" % (name, b, i) for b in range(100) for i in range(50)]
