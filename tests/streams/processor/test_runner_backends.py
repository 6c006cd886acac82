"""The runner over every streams backend (embedded log; Kafka on a real Tansu broker): a job
stopped and started again resumes from its checkpoints with the output of one uninterrupted run."""

from __future__ import annotations

import pyarrow as pa

from laketown.streams.processor import aggregations as agg
from laketown.streams.processor import tumbling
from laketown.streams.processor.job import Job
from laketown.streams.processor.runner import run

T0 = 1_767_225_600_000


def _events(lo, hi):
    return [{"device": f"d{i % 6}", "ts": T0 + i * 500, "temp": float(i % 17)} for i in range(lo, hi)]


def _job(stream, got):
    return (
        Job(f"job-{stream}", source=stream)
        .decode_json(time_field="ts")
        .window(tumbling("1m"), key="device", aggs={"n": agg.count(), "hi": agg.max("temp")}, out_of_orderness="2s")
        .to_callback(got.append)
    )


def _run_until(job, backend, ckpt, records, flush=False):
    return run(
        job, backend, ckpt, until=lambda r: r.stats.records >= records, stop_after=90,
        checkpoint_every_batches=1, checkpoint_every_s=0.2, poll_timeout_s=0.2, max_records=250, flush_on_stop=flush,
    )


def _rows(tables):
    return sorted(
        (r["device"], r["window_start"], r["n"], r["hi"], r["is_update"]) for r in pa.concat_tables(tables).to_pylist()
    )


def test_job_stopped_and_restarted_matches_one_uninterrupted_run(backend, stream, tmp_path):
    backend.create_stream(stream, partitions=2)
    with backend.producer(stream) as p:
        p.produce_json(_events(0, 1_500), key_field="device")
    got: list[pa.Table] = []
    stats = _run_until(_job(stream, got), backend, tmp_path / "ckpt", 1_500)
    assert stats.records == 1_500
    with backend.producer(stream) as p:
        p.produce_json(_events(1_500, 2_400), key_field="device")
    stats = _run_until(_job(stream, got), backend, tmp_path / "ckpt", 900, flush=True)
    assert stats.records == 900  # nothing read twice: the restart seeks to the checkpoints

    expected = {}
    for e in _events(0, 2_400):
        w = (e["ts"] - T0) // 60_000
        n, hi = expected.get((e["device"], w), (0, float("-inf")))
        expected[(e["device"], w)] = (n + 1, max(hi, e["temp"]))
    rows = _rows(got)
    assert [(d, int(ws.timestamp() * 1000 - T0) // 60_000, n, hi) for d, ws, n, hi, _ in rows] == sorted(
        (d, w, n, hi) for (d, w), (n, hi) in expected.items()
    )
    assert not any(r[4] for r in rows)
