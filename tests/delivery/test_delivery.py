"""Delivery of a stream into an Iceberg table: exactly once through kills, dead letters, transforms."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from laketown.streams.backends.embedded import EmbeddedStreams
from laketown.streams.delivery import DeliverySink, committed_offsets

#: seconds without records after which a test sink stops (Kafka needs a moment to start fetching)
IDLE = 2.0
WORKER = Path(__file__).with_name("sink_worker.py")
SCHEMA = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("device", pa.string()),
                    pa.field("temp", pa.float64()), pa.field("ts", pa.timestamp("us", tz="UTC"))])


@pytest.fixture
def setup(ws, streams, stream_name):
    """A 3-partition stream on each backend and the table it is delivered to."""
    streams.create_stream(stream_name, partitions=3)
    ws.lake.create_table("raw.readings", schema=SCHEMA, partition_by=["day(ts)"])
    streams.test_stream = stream_name
    return ws, streams


@pytest.fixture
def embedded_setup(ws):
    """The same on the embedded log, for tests that kill sink processes."""
    streams = EmbeddedStreams(ws.path / "streams")
    streams.create_stream("readings", partitions=3)
    streams.test_stream = "readings"
    ws.lake.create_table("raw.readings", schema=SCHEMA, partition_by=["day(ts)"])
    return ws, streams


def sink(ws, streams, **kw):
    return DeliverySink(ws.lake, streams, streams.test_stream, "raw.readings", **kw)


def produce(streams, start, n, batch=500):
    with streams.producer(streams.test_stream) as prod:
        for lo in range(start, start + n, batch):
            rows = [{"id": i, "device": f"d{i % 7}", "temp": 20 + (i % 10) / 10,
                     "ts": f"2026-05-0{1 + i % 3}T10:00:00Z"} for i in range(lo, min(lo + batch, start + n))]
            prod.produce_json(rows, key_field="device")


def ids(ws):
    return ws.table("raw.readings").scan(columns=["id"]).column("id").to_pylist()


def test_delivers_every_record_once_and_records_offsets(setup):
    ws, streams = setup
    produce(streams, 0, 5000)
    stats = sink(ws, streams, buffer_records=1000, buffer_seconds=0.2).run(idle_exit_s=IDLE)
    got = ids(ws)
    assert sorted(got) == list(range(5000))
    assert stats.records_written == 5000
    offsets = committed_offsets(ws.table("raw.readings"), streams.test_stream)
    assert sum(offsets.values()) == 5000  # next offset per partition == records per partition
    assert ws.sql("SELECT count(DISTINCT id) AS n FROM raw.readings").column("n")[0].as_py() == 5000


def test_restart_resumes_from_the_table(setup):
    ws, streams = setup
    produce(streams, 0, 1000)
    sink(ws, streams, buffer_seconds=0.2).run(idle_exit_s=IDLE)
    produce(streams, 1000, 700)
    sink(ws, streams, buffer_seconds=0.2).run(idle_exit_s=IDLE)
    assert sorted(ids(ws)) == list(range(1700))


def test_bad_records_go_to_dead_letters_and_the_sink_goes_on(setup):
    ws, streams = setup
    with streams.producer(streams.test_stream) as prod:
        prod.produce([
            b'{"id": 1, "device": "a", "temp": 1.5}',
            b"{not json",
            b'{"id": "two", "device": "b"}',
            b'{"device": "no id"}',
            b'{"id": 5, "device": "c", "colour": "red"}',
            b'{"id": 6, "device": "d", "temp": 2.5}',
        ], partition=0)
    sink(ws, streams, buffer_seconds=0.1).run(idle_exit_s=IDLE)
    assert sorted(ids(ws)) == [1, 6]
    dead = ws.table("raw.dead_letters").scan().sort_by("source_offset").to_pylist()
    assert [d["source_offset"] for d in dead] == [1, 2, 3, 4]
    reasons = [d["error"] for d in dead]
    assert "JSONDecodeError" in reasons[0]
    assert "id" in reasons[1] and "id" in reasons[2] and "colour" in reasons[3]
    assert dead[0]["value"] == b"{not json" and dead[0]["table"] == "raw.readings"
    # the sink moved past the bad records: a restart delivers only what is new
    produce(streams, 100, 10)
    sink(ws, streams, buffer_seconds=0.1).run(idle_exit_s=IDLE)
    assert sorted(ids(ws)) == [1, 6] + list(range(100, 110))
    assert ws.table("raw.dead_letters").count() == 4


def test_transform_runs_on_each_batch(setup):
    ws, streams = setup
    produce(streams, 0, 100)

    def to_fahrenheit(t: pa.Table) -> pa.Table:
        import pyarrow.compute as pc

        return t.set_column(t.schema.get_field_index("temp"), "temp", pc.add(pc.multiply(t["temp"], 1.8), 32))

    sink(ws, streams, transform=to_fahrenheit,
                 buffer_seconds=0.1).run(idle_exit_s=IDLE)
    temps = ws.table("raw.readings").scan("id = 0").column("temp").to_pylist()
    assert temps == [pytest.approx(68.0)]


def test_sinks_on_partition_sets_together_deliver_once(setup):
    ws, streams = setup
    produce(streams, 0, 3000)
    a = sink(ws, streams, partitions=[0], buffer_seconds=0.1)
    b = sink(ws, streams, partitions=[1, 2], buffer_seconds=0.1)
    a.run(idle_exit_s=IDLE)
    b.run(idle_exit_s=IDLE)
    assert sorted(ids(ws)) == list(range(3000))


def _worker(ws, *extra):
    return subprocess.Popen([sys.executable, str(WORKER), str(ws.path), "readings", "raw.readings", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.crash
def test_kill_between_data_files_and_commit_leaves_no_gap_and_no_duplicate(embedded_setup):
    ws, streams = embedded_setup
    produce(streams, 0, 4000)
    proc = _worker(ws, "--die-at-commit", "3")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, (out, err)
    assert "dying" in out
    before = ids(ws)
    assert 0 < len(before) < 4000 and len(set(before)) == len(before)
    proc = _worker(ws)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    got = ids(ws)
    assert len(got) == 4000 and sorted(got) == list(range(4000))


@pytest.mark.crash
def test_random_kills_while_records_flow_lose_and_duplicate_nothing(embedded_setup):
    ws, streams = embedded_setup
    produced = 0
    for round_ in range(4):
        produce(streams, produced, 1500)
        produced += 1500
        proc = _worker(ws, "--idle-exit", "30", "--buffer-records", "300")
        time.sleep(0.4 + 0.3 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    proc = _worker(ws, "--idle-exit", "1")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    got = ids(ws)
    assert len(got) == produced and sorted(got) == list(range(produced))


def test_unknown_partition_is_a_clear_error(setup):
    ws, streams = setup
    with pytest.raises(Exception, match=r"partitions 0..2; got \[5\]"):
        sink(ws, streams, partitions=[5])


def test_key_columns_turn_repeated_records_into_one_row(setup):
    ws, streams = setup
    produce(streams, 0, 300)
    produce(streams, 100, 50)  # an at-least-once producer sent these again
    sink(ws, streams, buffer_seconds=0.2, key_columns=["id"]).run(idle_exit_s=IDLE)
    produce(streams, 250, 100)  # and again, in a later buffer, with new ones
    sink(ws, streams, buffer_seconds=0.2, key_columns=["id"]).run(idle_exit_s=IDLE)
    got = ids(ws)
    assert sorted(got) == list(range(350))
