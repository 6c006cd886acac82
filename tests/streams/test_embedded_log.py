"""Segment, frame and index behaviour of the embedded log."""

from __future__ import annotations

import pyarrow as pa
import pytest

from laketown.errors import StreamError
from laketown.streams.backends.embedded import EmbeddedStreams, partition_dir
from laketown.streams.backends.embedded_log import READ_CHUNK, list_segments, read_index


def read_values(consumer, max_records: int = 10_000) -> list[bytes]:
    out: list[bytes] = []
    while True:
        t = consumer.poll(max_records=max_records, timeout_s=0.05)
        if t.num_rows == 0:
            return out
        out.extend(t.column("value").to_pylist())


def test_index_covers_every_frame_when_two_producers_interleave(tmp_path):
    backend = EmbeddedStreams(tmp_path)
    backend.create_stream("s", partitions=1)
    a, b = backend.producer("s"), backend.producer("s")
    for i in range(10):
        (a if i % 2 else b).produce([b"%d-%d" % (i, j) for j in range(5)], timestamps_ms=[1000 * i] * 5)
    a.close()
    b.close()
    index = read_index(partition_dir(tmp_path / "s", 0), 0)
    assert index["offset"].tolist() == list(range(0, 50, 5))
    assert index["max_ts"].tolist() == [1000 * i for i in range(10)]
    with backend.consumer("s") as consumer:
        consumer.seek_to_timestamp(6500)
        assert consumer.poll()["offset"].to_pylist()[0] == 35
        consumer.seek(0, 23)
        assert consumer.poll()["value"].to_pylist()[0] == b"4-3"


def test_frames_larger_than_a_read_chunk_round_trip(tmp_path):
    backend = EmbeddedStreams(tmp_path)
    backend.create_stream("big", partitions=1)
    values = [bytes([i]) * (READ_CHUNK // 2 + 17) for i in range(5)]
    with backend.producer("big") as producer:
        producer.produce(values[:3])
        producer.produce(values[3:])
    with backend.consumer("big") as consumer:
        assert read_values(consumer) == values


def test_small_polls_split_a_frame_without_loss(tmp_path):
    backend = EmbeddedStreams(tmp_path)
    backend.create_stream("s", partitions=1)
    values = [b"v%d" % i for i in range(10)]
    with backend.producer("s") as producer:
        producer.produce(values)
    with backend.consumer("s") as consumer:
        sizes = []
        got: list[bytes] = []
        while len(got) < 10:
            t = consumer.poll(max_records=3, timeout_s=0.1)
            sizes.append(t.num_rows)
            got.extend(t.column("value").to_pylist())
    assert got == values and sizes == [3, 3, 3, 1]


def test_segments_roll_and_readers_follow_them(tmp_path):
    backend = EmbeddedStreams(tmp_path, segment_bytes=2048)
    backend.create_stream("s", partitions=1)
    with backend.producer("s") as producer, backend.consumer("s") as consumer:
        seen: list[bytes] = []
        for b in range(30):
            producer.produce([b"%02d-%d" % (b, i) + b"x" * 50 for i in range(5)])
            if b % 7 == 0:
                seen.extend(read_values(consumer))
        seen.extend(read_values(consumer))
    assert len(list_segments(partition_dir(tmp_path / "s", 0))) > 5
    assert seen == [b"%02d-%d" % (b, i) + b"x" * 50 for b in range(30) for i in range(5)]
    with backend.consumer("s") as consumer:
        consumer.seek(0, 101)
        assert consumer.poll(max_records=1)["offset"].to_pylist() == [101]


def test_records_keep_their_columns_when_keys_and_headers_are_mixed(tmp_path):
    backend = EmbeddedStreams(tmp_path)
    backend.create_stream("s", partitions=1)
    with backend.producer("s") as producer:
        producer.produce([b"a", b"b"])
        producer.produce([b"c", b"d"], keys=[None, b"k"], headers=[None, {"h": b"1"}], timestamps_ms=[5, 3])
    with backend.consumer("s") as consumer:
        rows = consumer.poll().to_pylist()
    assert [r["key"] for r in rows] == [None, None, None, b"k"]
    assert [r["headers"] for r in rows] == [None, None, None, [("h", b"1")]]
    assert [r["timestamp_ms"] for r in rows][2:] == [5, 3]
    assert rows[0]["timestamp_ms"] == rows[1]["timestamp_ms"] > 1_700_000_000_000


def test_bad_names_and_settings_are_refused(tmp_path):
    backend = EmbeddedStreams(tmp_path)
    with pytest.raises(StreamError, match="invalid stream name '../x'"):
        backend.create_stream("../x")
    with pytest.raises(StreamError, match="partitions must be an int >= 1"):
        backend.create_stream("s", partitions=0)
    backend.create_stream("s", partitions=2)
    with pytest.raises(StreamError, match="partitions 0..1; got \\[2\\]"):
        backend.consumer("s", partitions=[2])
    with pytest.raises(StreamError, match="invalid group name"):
        backend.consumer("s", group="a/b")
    with pytest.raises(StreamError, match="values must be bytes"):
        backend.producer("s").produce([None])  # type: ignore[list-item]
    assert pa.types.is_binary(backend.consumer("s").poll(timeout_s=0).schema.field("value").type)


def test_a_writer_follows_a_segment_rolled_by_another(tmp_path):
    from laketown.streams.backends.embedded_log import PartitionWriter

    backend = EmbeddedStreams(tmp_path)
    backend.create_stream("s", partitions=1)
    folder = partition_dir(tmp_path / "s", 0)
    with backend.producer("s") as producer:
        producer.produce([b"a"])
        other = PartitionWriter(folder, 0)
        other.roll()
        other.close()
        producer.produce([b"b"])  # must land in the new segment, where readers look
    assert list_segments(folder) == [0, 1]
    with backend.consumer("s") as consumer:
        assert read_values(consumer) == [b"a", b"b"]
