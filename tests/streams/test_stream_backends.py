"""One suite over every streams backend (embedded log, Kafka on Tansu)."""

from __future__ import annotations

import time
import uuid

import pyarrow as pa
import pytest

from laketown.errors import StreamError
from laketown.streams.base import RECORD_SCHEMA, partition_for_key

DEADLINE_S = 25


def drain(consumer, expected: int, max_records: int = 10_000) -> pa.Table:
    """Poll until ``expected`` records arrived (bounded); returns them as one table."""
    tables = []
    got = 0
    deadline = time.monotonic() + DEADLINE_S
    while got < expected and time.monotonic() < deadline:
        t = consumer.poll(max_records=max_records, timeout_s=0.5)
        tables.append(t)
        got += t.num_rows
    return pa.concat_tables(tables) if tables else RECORD_SCHEMA.empty_table()


def test_create_list_describe_delete(backend, stream):
    info = backend.create_stream(stream, partitions=3)
    assert info.name == stream and info.partitions == 3
    assert stream in [s.name for s in backend.list_streams()]
    described = backend.describe(stream)
    assert described.partitions == 3
    assert described.end_offsets == {0: 0, 1: 0, 2: 0}
    with pytest.raises(StreamError, match="already exists"):
        backend.create_stream(stream, partitions=3)
    assert backend.create_stream(stream, partitions=3, exist_ok=True).partitions == 3
    backend.delete_stream(stream)
    assert stream not in [s.name for s in backend.list_streams()]
    with pytest.raises(StreamError, match="unknown stream"):
        backend.describe(stream)


def test_round_trip_keeps_keys_headers_timestamps(backend, stream):
    backend.create_stream(stream, partitions=2)
    values = [b"alpha", b"beta", b"gamma", b""]
    keys = [b"k1", None, b"k3", b"k1"]
    headers = [{"trace": b"t1", "n": b"\x00\x01"}, None, {}, {"x": b"y"}]
    timestamps = [1_000, 2_000, 3_000, 4_000]
    with backend.producer(stream) as producer:
        ack = producer.produce(values, keys=keys, headers=headers, timestamps_ms=timestamps)
    assert len(ack) == 4
    with backend.consumer(stream) as consumer:
        table = drain(consumer, 4)
    assert table.schema == RECORD_SCHEMA
    rows = {(r["partition"], r["offset"]): r for r in table.to_pylist()}
    assert len(rows) == 4
    for i in range(4):
        row = rows[(ack.partitions[i], ack.offsets[i])]
        assert row["value"] == values[i]
        assert row["key"] == keys[i]
        assert row["timestamp_ms"] == timestamps[i]
        assert dict(row["headers"] or []) == (headers[i] or {})


def test_same_key_always_lands_in_same_partition(backend, stream):
    backend.create_stream(stream, partitions=4)
    keys = [f"device-{i}".encode() for i in range(40)]
    with backend.producer(stream) as producer:
        first = producer.produce([b"a"] * 40, keys=keys)
        second = producer.produce([b"b"] * 40, keys=keys)
    expected = [partition_for_key(k, 4) for k in keys]
    assert first.partitions == expected
    assert second.partitions == expected
    assert len(set(expected)) > 1


def test_produce_json_uses_key_field(backend, stream):
    backend.create_stream(stream, partitions=3)
    with backend.producer(stream) as producer:
        ack = producer.produce_json([{"id": 7, "v": 1}, {"id": 8, "v": 2}], key_field="id")
    assert ack.partitions == [partition_for_key(b"7", 3), partition_for_key(b"8", 3)]
    with backend.consumer(stream) as consumer:
        table = drain(consumer, 2)
    assert sorted(table.column("value").to_pylist()) == [b'{"id":7,"v":1}', b'{"id":8,"v":2}']


def test_commit_then_new_consumer_resumes_after_it(backend, stream):
    backend.create_stream(stream, partitions=1)
    group = f"g-{uuid.uuid4().hex[:6]}"
    values = [f"r{i}".encode() for i in range(50)]
    with backend.producer(stream) as producer:
        producer.produce(values)
    with backend.consumer(stream, group=group) as first:
        part = drain(first, 20, max_records=20)
        assert part.num_rows == 20
        first.commit()
    assert backend.committed(stream, group) == {0: 20}
    with backend.consumer(stream, group=group) as second:
        rest = drain(second, 30)
    assert rest.column("value").to_pylist() == values[20:]
    assert rest.column("offset").to_pylist()[0] == 20


def test_explicit_commit_offsets(backend, stream):
    backend.create_stream(stream, partitions=2)
    group = f"g-{uuid.uuid4().hex[:6]}"
    with backend.producer(stream) as producer:
        producer.produce([b"x"] * 10, partition=0)
        producer.produce([b"y"] * 6, partition=1)
    with backend.consumer(stream, group=group) as consumer:
        drain(consumer, 16)
        consumer.commit({0: 7, 1: 2})
    assert backend.committed(stream, group) == {0: 7, 1: 2}
    assert backend.lag(stream, group) == {0: 3, 1: 4}


