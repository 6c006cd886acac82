"""RFM and CLV on the real CDNOW transactions (1997-98), read from the ``lifetimes==0.11.3``
wheel fetched on first use with ``pip download --no-deps`` into the workspace cache (never
committed; the data comes with the lifetimes package, Apache 2.0 code, and is CDNOW's).

The check: features at the end of a 39-week calibration period (1997-01-01 .. 1997-09-30),
12-month CLV scaled to the 39-week holdout (1997-10-01 .. 1998-06-30), compared with the real
holdout spend: RMSE and Spearman correlation, beside a naive baseline (the calibration spend
rate carried forward, no decay)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from laketown.apps.customer360.features import rfm
from laketown.datasets import fetch_package

PACKAGE = "lifetimes==0.11.3"
MEMBER = "lifetimes/datasets/CDNOW_master.txt"
WHEEL = "Lifetimes-0.11.3-py3-none-any.whl"
CALIBRATION_END = dt.datetime(1997, 9, 30, 23, 59, 59, tzinfo=dt.UTC)
HOLDOUT_END = dt.datetime(1998, 6, 30, 23, 59, 59, tzinfo=dt.UTC)


def fetch_wheel(cache_dir: str | Path) -> Path:
    """The lifetimes wheel in ``cache_dir``, downloaded on first use (never installed)."""
    return fetch_package(cache_dir, PACKAGE, WHEEL)


def load(cache_dir: str | Path) -> pa.Table:
    """CDNOW transactions: customer_id, ts (UTC), amount (69,659 rows)."""
    import pyarrow.csv as pacsv

    with zipfile.ZipFile(fetch_wheel(cache_dir)) as zf:
        text = zf.read(MEMBER).decode()
    lines = "\n".join(",".join(line.split()) for line in text.splitlines() if line.strip() and line.split()[0].isdigit())
    raw = pacsv.read_csv(io.BytesIO(lines.encode()), read_options=pacsv.ReadOptions(
        column_names=["customer_id", "date", "cds", "amount"]), convert_options=pacsv.ConvertOptions(
        column_types={"customer_id": pa.string(), "date": pa.string(), "cds": pa.int64(), "amount": pa.float64()}))
    ts = [dt.datetime.strptime(d, "%Y%m%d").replace(tzinfo=dt.UTC) for d in raw.column("date").to_pylist()]
    return pa.table({"customer_id": raw.column("customer_id"), "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                     "amount": raw.column("amount")})


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def evaluate(cache_dir: str | Path) -> dict[str, Any]:
    """The summary object (ARCHITECTURE.md shape) of the CLV check on CDNOW."""
    import pyarrow.compute as pc

    tx = load(cache_dir)
    cal = tx.filter(pc.less_equal(tx.column("ts"), pa.scalar(CALIBRATION_END, tx.schema.field("ts").type)))
    hold = tx.filter(pc.greater(tx.column("ts"), pa.scalar(CALIBRATION_END, tx.schema.field("ts").type)))
    horizon = (HOLDOUT_END - CALIBRATION_END).days
    feats = rfm(cal, as_of=CALIBRATION_END, horizon_days=horizon)
    spent = hold.group_by("customer_id").aggregate([("amount", "sum")])
    actual_by = dict(zip(spent.column("customer_id").to_pylist(), spent.column("amount_sum").to_pylist()))
    ids = feats.column("customer_id").to_pylist()
    actual = np.array([actual_by.get(c, 0.0) for c in ids])
    predicted = np.asarray(feats.column("clv_12m").to_numpy(zero_copy_only=False), dtype=float)
    monetary = np.asarray(feats.column("monetary").to_numpy(zero_copy_only=False), dtype=float)
    tenure = np.maximum(np.asarray(feats.column("tenure_days").to_numpy(zero_copy_only=False), dtype=float), 1.0)
    naive = monetary / tenure * horizon
    rmse = float(np.sqrt(np.mean((predicted - actual) ** 2)))
    base_rmse = float(np.sqrt(np.mean((naive - actual) ** 2)))
    rec = np.asarray(feats.column("recency_days").to_numpy(zero_copy_only=False), dtype=float)
    freq = np.asarray(feats.column("frequency").to_numpy(zero_copy_only=False), dtype=float)
    laketown = {"rmse": round(rmse, 3), "spearman": round(_spearman(predicted, actual), 4),
                "predicted_total": round(float(predicted.sum()), 1)}
    baseline = {"name": "calibration spend rate, no decay", "rmse": round(base_rmse, 3),
                "spearman": round(_spearman(naive, actual), 4), "predicted_total": round(float(naive.sum()), 1)}
    return {"area": "c360", "dataset": "cdnow", "protocol": "calibration 39 weeks / holdout 39 weeks",
            "transactions": tx.num_rows, "customers": len(ids), "actual_total": round(float(actual.sum()), 1),
            "rfm": {"median_recency_days": float(np.median(rec)), "mean_frequency": round(float(freq.mean()), 3),
                    "mean_monetary": round(float(monetary.mean()), 2)},
            "laketown": laketown, "baseline": baseline,
            "ratio": {"rmse": round(rmse / base_rmse, 4) if base_rmse else None}}
