"""The IoT processing jobs on the platform's stream processor (Kinesis Data Analytics).

Per device, 1-minute and 5-minute tumbling windows over the telemetry stream, with SiteWise
boundaries (``closed="right"``: ``(start, end]``), min/max/mean/stddev of every sensor and a
count, enriched with the machine's line and site from ``curated.iot_assets`` (a lookup that is
reloaded every minute). Devices share partitions and their edge agents forward at their own
pace, so the watermark allows ``out_of_orderness`` (30 s by default) between devices. Results go to ``curated.iot_metrics_1m`` / ``_5m`` and, optionally, to
a callback (the inference micro-batches and the live dashboard).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from laketown.apps.iot.assets import ASSETS_TABLE
from laketown.apps.iot.ingest import TELEMETRY_STREAM
from laketown.apps.iot.simulator import SENSORS
from laketown.streams.processor import Job, count, last, max, mean, min, stddev, tumbling
from laketown.streams.processor.lookups import LookupJoin

WINDOWS = {"1m": "curated.iot_metrics_1m", "5m": "curated.iot_metrics_5m"}
RAW_TABLE = "raw.iot_telemetry"


def window_aggs(sensors: Iterable[str]) -> dict[str, Any]:
    aggs: dict[str, Any] = {"n": count(), "cycle_last": last("cycle")}
    for s in sensors:
        aggs.update({f"{s}_min": min(s), f"{s}_max": max(s), f"{s}_mean": mean(s), f"{s}_std": stddev(s)})
    return aggs


def window_job(ws: Any, size: str, sensors: Iterable[str] = SENSORS, on_results: Callable[[pa.Table], Any] | None = None,
               lateness: str = "10s", out_of_orderness: str = "30s", table: str | None = None) -> Job:
    """The per-device window job of ``size`` (``1m`` or ``5m``; other sizes need ``table``)."""
    def assets() -> pa.Table:
        if not ws.lake.exists(ASSETS_TABLE):
            return pa.table({"device_id": pa.array([], pa.string()), "line": pa.array([], pa.string()),
                             "site": pa.array([], pa.string())})
        return ws.table(ASSETS_TABLE).to_arrow().select(["device_id", "line", "site"])

    enrich = LookupJoin(assets, on="device_id", refresh="60s")

    def enriched(results: pa.Table) -> pa.Table:
        # the checkpoint tags in the schema metadata make the lake write exactly once: keep them
        return enrich(results).replace_schema_metadata(results.schema.metadata)

    name = table or WINDOWS[size]
    writer: list[Callable[[pa.Table], None]] = []

    def to_lake(results: pa.Table) -> None:
        if not writer:
            from laketown.streams.delivery import processor_table_writer

            writer.append(processor_table_writer(ws.lake)(name))
        writer[0](enriched(results))

    sensors = list(sensors)
    # fixed types: a micro-batch in which a sensor is always missing must not make it a null column
    schema = pa.schema([("device_id", pa.string()), ("ts", pa.int64()), ("cycle", pa.int64()),
                        *[(s, pa.float64()) for s in sensors]])
    job = (Job(f"iot-windows-{size}", source=TELEMETRY_STREAM)
           .decode_json(time_field="ts", schema=schema)
           .window(tumbling(size, closed="right"), key="device_id",
                   aggs=window_aggs(sensors), lateness=lateness, out_of_orderness=out_of_orderness)
           .to_table(name, write=to_lake))
    if on_results is not None:
        job.to_callback(lambda results: on_results(enriched(results)))
    return job


def checkpoint_dir(ws: Any) -> Path:
    return Path(ws.path) / "iot" / "checkpoints"


def raw_schema(sensors: Iterable[str] = SENSORS) -> pa.Schema:
    """``raw.iot_telemetry``: what devices sent, as received (partitioned by day of ``time``)."""
    fields = [pa.field("device_id", pa.string(), nullable=False), pa.field("ts", pa.int64()),
              pa.field("time", pa.timestamp("us", tz="UTC")), pa.field("seq", pa.int64()),
              pa.field("cycle", pa.int64()), pa.field("setting1", pa.float64()), pa.field("setting2", pa.float64()),
              pa.field("setting3", pa.float64())]
    fields += [pa.field(s, pa.float64()) for s in sensors]
    fields.append(pa.field("received_ms", pa.int64()))
    return pa.schema(fields)


def raw_sink(ws: Any, **kw: Any) -> Any:
    """The delivery of the telemetry stream into ``raw.iot_telemetry`` (exactly once)."""
    from laketown.streams.delivery import DeliverySink

    ws.lake.create_table(RAW_TABLE, schema=raw_schema(), partition_by=["day(time)"], exist_ok=True)
    return DeliverySink(ws.lake, ws.streams, TELEMETRY_STREAM, RAW_TABLE, unknown_fields="ignore",
                        dead_letter_table="raw.iot_dead_letters", name="sink-iot-telemetry", **kw)


def windows_of(readings: Any, size_ms: int = 60_000, sensors: Iterable[str] = SENSORS) -> Any:
    """What the window job computes, from readings at rest (a pandas frame with ``device_id``,
    ``ts``, ``cycle`` and the sensors): per device and window ``(end - size, end]``, ``n``,
    ``cycle_last`` and each sensor's min/max/mean/std; ``rul`` (RUL at the window's last
    reading) when the readings carry it. For training models that score window results."""
    import numpy as np

    sensors = list(sensors)
    df = readings.sort_values(["device_id", "ts"], kind="stable")
    end = -(-df["ts"].to_numpy(np.int64) // size_ms) * size_ms  # ceil: a reading on a boundary ends that window
    df = df.assign(window_end=end)
    g = df.groupby(["device_id", "window_end"], sort=True)
    parts = [g.size().rename("n"), g["cycle"].last().rename("cycle_last")]
    for s in sensors:
        a = g[s].agg(["min", "max", "mean", "std"])
        a.columns = [f"{s}_{c}" for c in a.columns]
        parts.append(a)
    if "rul" in df.columns:
        parts.append(g["rul"].last())
    import pandas as pd

    return pd.concat(parts, axis=1).reset_index()
