"""Lake overhead: Iceberg append + DuckDB scan through Laketown vs plain Parquet + read_parquet.

Prints JSON lines; the last line is the summary. ``--quick`` uses 200k rows.
Both sides write the same Arrow table with the same codec (zstd, Iceberg's default) and run
the same aggregate over every column.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import laketown


def make_table(rows: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols = {
        "id": np.arange(rows, dtype=np.int64),
        "customer": rng.integers(0, 100_000, rows),
        "amount": rng.lognormal(3, 1, rows),
        "score": rng.random(rows),
        "qty": rng.integers(1, 10, rows).astype(np.int32),
        "flag": rng.random(rows) < 0.1,
        "country": np.array(["DE", "FR", "GB", "IT", "NL", "PL", "SE", "US"])[rng.integers(0, 8, rows)],
        "category": np.array([f"cat{i:02d}" for i in range(40)])[rng.integers(0, 40, rows)],
        "ts": (1_767_225_600_000_000 + rng.integers(0, 86_400_000_000 * 30, rows)),
        "note": np.array([f"note-{i}" for i in range(1000)])[rng.integers(0, 1000, rows)],
    }
    t = pa.table({k: v for k, v in cols.items()})
    return t.set_column(8, "ts", t.column("ts").cast(pa.timestamp("us")))


SCAN = (
    "SELECT count(*) AS n, sum(id) AS s_id, sum(customer) AS s_c, sum(amount) AS s_a, avg(score) AS a_s, "
    "sum(qty) AS s_q, sum(flag::INT) AS s_f, count(DISTINCT country) AS d_c, count(DISTINCT category) AS d_cat, "
    "max(ts) AS m_ts, max(note) AS m_n FROM {src}"
)


def run_once(rows: int, data: pa.Table, root: Path) -> dict:
    ws = laketown.connect(root / "ws")
    tbl = ws.lake.create_table("raw.bench", sample=data)
    t0 = time.perf_counter()
    tbl.append(data)
    lake_write = time.perf_counter() - t0
    ws.sql("SELECT 1")  # open DuckDB and load extensions outside the timing
    t0 = time.perf_counter()
    lake_res = ws.sql(SCAN.format(src="raw.bench")).to_pylist()[0]
    lake_scan = time.perf_counter() - t0

    pq_path = root / "plain" / "bench.parquet"
    pq_path.parent.mkdir(parents=True)
    t0 = time.perf_counter()
    pq.write_table(data, pq_path, compression="zstd")
    plain_write = time.perf_counter() - t0
    con = duckdb.connect()
    t0 = time.perf_counter()
    plain_res = con.sql(SCAN.format(src=f"read_parquet('{pq_path}')")).fetchone()
    plain_scan = time.perf_counter() - t0
    assert lake_res["n"] == plain_res[0] == rows, (lake_res, plain_res)
    ws.close()
    return {"lake_write": lake_write, "lake_scan": lake_scan, "plain_write": plain_write, "plain_scan": plain_scan}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="200k rows, 2 repeats")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args()
    rows = args.rows or (200_000 if args.quick else 1_000_000)
    repeats = args.repeats or (2 if args.quick else 5)
    data = make_table(rows)
    runs = []
    for i in range(repeats):
        root = Path(tempfile.mkdtemp(prefix="laketown-bench-"))
        try:
            r = run_once(rows, data, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        runs.append(r)
        print(json.dumps({"run": i, "rows": rows, **{k: round(v, 4) for k, v in r.items()}}), flush=True)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    summary = {
        "area": "lake",
        "dataset": f"synthetic-{rows // 1000}k-x10",
        "protocol": f"append-then-full-scan-median-of-{repeats}",
        "laketown": {"name": "iceberg-sqlite-catalog+duckdb-iceberg_scan", "write_s": round(med["lake_write"], 4),
                     "scan_s": round(med["lake_scan"], 4)},
        "baseline": {"name": "parquet-zstd+duckdb-read_parquet", "write_s": round(med["plain_write"], 4),
                     "scan_s": round(med["plain_scan"], 4)},
        "ratio": {"write_s": round(med["lake_write"] / med["plain_write"], 3),
                  "scan_s": round(med["lake_scan"] / med["plain_scan"], 3)},
        "targets": {"write_s": 1.3, "scan_s": 1.2},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