def test_seek_earliest_latest_offset(backend, stream):
    backend.create_stream(stream, partitions=1)
    with backend.producer(stream) as producer:
        producer.produce([f"v{i}".encode() for i in range(10)])
        with backend.consumer(stream, partitions=[0]) as consumer:
            assert consumer.assignment() == [0]
            consumer.seek(0, 6)
            assert drain(consumer, 4).column("offset").to_pylist() == [6, 7, 8, 9]
            consumer.seek(0, "earliest")
            assert drain(consumer, 10).column("offset").to_pylist() == list(range(10))
            consumer.seek(0, "latest")
            assert consumer.poll(timeout_s=0.5).num_rows == 0
            producer.produce([b"new1", b"new2"])
            table = drain(consumer, 2)
            assert table.column("offset").to_pylist() == [10, 11]
            assert table.column("value").to_pylist() == [b"new1", b"new2"]


def test_start_latest_reads_only_new_records(backend, stream):
    backend.create_stream(stream, partitions=1)
    with backend.producer(stream) as producer:
        producer.produce([b"old"] * 5)
        with backend.consumer(stream, partitions=[0], start="latest") as consumer:
            assert consumer.poll(timeout_s=0.5).num_rows == 0
            producer.produce([b"new"])
            assert drain(consumer, 1).column("value").to_pylist() == [b"new"]


def test_seek_to_timestamp_finds_first_record_at_or_after(backend, stream):
    backend.create_stream(stream, partitions=2)
    with backend.producer(stream) as producer:
        producer.produce(
            [f"a{i}".encode() for i in range(10)], timestamps_ms=[1_000 + i for i in range(10)], partition=0
        )
        producer.produce(
            [f"b{i}".encode() for i in range(10)], timestamps_ms=[2_000 + 10 * i for i in range(10)], partition=1
        )
    with backend.consumer(stream, partitions=[0, 1]) as consumer:
        consumer.seek_to_timestamp(1_005)
        t = drain(consumer, 15)
        offsets = {
            p: min(o for q, o in zip(t["partition"].to_pylist(), t["offset"].to_pylist()) if q == p) for p in (0, 1)
        }
        assert offsets == {0: 5, 1: 0}
        consumer.seek_to_timestamp(2_045)
        t = drain(consumer, 5)
        assert t.column("value").to_pylist() == [b"b5", b"b6", b"b7", b"b8", b"b9"]


def test_lag_counts_uncommitted_records(backend, stream):
    backend.create_stream(stream, partitions=2)
    group = f"g-{uuid.uuid4().hex[:6]}"
    with backend.producer(stream) as producer:
        producer.produce([b"x"] * 8, partition=0)
        producer.produce([b"y"] * 5, partition=1)
    assert backend.lag(stream, group) == {0: 8, 1: 5}
    with backend.consumer(stream, group=group) as consumer:
        drain(consumer, 13)
        consumer.commit()
    assert backend.lag(stream, group) == {0: 0, 1: 0}
    with backend.producer(stream) as producer:
        producer.produce([b"z"] * 3, partition=1)
    assert backend.lag(stream, group) == {0: 0, 1: 3}


def test_bad_input_is_refused_with_reason(backend, stream):
    backend.create_stream(stream, partitions=2)
    with backend.producer(stream) as producer:
        with pytest.raises(StreamError, match="partitions 0..1"):
            producer.produce([b"x"], partition=5)
        with pytest.raises(StreamError, match="keys has 1 items"):
            producer.produce([b"x", b"y"], keys=[b"k"])
        with pytest.raises(StreamError, match="must be bytes"):
            producer.produce(["not bytes"])  # type: ignore[list-item]
    with pytest.raises(StreamError, match="unknown stream"):
        backend.producer(f"missing-{stream}")
    with backend.consumer(stream) as consumer, pytest.raises(StreamError, match="no group"):
        consumer.commit()


def test_group_rebalance_two_consumers_no_record_twice(backend, stream):
    backend.create_stream(stream, partitions=4)
    group = f"g-{uuid.uuid4().hex[:6]}"
    values = [f"v{i:03d}".encode() for i in range(400)]
    with backend.producer(stream) as producer:
        producer.produce(values, keys=[f"k{i}".encode() for i in range(400)])
    processed: list[bytes] = []

    def step(consumer):
        table = consumer.poll(max_records=10, timeout_s=0.2)
        processed.extend(table.column("value").to_pylist())  # "process", then commit
        consumer.commit()

    c1 = backend.consumer(stream, group=group)
    c2 = backend.consumer(stream, group=group)
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and not (c1.assignment() and c2.assignment() and len(processed) >= 80):
        step(c1)
        step(c2)
    both = (c1.assignment(), c2.assignment())
    assert both[0] and both[1], f"both members get partitions, got {both}"
    assert not set(both[0]) & set(both[1])
    c1.close()
    while time.monotonic() < deadline and len(processed) < 400:
        step(c2)
    assert c2.assignment() == [0, 1, 2, 3]
    c2.close()
    assert len(processed) == len(set(processed)), "a record was processed twice"
    assert sorted(processed) == values


def test_end_offsets_after_multi_record_batches(batched_backend, stream):
    batched_backend.create_stream(stream, partitions=1)
    with batched_backend.producer(stream) as producer:
        producer.produce([b"x"] * 100)
        producer.produce([b"y"] * 100)
    assert batched_backend.describe(stream).end_offsets == {0: 200}
