"""Training runs: features computed in SQL over a lake table (with analysts' labels from the
review queue taking precedence), a time split with a delay period, both models trained,
evaluated on the test period and registered in MLflow with their metrics and data snapshot."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from laketown.apps.fraud.cases import LABELS_TABLE
from laketown.apps.fraud.evaluation import score_metrics
from laketown.apps.fraud.features import DAY_US, FeatureSet
from laketown.apps.fraud.models import (
    ANOMALY,
    CLASSIFIER,
    LAKETOWN_PARAMS,
    AnomalyModel,
    FraudClassifier,
    matrix,
    train_anomaly,
    train_classifier,
)
from laketown.errors import LaketownError


@dataclass
class TrainingResult:
    classifier: FraudClassifier
    anomaly: AnomalyModel
    metrics: dict[str, float]
    versions: dict[str, int | None]
    rows: dict[str, int]
    snapshot_id: int | None
    train_s: float


def labelled_source(ws: Any, table: str, fs: FeatureSet) -> str:
    """A SQL table expression: ``table`` with analysts' latest labels replacing its own."""
    if not ws.lake.exists(LABELS_TABLE):
        return table
    label, tx_id = f'"{fs.label}"', f'"{fs.id}"'
    latest = (f"SELECT transaction_id, label FROM {LABELS_TABLE} "
              "QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY labelled_at DESC) = 1")
    return (f"(SELECT r.* REPLACE (CAST(coalesce(l.label, r.{label}) AS TINYINT) AS {label}) FROM {table} r "
            f"LEFT JOIN ({latest}) l ON CAST(r.{tx_id} AS VARCHAR) = l.transaction_id) AS labelled")


def offline_features(ws: Any, table: str, fs: FeatureSet) -> pa.Table:
    """Every row of ``table`` with its features (labels from the review queue applied)."""
    return fs.compute_offline(ws, labelled_source(ws, table, fs))


def delay_split(ts_us: np.ndarray, delay_days: int, test_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Train on everything up to ``delay_days + test_days`` before the latest transaction,
    skip the delay period (its labels would not be known yet), test on the last ``test_days``."""
    end = int(ts_us.max()) + 1
    test_start = end - test_days * DAY_US
    train_end = test_start - delay_days * DAY_US
    train, test = ts_us < train_end, ts_us >= test_start
    if not train.any() or not test.any():
        raise LaketownError(
            f"not enough history for a {delay_days}-day delay and a {test_days}-day test period; "
            "simulate or load more days, or shorten them"
        )
    return train, test


def precision_recall_points(y: Any, proba: Any, points: int = 60) -> list[list[float]]:
    """The test precision-recall curve, thinned to about ``points`` [recall, precision] pairs."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, proba)
    step = max(1, len(recall) // points)
    keep = list(range(0, len(recall), step)) + [len(recall) - 1]
    return [[round(float(recall[i]), 4), round(float(precision[i]), 4)] for i in sorted(set(keep))]


def save_test_curve(ws: Any, report: dict[str, Any]) -> None:
    """Keep the last training's test metrics and PR curve for the console (``<ws>/fraud/last_test.json``)."""
    import json
    from pathlib import Path

    folder = Path(ws.path) / "fraud"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "last_test.json").write_text(json.dumps(report, default=float))


def train(
    ws: Any,
    table: str,
    fs: FeatureSet,
    delay_days: int = 7,
    test_days: int = 7,
    params: dict[str, Any] | None = None,
    card: str | None = "customer_id",
    register: bool = True,
    seed: int = 0,
    features: pa.Table | None = None,
) -> TrainingResult:
    """Train, evaluate and (with ``register``) register both fraud models from a lake table."""
    t0 = time.perf_counter()
    data = features if features is not None else offline_features(ws, table, fs)
    ts = data[fs.time].cast(pa.timestamp("us")).cast(pa.int64()).to_numpy()
    y = data[fs.label].cast(pa.int8()).to_numpy(zero_copy_only=False)
    train_mask, test_mask = delay_split(ts, delay_days, test_days)
    if y[train_mask].sum() == 0:
        raise LaketownError(f"the training period of {table!r} has no fraud labels; simulate or load more days")
    X = matrix(data, fs.names)
    clf = train_classifier(X[train_mask], y[train_mask], fs.names, params or LAKETOWN_PARAMS, seed=seed)
    clf.feature_set = fs
    ano = train_anomaly(X[train_mask], fs.names, seed=seed)
    train_s = time.perf_counter() - t0
    metrics: dict[str, float] = {}
    if 0 < y[test_mask].sum() < test_mask.sum():
        cards = data[card].to_numpy(zero_copy_only=False)[test_mask] if card and card in data.column_names else None
        days = ts[test_mask] // DAY_US
        proba = clf.probability(X[test_mask])
        metrics = score_metrics(y[test_mask], proba, cards, days)
        metrics["anomaly_auc_roc"] = score_metrics(y[test_mask], ano.score(X[test_mask]))["auc_roc"]
        pr_curve = precision_recall_points(y[test_mask], proba)
    else:
        pr_curve = []
    metrics["train_s"] = round(train_s, 2)
    if register:
        save_test_curve(ws, {"metrics": metrics, "precision_recall": pr_curve, "test_rows": int(test_mask.sum())})
    snapshot = ws.table(table).stats()["snapshot_id"] if "." in table and ws.lake.exists(table) else None
    versions: dict[str, int | None] = {CLASSIFIER: None, ANOMALY: None}
    if register:
        from laketown.ml.registry import ModelRegistry

        reg = ModelRegistry(ws)
        info = {"table": table, "delay_days": delay_days, "test_days": test_days,
                "train_rows": int(train_mask.sum()), "test_rows": int(test_mask.sum())}
        clf.version = reg.log_model(CLASSIFIER, clf, {**clf.params, **info}, metrics, fs.names, snapshot)
        ano.version = reg.log_model(ANOMALY, ano, {"n_estimators": 100, "max_samples": 256, **info},
                                    {"auc_roc": metrics.get("anomaly_auc_roc", float("nan"))}, fs.names, snapshot)
        versions = {CLASSIFIER: clf.version, ANOMALY: ano.version}
    rows = {"train": int(train_mask.sum()), "test": int(test_mask.sum()), "train_frauds": int(y[train_mask].sum())}
    return TrainingResult(clf, ano, metrics, versions, rows, snapshot, train_s)
