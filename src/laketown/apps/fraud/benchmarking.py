"""Side-by-side evaluation of Laketown's model and a plain LightGBM baseline on the same split,
summarised in the shape every Laketown benchmark prints (``laketown``, ``baseline``, ``ratio``)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa

from laketown.apps.fraud.evaluation import Split, score_metrics, time_split
from laketown.apps.fraud.features import FeatureSet, handbook_features
from laketown.apps.fraud.models import GENERIC_PARAMS, LAKETOWN_PARAMS, PLAIN_PARAMS, matrix, train_classifier

TRUE_LABEL = "true_label__"


def hidden_labels_source(table: str, fs: FeatureSet, cutoff_us: int) -> str:
    """``table`` with labels from ``cutoff_us`` on hidden (read as 0) from the features, so that
    no test label reaches a risk feature; the true label stays in :data:`TRUE_LABEL`."""
    label, t = f'"{fs.label}"', f'"{fs.time}"'
    return (f"(SELECT * REPLACE (CASE WHEN epoch_us({t}) < {cutoff_us} THEN {label} ELSE 0 END AS {label}), "
            f"{label} AS {TRUE_LABEL} FROM {table}) AS src")


def fit_and_score(data: pa.Table, names: list[str], y: np.ndarray, split: Split, params: dict[str, Any],
                  seed: int = 0) -> tuple[np.ndarray, float]:
    """Train on the split's train rows; the test rows' scores and the training time."""
    X = matrix(data, names)
    t0 = time.perf_counter()
    clf = train_classifier(X[split.train], y[split.train], names, params, calibrate=False, seed=seed)
    train_s = time.perf_counter() - t0
    return clf.margin(X[split.test]), train_s


def summary(area_dataset: str, protocol: str, laketown: dict[str, Any], baseline: dict[str, Any],
            variants: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The one-line summary: both sides and Laketown / baseline for every shared number."""
    ratio = {k: round(laketown[k] / baseline[k], 3) for k in laketown
             if k in baseline and isinstance(laketown[k], (int, float)) and isinstance(baseline[k], (int, float)) and baseline[k]}
    out = {"area": "fraud", "dataset": area_dataset, "protocol": protocol, "laketown": laketown, "baseline": baseline, "ratio": ratio}
    if variants:
        out["variants"] = variants
    return out


def compare_time_split(ws: Any, table: str, fs: FeatureSet, plain: FeatureSet | None = None,
                       dataset: str = "file", train_share: float = 0.8,
                       params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Earliest ``train_share`` by time trains, the rest tests: Laketown's features and settings
    against a plain LightGBM (library defaults) on ``plain``'s columns (the raw columns, or the
    handbook's 15 features for the simulator). Labels of the test period are hidden from the
    features, so only training labels reach the risk windows."""
    if params is None:  # the simulator's own settings for its features, wide-data ones for files
        params = LAKETOWN_PARAMS if plain is None else GENERIC_PARAMS
    plain = plain or FeatureSet(handbook_features(), fs.id, fs.time, fs.amount, fs.label)
    times = ws.sql(f'SELECT epoch_us("{fs.time}") AS t FROM {table}')["t"].to_numpy()
    cutoff = int(np.quantile(times, train_share))
    source = hidden_labels_source(table, fs, cutoff)
    data = fs.compute_offline(ws, source)
    pdata = data if set(plain.names) <= set(data.column_names) else plain.compute_offline(ws, source)
    y = data[TRUE_LABEL].cast(pa.int8()).to_numpy(zero_copy_only=False)
    ts = data[fs.time].cast(pa.timestamp("us")).cast(pa.int64()).to_numpy()
    split = time_split(ts, train_share)
    scores, train_s = fit_and_score(data, fs.names, y, split, params)
    lt = {"model": "lightgbm+window-features", **score_metrics(y[split.test], scores), "train_s": round(train_s, 2),
          "features": len(fs.names)}
    py = pdata[TRUE_LABEL].cast(pa.int8()).to_numpy(zero_copy_only=False)
    pts = pdata[fs.time].cast(pa.timestamp("us")).cast(pa.int64()).to_numpy()
    psplit = time_split(pts, train_share)
    pscores, ptrain_s = fit_and_score(pdata, plain.names, py, psplit, PLAIN_PARAMS)
    base = {"name": "plain-lightgbm", **score_metrics(py[psplit.test], pscores), "train_s": round(ptrain_s, 2),
            "features": len(plain.names)}
    return summary(dataset, split.protocol, lt, base)
