"""Customer engagement: the churn model on IBM Telco against logistic regression on the same
stratified 80/20 split (and, in the full run, on five more splits); dynamic segment evaluation at
100k and 1M generated endpoints against pandas boolean masks for the same rule, plus the
incremental re-check of a saved segment after a batch of events; event -> message trigger
latency and SMTP sending throughput against plain smtplib, from the engagement app's
``benchmarking`` module when it is installed.

Prints JSON lines; the last line is the summary. ``--quick`` (under a minute) uses 3 CV folds,
one split, single segment runs and the incremental re-check at 100k instead of 1M. Telco is fetched once into ``<workspace>/cache``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import laketown
from laketown.apps.engagement.churn_data import ID, LABEL, load_telco
from laketown.apps.engagement.churn_models import binary_labels, compare, infer_columns
from laketown.apps.engagement.segments import SegmentEngine

ANCHORS = {"churn_lr_auc_roc": 0.858, "churn_gbm_auc_roc": 0.84,
           "mautic_segment_rebuild": "minutes to hours at 260k-1M contacts",
           "targets": {"auc_roc": 0.86, "p99_ms": 2000, "send_vs_smtplib": 0.8, "segment_1m_s": 10}}
NOW = datetime(2026, 6, 1, tzinfo=UTC)
EVENT_TYPES = np.array(["send", "open", "click", "purchase", "unsubscribe"])
RULE = {"all": [
    {"attr": "opt_in", "op": "eq", "value": True},
    {"attr": "unsubscribed", "op": "eq", "value": False},
    {"attr": "plan", "op": "in", "value": ["pro", "team"]},
    {"attr": "age", "op": "gte", "value": 30},
    {"any": [{"event": "click", "op": "count_gte", "value": 2, "within_days": 7},
             {"event": "purchase", "op": "count_gte", "value": 1, "within_days": 30}]},
    {"not": {"attr": "country", "op": "eq", "value": "FR"}},
]}


def emit(obj: dict) -> None:
    print(json.dumps(obj, default=str), flush=True)


def churn(cache: Path, quick: bool) -> tuple[dict, list[dict]]:
    df = load_telco(cache)
    y = binary_labels(df[LABEL], LABEL)
    X, cols = infer_columns(df, exclude=(ID, LABEL))
    main = compare(X, y, cols, folds=3 if quick else 5, report=False)
    main.pop("model")
    emit({"part": "churn", "seed": 42, **main})
    repeats = []
    for seed in () if quick else (0, 1, 2, 3, 4):
        r = compare(X, y, cols, folds=5, seed=seed, report=False)
        r.pop("model")
        repeats.append({"seed": seed, "laketown": r["laketown"]["auc_roc"], "baseline": r["baseline"]["auc_roc"]})
        emit({"part": "churn-repeat", **repeats[-1]})
    return main, repeats


def generate(n: int, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """``n`` endpoints with a few attributes and 3 events each over 60 days."""
    rng = np.random.default_rng(seed)
    ids = pc.binary_join_element_wise("u", pc.cast(pa.array(np.arange(n)), pa.string()), "")
    age = rng.integers(18, 80, n).astype(float)
    endpoints = pa.table({
        "user_id": ids, "email": pc.binary_join_element_wise(ids, "@example.com", ""),
        "webhook_url": pa.nulls(n, pa.string()), "timezone": pa.array(np.full(n, "UTC")),
        "opt_in": pa.array(rng.random(n) < 0.9), "unsubscribed": pa.array(rng.random(n) < 0.05),
        "plan": pa.array(rng.choice(["free", "pro", "team", "enterprise"], n)),
        "age": pa.array(age, mask=rng.random(n) < 0.05),
        "country": pa.array(rng.choice(["FR", "DE", "US", "GB", "ES"], n)),
    })
    m = 3 * n
    users = rng.integers(0, n, m)
    ts = (np.datetime64(NOW.replace(tzinfo=None), "us") - rng.integers(0, 60 * 86_400, m).astype("timedelta64[s]"))
    events = pa.table({
        "event_id": pc.cast(pa.array(np.arange(m)), pa.string()),
        "user_id": ids.take(pa.array(users)),
        "event_type": pa.array(EVENT_TYPES[rng.integers(0, len(EVENT_TYPES), m)]),
        "ts": pa.array(ts).cast(pa.timestamp("us", tz="UTC")),
    })
    return endpoints, events


def pandas_masks(ep, ev) -> int:
    """The same rule as :data:`RULE` with pandas boolean masks (frames already in memory)."""
    recent7 = ev[ev["ts"] >= NOW - timedelta(days=7)]
    recent30 = ev[ev["ts"] >= NOW - timedelta(days=30)]
    clicks = recent7[recent7["event_type"] == "click"].groupby("user_id").size()
    buys = recent30[recent30["event_type"] == "purchase"].groupby("user_id").size()
    c = clicks.reindex(ep["user_id"]).fillna(0).to_numpy()
    b = buys.reindex(ep["user_id"]).fillna(0).to_numpy()
    mask = (ep["opt_in"].to_numpy() & ~ep["unsubscribed"].to_numpy() & ep["plan"].isin(["pro", "team"]).to_numpy()
            & (ep["age"] >= 30).to_numpy() & ((c >= 2) | (b >= 1)) & ~(ep["country"] == "FR").to_numpy())
    return int(mask.sum())


def segments(ws, sizes: list[int], repeats: int) -> dict:
    engine = SegmentEngine(ws)
    out = {}
    for n in sizes:
        endpoints, events = generate(n)
        ep, ev = endpoints.to_pandas(), events.to_pandas()
        lt, base = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            got = engine.evaluate(RULE, endpoints, events, now=NOW).num_rows
            lt.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            want = pandas_masks(ep, ev)
            base.append(time.perf_counter() - t0)
        if got != want:
            raise SystemExit(f"segment sizes differ at {n}: laketown {got}, pandas {want}")
        key = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}m"
        row = {"endpoints": n, "events": events.num_rows, "members": got,
               "laketown": {"wall_s": round(min(lt), 3)}, "baseline": {"name": "pandas-boolean-masks", "wall_s": round(min(base), 3)},
               "ratio": {"wall_s": round(min(lt) / min(base), 3)}}
        emit({"part": "segment", **row})
        out[key] = row
    return out


def incremental(ws, n: int, batch: int) -> dict:
    """Save the rule over ``n`` endpoints in the lake, then re-check after ``batch`` new events."""
    endpoints, events = generate(n, seed=5)
    # partitioned by day as the app's events table is
    ws.lake.create_table("raw.engagement_events", sample=events, partition_by=["day(ts)"]).append(events)
    engine = SegmentEngine(ws, endpoints=endpoints)
    t0 = time.perf_counter()
    saved = engine.save("bench_active", RULE, now=NOW)
    save_s = time.perf_counter() - t0
    rng = np.random.default_rng(9)

    def batch_of(start: int) -> pa.Table:
        return pa.table({
            "event_id": pa.array([f"new{start + i}" for i in range(batch)]),
            "user_id": pa.array([f"u{u}" for u in rng.integers(0, n, batch)]),
            "event_type": pa.array(rng.choice(["click", "purchase"], batch)),
            "ts": pa.array([NOW - timedelta(hours=1)] * batch, pa.timestamp("us", tz="UTC")),
        })

    timings, added = [], 0
    for k in range(3):  # the first call reads the history from the lake; later ones use memory
        fresh = batch_of(k * batch)
        t0 = time.perf_counter()
        change = engine.apply_events(fresh, now=NOW).get("bench_active", {"added": 0, "size": None})
        timings.append(time.perf_counter() - t0)
        added += change["added"]
        ws.table("raw.engagement_events").append(fresh)  # the delivery sink's part
    t0 = time.perf_counter()
    full = engine.refresh("bench_active", now=NOW)["bench_active"]
    refresh_s = time.perf_counter() - t0
    if full["added"] or full["removed"]:
        raise SystemExit(f"incremental members differ from a full refresh: {full}")
    row = {"endpoints": n, "events_per_batch": batch, "members": saved["size"], "added": added,
           "save_s": round(save_s, 3), "apply_events_first_s": round(timings[0], 3),
           "apply_events_s": round(float(np.median(timings[1:])), 3), "full_refresh_s": round(refresh_s, 3)}
    emit({"part": "segment-incremental", **row})
    return row


def channels(ws, quick: bool) -> dict:
    try:
        from laketown.apps.engagement import benchmarking
    except ImportError:
        emit({"part": "channels", "skipped": "trigger latency and send throughput: "
              "laketown.apps.engagement.benchmarking is not installed"})
        return {"skipped": True}
    trigger = benchmarking.measure_trigger_latency(ws, 50 if quick else 300)
    emit({"part": "trigger", **trigger})
    send = benchmarking.measure_send_throughput(200 if quick else 2000)
    emit({"part": "send", **send})
    return {"trigger": trigger, "send": send}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer folds, splits and repeats (under a minute)")
    ap.add_argument("--workspace", default=os.environ.get("LAKETOWN__WORKSPACE", "laketown-data"),
                    help="workspace whose cache holds the evalml wheel (Telco)")
    args = ap.parse_args()
    t_start = time.perf_counter()
    main_split, repeats = churn(Path(args.workspace) / "cache", args.quick)
    with tempfile.TemporaryDirectory(prefix="engagement-bench-") as tmp:
        ws = laketown.connect(Path(tmp) / "ws")
        seg = segments(ws, [100_000, 1_000_000], 1 if args.quick else 3)
        inc = incremental(ws, 100_000 if args.quick else 1_000_000, 1_000)
        chan = channels(ws, args.quick)
        ws.governance.wait_for_background()  # column statistics still refreshing use the SQL engine
        ws.close()
    lt, base = main_split["laketown"], main_split["baseline"]
    summary = {
        "area": "engagement", "dataset": "ibm-telco-churn", "protocol": "stratified-80-20",
        "laketown": {"model": lt["model"], "auc_roc": lt["auc_roc"], "average_precision": lt["average_precision"],
                     "train_s": lt["train_s"]},
        "baseline": {"name": "logistic-regression", "auc_roc": base["auc_roc"],
                     "average_precision": base["average_precision"], "train_s": base["train_s"]},
        "ratio": {"auc_roc": round(lt["auc_roc"] / base["auc_roc"], 4)},
        "cv_auc": main_split["cv_auc"],
        "segments": seg, "segment_incremental": inc,
    }
    if repeats:
        summary["churn_repeated_splits"] = {
            "seeds": [r["seed"] for r in repeats],
            "laketown_mean_auc_roc": round(float(np.mean([r["laketown"] for r in repeats])), 4),
            "baseline_mean_auc_roc": round(float(np.mean([r["baseline"] for r in repeats])), 4),
            "laketown_wins": sum(r["laketown"] > r["baseline"] for r in repeats),
        }
    if chan.get("skipped"):
        summary["channels"] = "skipped: laketown.apps.engagement.benchmarking not installed"
    else:
        summary["trigger"], summary["send"] = chan["trigger"], chan["send"]
    summary["anchors"] = ANCHORS
    summary["load_avg_1m"] = round(os.getloadavg()[0], 1)
    summary["cpus"] = os.cpu_count()
    summary["wall_s"] = round(time.perf_counter() - t_start, 1)
    summary["quick"] = args.quick
    emit(summary)


if __name__ == "__main__":
    main()
