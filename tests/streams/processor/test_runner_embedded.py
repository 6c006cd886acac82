"""Jobs run in-process over the embedded backend: sinks, lookups, side outputs, stateless jobs."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from laketown.streams.backends.embedded import EmbeddedStreams
from laketown.streams.processor import count, max, tumbling
from laketown.streams.processor.job import Job
from laketown.streams.processor.runner import run

T0 = 1_767_225_600_000


def _backend(tmp_path, partitions=2):
    backend = EmbeddedStreams(tmp_path / "streams", session_timeout_s=2.0)
    backend.create_stream("iot", partitions=partitions)
    return backend


def test_windowed_job_delivers_to_table_writer_stream_and_side_outputs(tmp_path):
    backend = _backend(tmp_path)
    events = [{"device": f"d{i % 5}", "ts": T0 + i * 1_000, "temp": float(i)} for i in range(300)]
    events[10]["temp"] = -999.0  # filtered out
    with backend.producer("iot") as p:
        p.produce_json(events, key_field="device")
        p.produce([b"not json"], keys=[b"d1"])
    sites = pa.table({"device": [f"d{i}" for i in range(5)], "site": ["north", "south", "north", "east", "west"]})
    written: list[pa.Table] = []
    errors: list[pa.Table] = []
    job = (
        Job("iot-1m", source="iot")
        .decode_json(time_field="ts")
        .filter(lambda t: pc.greater(t["temp"], -100))
        .lookup(lambda: sites, on="device", refresh="1h")
        .window(tumbling("1m"), key=["site", "device"], aggs={"n": count(), "hi": max("temp")})
        .to_table("curated.iot_1m")
        .to_stream("iot_1m")
        .on_error(errors.append)
    )
    stats = run(
        job, backend, tmp_path / "ckpt", max_idle_polls=3, poll_timeout_s=0.05, flush_on_stop=True,
        table_writer=lambda name: written.append if name == "curated.iot_1m" else None,
    )
    assert stats.records == 301 and stats.errors == 1
    result = pa.concat_tables(written)
    assert {t.schema.metadata[b"laketown.job"] for t in written} == {b"iot-1m"}
    assert result.column_names == ["site", "device", "window_start", "window_end", "n", "hi", "is_update"]
    assert pc.sum(result["n"]).as_py() == 299
    assert set(zip(result["device"].to_pylist(), result["site"].to_pylist())) == set(
        zip(sites["device"].to_pylist(), sites["site"].to_pylist())
    )
    assert result.num_rows == 5 * 5  # 5 devices x 5 minutes
    assert errors[0]["error"].to_pylist()[0].startswith("invalid JSON")

    consumer = backend.consumer("iot_1m", partitions=[0])
    produced = consumer.poll(1_000, timeout_s=1.0)
    consumer.close()
    rows = [json.loads(v) for v in produced["value"].to_pylist()]
    assert len(rows) == result.num_rows
    assert {(r["device"], r["window_start"], r["n"]) for r in rows} == {
        (d, int(w.timestamp() * 1000), n)
        for d, w, n in zip(result["device"].to_pylist(), result["window_start"].to_pylist(), result["n"].to_pylist())
    }
    assert backend.lag("iot", "iot-1m") == {0: 0, 1: 0}


def test_stateless_job_filters_and_maps_records_and_commits(tmp_path):
    backend = _backend(tmp_path, partitions=1)
    with backend.producer("iot") as p:
        p.produce_json([{"device": "d1", "ts": T0 + i, "temp": float(i)} for i in range(100)])
    got: list[pa.Table] = []
    job = (
        Job("hot", source="iot")
        .decode_json(time_field="ts")
        .filter(lambda t: pc.greater_equal(t["temp"], 90))
        .map(lambda t: t.select(["device", "temp"]))
        .to_callback(got.append)
    )
    run(job, backend, tmp_path / "ckpt", max_idle_polls=2, poll_timeout_s=0.05)
    assert pa.concat_tables(got)["temp"].to_pylist() == [float(i) for i in range(90, 100)]
    assert backend.committed("iot", "hot") == {0: 100}


def test_second_run_resumes_after_the_checkpoint_without_repeating_output(tmp_path):
    backend = _backend(tmp_path, partitions=1)
    got: list[pa.Table] = []

    def job():
        return (
            Job("counts", source="iot")
            .decode_json(time_field="ts")
            .window(tumbling("1m"), key="device", aggs={"n": count()})
            .to_callback(got.append)
        )

    with backend.producer("iot") as p:
        p.produce_json([{"device": "d", "ts": T0 + i * 1_000} for i in range(90)])  # minute 0 fires
    run(job(), backend, tmp_path / "ckpt", max_idle_polls=2, poll_timeout_s=0.05)
    with backend.producer("iot") as p:
        p.produce_json([{"device": "d", "ts": T0 + i * 1_000} for i in range(90, 200)])
    run(job(), backend, tmp_path / "ckpt", max_idle_polls=2, poll_timeout_s=0.05, flush_on_stop=True)
    rows = pa.concat_tables(got).to_pylist()
    assert [(int(r["window_start"].timestamp() * 1000) - T0, r["n"]) for r in rows] == [
        (0, 60), (60_000, 60), (120_000, 60), (180_000, 20)
    ]


def test_idle_partition_watermark_follows_the_busy_ones_when_asked(tmp_path):
    backend = _backend(tmp_path, partitions=2)
    with backend.producer("iot") as p:
        p.produce_json([{"device": "quiet", "ts": T0 + 1_000}], partition=1)
        p.produce_json([{"device": "busy", "ts": T0 + i * 1_000} for i in range(200)], partition=0)

    def job(idle):
        got: list[pa.Table] = []
        j = (
            Job(f"idle-{idle}", source="iot")
            .decode_json(time_field="ts")
            .window(tumbling("1m"), key="device", aggs={"n": count()}, idle_timeout=idle)
            .to_callback(got.append)
        )
        run(j, backend, tmp_path / "ckpt", max_idle_polls=3, poll_timeout_s=0.05)
        return {r["device"] for r in pa.concat_tables(got).to_pylist()} if got else set()

    assert job(None) == {"busy"}  # the quiet partition's window waits for its own next record
    assert job(0) == {"busy", "quiet"}
