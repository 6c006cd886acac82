"""A micro-batch in which a sensor is always missing (dropout) keeps its type in the jobs."""

from __future__ import annotations

from laketown.apps.iot import processing
from laketown.apps.iot.assets import ASSETS_TABLE, fleet_tree
from laketown.apps.iot.ingest import TELEMETRY_STREAM
from laketown.streams.delivery import processor_table_writer
from laketown.streams.processor import run

DAY0 = 1_767_225_600_000


def test_all_null_sensor_in_a_batch_does_not_break_the_window_job(ws):
    ws.lake.write(ASSETS_TABLE, fleet_tree(["m1"], ["temp", "flow"], sites=1, lines_per_site=1).as_table())
    ws.streams.create_stream(TELEMETRY_STREAM, partitions=1, exist_ok=True)
    rows = [{"device_id": "m1", "ts": DAY0 + i * 1000, "temp": 1.0 + i, "flow": None} for i in range(5)]
    rows.append({"device_id": "m1", "ts": DAY0 + 10 * 60_000, "temp": 0.0, "flow": None})
    with ws.streams.producer(TELEMETRY_STREAM) as p:
        p.produce_json(rows, key_field="device_id")
    job = processing.window_job(ws, "1m", sensors=["temp", "flow"])
    run(job, ws.streams, processing.checkpoint_dir(ws), max_idle_polls=2, flush_on_stop=True,
        table_writer=processor_table_writer(ws.lake))
    out = ws.table("curated.iot_metrics_1m").to_arrow().sort_by("window_end")
    assert out.column("n").to_pylist() == [1, 4, 1]  # DAY0 itself closes the window ending at DAY0
    assert out.column("flow_mean").to_pylist() == [None, None, None]
