"""Delivery into Iceberg: records/s from an embedded stream into a lake table, exactly once,
vs the same polls decoded the same way and written as plain Parquet files (no catalog, no
offsets). Also the latency from produce to visible in SQL with a 1 s buffer.

Prints JSON lines; the last line is the summary. ``--quick`` uses 300k records.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

import laketown
from laketown.streams.backends.embedded import EmbeddedStreams
from laketown.streams.delivery import DeliverySink
from laketown.streams.ndjson import ndjson

SCHEMA = pa.schema([("id", pa.int64()), ("device", pa.string()), ("site", pa.string()),
                    ("temp", pa.float64()), ("humidity", pa.float64()), ("ts", pa.timestamp("us", tz="UTC"))])


def fill(streams: EmbeddedStreams, n: int, partitions: int = 4, batch: int = 10_000) -> None:
    streams.create_stream("bench", partitions=partitions, exist_ok=True)
    with streams.producer("bench") as prod:
        for lo in range(0, n, batch):
            values = [
                (b'{"id":%d,"device":"dev-%05d","site":"plant-%d","temp":%.2f,"humidity":%.1f,'
                 b'"ts":"2026-05-01T10:%02d:%02dZ"}' % (i, i % 10_000, i % 12, 15 + (i % 200) / 10, 40 + i % 30,
                                                         (i // 60) % 60, i % 60))
                for i in range(lo, min(lo + batch, n))
            ]
            prod.produce(values, partition=None, keys=[v[23:33] for v in values])


def laketown_run(root: Path, n: int) -> float:
    ws = laketown.connect(root / "ws")
    streams = EmbeddedStreams(root / "streams")
    ws.lake.create_table("raw.bench", schema=SCHEMA)
    sink = DeliverySink(ws.lake, streams, "bench", "raw.bench", buffer_records=200_000, buffer_seconds=5)
    t0 = time.perf_counter()
    while sink.stats.records_in < n:  # every record polled; then commit the last buffer
        sink.step()
    sink.flush()
    took = time.perf_counter() - t0
    assert ws.sql("SELECT count(DISTINCT id) AS n FROM raw.bench").column("n")[0].as_py() == n
    ws.close()
    return took


def baseline_run(root: Path, n: int) -> float:
    streams = EmbeddedStreams(root / "streams")
    consumer = streams.consumer("bench", partitions=list(range(streams.describe("bench").partitions)))
    out = root / "plain"
    out.mkdir()
    opts = pajson.ParseOptions(explicit_schema=SCHEMA)
    done, files = 0, 0
    buffer: list[pa.Table] = []
    t0 = time.perf_counter()
    while done < n:
        batch = consumer.poll(max_records=200_000, timeout_s=0.5)
        buffer.append(batch)
        buffered = sum(b.num_rows for b in buffer)
        if buffered >= 200_000 or done + buffered >= n:
            records = pa.concat_tables(buffer)
            payload = ndjson(records.column("value").combine_chunks())
            table = pajson.read_json(pa.BufferReader(payload), parse_options=opts,
                                     read_options=pajson.ReadOptions(block_size=payload.size + 1))
            pq.write_table(table, out / f"part-{files:05d}.parquet", compression="zstd")
            files += 1
            done += records.num_rows
            buffer = []
    return time.perf_counter() - t0


def latency_run(root: Path, samples: int) -> list[float]:
    """Produce one record at a time; time until ws.sql sees it, with buffer_seconds=1."""
    ws = laketown.connect(root / "lat")
    streams = EmbeddedStreams(root / "lat-streams")
    streams.create_stream("lat", partitions=1)
    ws.lake.create_table("raw.lat", schema=SCHEMA)
    sink = DeliverySink(ws.lake, streams, "lat", "raw.lat", buffer_seconds=1.0)
    th = threading.Thread(target=sink.run, daemon=True)
    th.start()
    out = []
    with streams.producer("lat") as prod:
        for i in range(samples):
            t0 = time.perf_counter()
            prod.produce([json.dumps({"id": i, "device": "d", "ts": "2026-05-01T00:00:00Z"}).encode()])
            while ws.sql(f"SELECT count(*) AS n FROM raw.lat WHERE id = {i}").column("n")[0].as_py() == 0:
                time.sleep(0.05)
                if time.perf_counter() - t0 > 30:
                    raise RuntimeError("record not visible after 30 s")
            out.append(time.perf_counter() - t0)
    sink.stop()
    th.join(timeout=10)
    ws.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="300k records, 3 latency samples")
    ap.add_argument("--records", type=int, default=None)
    args = ap.parse_args()
    n = args.records or (300_000 if args.quick else 2_000_000)
    root = Path(tempfile.mkdtemp(prefix="laketown-delivery-"))
    try:
        fill(EmbeddedStreams(root / "streams"), n)
        base_s = baseline_run(root, n)
        print(json.dumps({"run": "baseline", "records": n, "wall_s": round(base_s, 3)}), flush=True)
        lt_s = laketown_run(root, n)
        print(json.dumps({"run": "laketown", "records": n, "wall_s": round(lt_s, 3)}), flush=True)
        lat = latency_run(root, 3 if args.quick else 8)
        print(json.dumps({"run": "latency", "visible_s": [round(x, 3) for x in lat]}), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    summary = {
        "area": "delivery",
        "dataset": f"synthetic-json-{n // 1000}k",
        "protocol": "embedded-stream-to-table-4-partitions-buffer-200k",
        "laketown": {"name": "delivery-sink-exactly-once-iceberg", "records_per_s": round(n / lt_s),
                     "wall_s": round(lt_s, 3), "p50_ms": round(statistics.median(lat) * 1000),
                     "max_visible_ms": round(max(lat) * 1000)},
        "baseline": {"name": "same-polls-pyarrow-json-to-parquet-files", "records_per_s": round(n / base_s),
                     "wall_s": round(base_s, 3)},
        "ratio": {"records_per_s": round((n / lt_s) / (n / base_s), 3)},
        "targets": {"records_per_s": 200_000, "max_visible_ms": 3000},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
