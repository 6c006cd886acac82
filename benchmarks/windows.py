"""Benchmark: 1-minute tumbling window (count, mean, max per key; 10k keys) over synthetic events.

Laketown's window operator is fed Arrow batches (already-decoded columns, and a variant that
decodes JSON bytes first) on one core; the baseline is one DuckDB GROUP BY over all events loaded
at once (the batch limit, no streaming); bytewax 0.21 runs the same job where it is installed.
Prints JSON lines; the last one is the summary.

    python benchmarks/windows.py [--quick] [--events N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laketown.streams.processor import WindowOperator, tumbling
from laketown.streams.processor import aggregations as agg
from laketown.streams.processor.decode import JsonDecoder

KEYS = 10_000
RATE_PER_S = 50_000  # events per second of event time: 3M events per 1-minute window
OOO_MS = 2_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def make_events(n: int, seed: int = 0) -> pa.Table:
    """n events in arrival order: key, event time (ms, out of order by up to 2 s), value."""
    rng = np.random.default_rng(seed)
    ts = T0 + (np.arange(n, dtype=np.int64) * 1000) // RATE_PER_S
    ts = ts - rng.integers(0, OOO_MS, n)
    return pa.table({"key": rng.integers(0, KEYS, n), "ts": ts, "value": rng.normal(20.0, 5.0, n)})


def _operator() -> WindowOperator:
    return WindowOperator(
        tumbling("1m"),
        {"n": agg.count(), "mean": agg.mean("value"), "max": agg.max("value")},
        key="key",
        out_of_orderness=OOO_MS + 1_000,
        time_column="ts",
    )


def run_laketown(events: pa.Table, batch: int) -> tuple[float, pa.Table]:
    op = _operator()
    batches = events.to_batches(max_chunksize=batch)
    out = []
    t = time.perf_counter()
    for b in batches:
        r = op.process(pa.Table.from_batches([b])).results
        if r.num_rows:
            out.append(r)
    out.append(op.flush())
    wall = time.perf_counter() - t
    return wall, pa.concat_tables(out)


def json_records(events: pa.Table) -> pa.Table:
    """The events as stream records: JSON bytes in ``value`` (built with Arrow string kernels)."""
    parts = [
        pa.scalar('{"key":'), pc.cast(events["key"], pa.string()),
        pa.scalar(',"ts":'), pc.cast(events["ts"], pa.string()),
        pa.scalar(',"value":'), pc.cast(events["value"], pa.string()), pa.scalar("}"),
    ]
    text = pc.binary_join_element_wise(*parts, "")
    return pa.table({"timestamp_ms": events["ts"], "value": pc.cast(text, pa.binary())})


def run_laketown_json(records: pa.Table, batch: int) -> tuple[float, pa.Table]:
    op = _operator()
    dec = JsonDecoder(
        time_field="ts", schema=pa.schema([("key", pa.int64()), ("ts", pa.int64()), ("value", pa.float64())]),
        use_threads=False,
    )
    batches = records.to_batches(max_chunksize=batch)
    out = []
    t = time.perf_counter()
    for b in batches:
        d = dec.decode(pa.Table.from_batches([b])).table
        r = op.process(d).results
        if r.num_rows:
            out.append(r)
    out.append(op.flush())
    return time.perf_counter() - t, pa.concat_tables(out)


def run_duckdb(events: pa.Table, threads: int | None) -> tuple[float, pa.Table]:
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads={threads}")
    con.register("events", events)
    con.execute("CREATE TABLE e AS SELECT * FROM events")  # loaded at once: the batch limit
    t = time.perf_counter()
    res = con.execute(
        "SELECT key, ts // 60000 * 60000 AS window_start, count(*) AS n, avg(value) AS mean, max(value) AS max "
        "FROM e GROUP BY ALL"
    ).to_arrow_table()
    wall = time.perf_counter() - t
    con.close()
    return wall, res


def run_bytewax(events: pa.Table) -> tuple[float, int] | str:
    try:
        from datetime import UTC, datetime, timedelta

        import bytewax.operators as op
        from bytewax.dataflow import Dataflow
        from bytewax.operators.windowing import (
            EventClock,
            TumblingWindower,
            fold_window,
        )
        from bytewax.testing import TestingSource, run_main
    except ImportError as e:
        return f"not installable: {e}"
    keys = events["key"].to_pylist()
    ts = [datetime.fromtimestamp(t / 1000, tz=UTC) for t in events["ts"].to_pylist()]
    values = events["value"].to_pylist()
    data = [(str(k), v, t) for k, v, t in zip(keys, values, ts)]
    flow = Dataflow("bench_windows")
    up = op.input("in", flow, TestingSource(data, batch_size=10_000))
    keyed = op.key_on("key", up, lambda x: x[0])
    clock = EventClock(lambda x: x[2], wait_for_system_duration=timedelta(milliseconds=OOO_MS + 1_000))
    windower = TumblingWindower(length=timedelta(minutes=1), align_to=datetime(2026, 1, 1, tzinfo=UTC))

    def fold(acc, x):
        return (acc[0] + 1, acc[1] + x[1], max(acc[2], x[1]))

    def merge(a, b):
        return (a[0] + b[0], a[1] + b[1], max(a[2], b[2]))

    win = fold_window("w", keyed, clock, windower, lambda: (0, 0.0, -math.inf), fold, merge)
    rows: list = []
    op.output("out", win.down, _ListSink(rows))
    t = time.perf_counter()
    run_main(flow)
    return time.perf_counter() - t, len(rows)


class _ListSink:  # a bytewax DynamicSink writing into a list (built lazily: bytewax is optional)
    def __new__(cls, rows: list):
        from bytewax.testing import TestingSink

        return TestingSink(rows)


def check_same(ours: pa.Table, duck: pa.Table) -> bool:
    """Both give the same windows, counts and (to 1e-9) means and maxima."""
    a = ours.select(["key", "window_start", "n", "mean", "max"])
    a = a.set_column(1, "window_start", pc.cast(pc.cast(a["window_start"], pa.timestamp("ms")), pa.int64()))
    a = a.sort_by([("key", "ascending"), ("window_start", "ascending")])
    b = duck.sort_by([("key", "ascending"), ("window_start", "ascending")])
    if a.num_rows != b.num_rows:
        return False
    same = a["key"].equals(b["key"]) and np.array_equal(a["window_start"].to_numpy(), b["window_start"].to_numpy())
    same = same and np.array_equal(a["n"].to_numpy(), b["n"].to_numpy())
    same = same and np.allclose(a["mean"].to_numpy(), b["mean"].to_numpy(), rtol=1e-9)
    return bool(same and np.array_equal(a["max"].to_numpy(), b["max"].to_numpy()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="reduced run, under a minute")
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--batch", type=int, default=100_000, help="records per processed batch")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best (shortest) counts")
    args = ap.parse_args()
    n = args.events or (1_000_000 if args.quick else 10_000_000)
    n_json = min(n, 1_000_000 if args.quick else 3_000_000)
    n_bytewax = min(n, 100_000 if args.quick else 300_000)

    events = make_events(n)
    variants = []

    def best(fn, *a):
        runs = [fn(*a) for _ in range(args.repeat)]
        return min(r[0] for r in runs), runs[0][1]

    wall, ours = best(run_laketown, events, args.batch)
    lt = {"name": "laketown-arrow-columns", "events": n, "batch": args.batch, "wall_s": round(wall, 3),
          "events_per_s": round(n / wall)}
    _emit({"step": "laketown", **lt})
    variants.append(lt)

    duck_wall, duck = best(run_duckdb, events, None)
    base = {"name": "duckdb-groupby-batch", "events": n, "threads": os.cpu_count(), "wall_s": round(duck_wall, 3),
            "events_per_s": round(n / duck_wall)}
    _emit({"step": "duckdb", **base})
    same = check_same(ours, duck)
    _emit({"step": "check", "same_results_as_duckdb": same, "windows": ours.num_rows})
    d1_wall, _ = best(run_duckdb, events, 1)
    variants.append({"name": "duckdb-groupby-batch-1-thread", "events": n, "wall_s": round(d1_wall, 3),
                     "events_per_s": round(n / d1_wall)})
    _emit({"step": "duckdb-1-thread", **variants[-1]})

    records = json_records(events.slice(0, n_json))
    jwall, _jout = best(run_laketown_json, records, args.batch)
    variants.append({"name": "laketown-json-decode+window", "events": n_json, "wall_s": round(jwall, 3),
                     "events_per_s": round(n_json / jwall)})
    _emit({"step": "laketown-json", **variants[-1]})

    bw = run_bytewax(events.slice(0, n_bytewax))
    if isinstance(bw, str):
        bytewax = bw
    else:
        bytewax = {"events": n_bytewax, "wall_s": round(bw[0], 3), "events_per_s": round(n_bytewax / bw[0]),
                   "windows": bw[1]}
    _emit({"step": "bytewax", "bytewax": bytewax})

    _emit(
        {
            "area": "windows",
            "repeat": args.repeat,
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "dataset": "synthetic-10k-keys",
            "protocol": "tumbling-1m-count-mean-max",
            "laketown": {"events_per_s": lt["events_per_s"], "wall_s": lt["wall_s"], "events": n,
                         "same_results_as_duckdb": same},
            "baseline": {"name": "duckdb-groupby-batch", "events_per_s": base["events_per_s"], "wall_s": base["wall_s"]},
            "ratio": {"events_per_s": round(lt["events_per_s"] / base["events_per_s"], 3)},
            "variants": variants,
            "bytewax": bytewax,
        }
    )


if __name__ == "__main__":
    main()
