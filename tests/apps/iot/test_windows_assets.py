"""SiteWise window semantics: UTC-aligned, (start, end], value stamped at the end; asset
hierarchy metrics; the processor jobs with enrichment from the assets table."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from laketown.apps.iot import processing
from laketown.apps.iot.assets import (
    ASSETS_TABLE,
    Asset,
    AssetModel,
    AssetTree,
    Metric,
    fleet_tree,
    window_end,
)
from laketown.apps.iot.ingest import TELEMETRY_STREAM
from laketown.errors import ConfigError
from laketown.streams.delivery import processor_table_writer
from laketown.streams.processor import run

MIN = 60_000
DAY0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def test_reading_exactly_on_a_boundary_closes_the_window_that_ends_there():
    ts = np.array([DAY0, DAY0 + 1, DAY0 + MIN - 1, DAY0 + MIN, DAY0 + MIN + 1])
    assert window_end(ts, MIN).tolist() == [DAY0, DAY0 + MIN, DAY0 + MIN, DAY0 + MIN, DAY0 + 2 * MIN]


def test_windows_must_be_between_a_minute_and_a_day_and_divide_the_day():
    for bad in ("30s", "2d", "7m"):
        with pytest.raises(ConfigError, match="not allowed"):
            _ = Metric("avg", "temp", bad).window_ms
    assert Metric("avg", "temp", "1d").window_ms == 86_400_000


def test_hierarchy_metrics_aggregate_every_reading_below():
    tree = fleet_tree(["m1", "m2", "m3", "m4"], ["temp"], sites=1, lines_per_site=2)
    readings = pa.table({"device_id": ["m1", "m1", "m2", "m3"], "ts": [DAY0 + MIN, DAY0 + MIN + 1, DAY0 + 5, DAY0 + 7],
                         "temp": [10.0, 20.0, 30.0, 60.0]})
    line1 = tree.metrics(readings, "site-1-line-1", ["temp_avg_1m"]).to_pylist()  # m1, m3
    assert line1 == [{"metric": "temp_avg_1m", "window_end": DAY0 + MIN, "value": 35.0},
                     {"metric": "temp_avg_1m", "window_end": DAY0 + 2 * MIN, "value": 20.0}]
    site = tree.metrics(readings, "site-1", ["temp_avg_1m"]).to_pylist()
    assert site[0]["value"] == pytest.approx((10 + 30 + 60) / 3)
    f = tree.metrics(readings, "m2", ["temp_f_avg_1h"]).to_pylist()
    assert f == [{"metric": "temp_f_avg_1h", "window_end": DAY0 + 3_600_000, "value": 86.0}]


def test_asset_model_errors_name_the_problem():
    with pytest.raises(ConfigError, match="unknown 'speed'"):
        AssetModel("m", ("temp",), transforms={"x": "speed * 2"})
    with pytest.raises(ConfigError, match="unknown aggregate 'median'"):
        AssetModel("m", ("temp",), metrics={"x": Metric("median", "temp")})
    with pytest.raises(ConfigError, match="parent 'nope'"):
        AssetTree([AssetModel("m", ("temp",))], [Asset("a", "m", parent="nope")])


def test_window_job_boundaries_and_enrichment(ws):
    tree = fleet_tree(["m1", "m2"], ["temp"], sites=1, lines_per_site=1)
    ws.lake.write(ASSETS_TABLE, tree.as_table(), mode="overwrite")
    ws.streams.create_stream(TELEMETRY_STREAM, partitions=1, exist_ok=True)
    rows = [{"device_id": "m2", "ts": DAY0 + 30_000, "temp": 7.0},
            {"device_id": "m1", "ts": DAY0 + MIN, "temp": 1.0},       # last of the first window
            {"device_id": "m1", "ts": DAY0 + MIN + 1, "temp": 3.0},   # first of the next
            {"device_id": "m1", "ts": DAY0 + 2 * MIN, "temp": 5.0},   # end of the next, inclusive
            {"device_id": "m1", "ts": DAY0 + 10 * MIN, "temp": 0.0}]  # moves the watermark on
    with ws.streams.producer(TELEMETRY_STREAM) as p:
        p.produce_json(rows, key_field="device_id", timestamps_ms=[r["ts"] for r in rows])
    job = processing.window_job(ws, "1m", sensors=["temp"], lateness="0s")
    run(job, ws.streams, processing.checkpoint_dir(ws), max_idle_polls=2, flush_on_stop=True,
        table_writer=processor_table_writer(ws.lake))
    out = ws.table("curated.iot_metrics_1m").to_arrow().sort_by([("device_id", "ascending"), ("window_end", "ascending")])
    got = [(r["device_id"], r["window_end"].timestamp() * 1000 - DAY0, r["n"], r["temp_mean"], r["line"], r["site"])
           for r in out.to_pylist()]
    assert got[:3] == [("m1", MIN, 1, 1.0, "site-1-line-1", "site-1"), ("m1", 2 * MIN, 2, 4.0, "site-1-line-1", "site-1"),
                       ("m1", 10 * MIN, 1, 0.0, "site-1-line-1", "site-1")]
    assert got[3] == ("m2", MIN, 1, 7.0, "site-1-line-1", "site-1")
