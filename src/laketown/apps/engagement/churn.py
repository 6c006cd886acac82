"""The churn loop: train on the IBM Telco data (plus engagement features when engagement events
name its customers), evaluate against logistic regression on the same split, register the model
in MLflow, score every customer into ``curated.engagement_churn_scores`` and refresh the
model-based segment ``churn_risk`` (churn probability >= 0.7) that a retention campaign targets.

The model that is registered and scores is the one trained on the 80 % split, so the reported
test metrics are the metrics of the model in use.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from laketown.apps.engagement.churn_data import (
    ENGAGEMENT_FEATURES,
    ID,
    LABEL,
    engagement_features,
    telco_endpoints,
    telco_or_generated,
)
from laketown.apps.engagement.churn_models import (
    ChurnModel,
    binary_labels,
    compare,
    infer_columns,
)
from laketown.errors import LaketownError

MODEL_NAME = "engagement_churn"
SCORES_TABLE = "curated.engagement_churn_scores"
REPORTS_TABLE = "curated.engagement_churn_reports"
ENDPOINTS_TABLE = "clean.engagement_endpoints"
SEGMENT = "churn_risk"
THRESHOLD = 0.7
RISK_RULE = {"all": [{"model": "churn", "op": "gte", "value": THRESHOLD}]}
SCORES_SCHEMA = pa.schema([("user_id", pa.string()), ("churn_probability", pa.float64()),
                           ("model_version", pa.int64()), ("scored_at", pa.timestamp("us", tz="UTC"))])
REPORTS_SCHEMA = pa.schema([("model_version", pa.int64()), ("trained_at", pa.timestamp("us", tz="UTC")),
                            ("report", pa.string())])


def _frame(ws: Any, df: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """Telco rows with the engagement features joined by customerID = user_id, when any exist."""
    eng = engagement_features(ws, df[ID])
    if eng is None:
        return df, False
    counts = [c for c in ENGAGEMENT_FEATURES]
    eng[counts] = eng[counts].fillna(0.0)
    return pd.concat([df, eng], axis=1), True


def _step(progress: Any, task: Any, label: str) -> None:
    if progress is not None and task is not None:
        progress.update(task, advance=1, description=f"churn model: {label}")


def train(ws: Any, folds: int = 3, progress: Any = None) -> dict[str, Any]:
    """Train, evaluate and register the churn model; returns the evaluation report."""
    task = progress.add_task("churn model: load Telco", total=4) if progress is not None else None
    telco, dataset = telco_or_generated(ws.cache_dir)
    df, with_engagement = _frame(ws, telco)
    y = binary_labels(df[LABEL], LABEL)
    X, cols = infer_columns(df, exclude=(ID, LABEL))
    _step(progress, task, "train and compare with logistic regression")
    result = compare(X, y, cols, folds=folds)
    model: ChurnModel = result.pop("model")
    _step(progress, task, "register")
    from laketown.ml.registry import ModelRegistry

    lt, base = result["laketown"], result["baseline"]
    version = ModelRegistry(ws).log_model(
        MODEL_NAME, model,
        params={"variant": model.variant, "folds": folds, "dataset": dataset, "protocol": "stratified-80-20",
                "engagement_features": with_engagement, "cv_auc": json.dumps(result["cv_auc"])},
        metrics={"auc_roc": lt["auc_roc"], "average_precision": lt["average_precision"],
                 "brier": result["calibration"]["brier"], "ece": result["calibration"]["ece"],
                 "baseline_auc_roc": base["auc_roc"], "train_s": lt["train_s"]},
        features=cols.features,
    )
    report = {"model": MODEL_NAME, "model_version": version, "dataset": dataset,
              "protocol": "stratified-80-20", "engagement_features": with_engagement, **result,
              "ratio": {"auc_roc": round(lt["auc_roc"] / base["auc_roc"], 4)}}
    ws.lake.create_table(REPORTS_TABLE, schema=REPORTS_SCHEMA, exist_ok=True).append(pa.Table.from_pylist(
        [{"model_version": version, "trained_at": datetime.now(UTC), "report": json.dumps(report)}], schema=REPORTS_SCHEMA))
    _step(progress, task, "trained")
    return report


def latest_report(ws: Any) -> dict[str, Any] | None:
    """The evaluation report of the newest churn model, or ``None`` before the first training."""
    if not ws.lake.exists(REPORTS_TABLE):
        return None
    rows = ws.table(REPORTS_TABLE).scan().sort_by([("model_version", "descending")]).slice(0, 1).to_pylist()
    return json.loads(rows[0]["report"]) if rows else None


def score(ws: Any, version: int | None = None) -> dict[str, Any]:
    """Score every Telco customer with the registered model (latest version unless given),
    replace ``curated.engagement_churn_scores`` and refresh the ``churn_risk`` segment."""
    from laketown.ml.registry import ModelRegistry

    registry = ModelRegistry(ws)
    # no report means no training ran here: say so without opening (and creating) the registry
    version = version or (registry.latest_version(MODEL_NAME) if ws.lake.exists(REPORTS_TABLE) else None)
    if version is None:
        raise LaketownError(f"no churn model yet ({MODEL_NAME!r} has no version); run `laketown engagement churn train`")
    model: ChurnModel = registry.load(MODEL_NAME, version)
    df, _ = _frame(ws, telco_or_generated(ws.cache_dir)[0])
    X, _ = infer_columns(df, exclude=(ID, LABEL))
    for c in model.cols.features:  # engagement features the model knows but no event names now
        if c not in X.columns:
            X[c] = 0.0 if c in ENGAGEMENT_FEATURES else np.nan
    p = model.predict_proba(X)
    scores = pa.table({"user_id": pa.array(df[ID], pa.string()), "churn_probability": pa.array(p, pa.float64()),
                       "model_version": pa.array([version] * len(df), pa.int64()),
                       "scored_at": pa.array([datetime.now(UTC)] * len(df), SCORES_SCHEMA.field("scored_at").type)},
                      schema=SCORES_SCHEMA)
    ws.lake.create_table(SCORES_TABLE, schema=SCORES_SCHEMA, exist_ok=True).overwrite(scores)
    segment = refresh_segment(ws, scores)
    return {"scored_users": scores.num_rows, "model_version": version,
            "at_risk": int((p >= THRESHOLD).sum()), SEGMENT: segment["size"]}


def refresh_segment(ws: Any, scores: pa.Table | None = None) -> dict[str, Any]:
    """Save or refresh the model-based segment ``churn_risk`` over the app's endpoints; while
    none of them is a scored customer (before Telco customers were imported as endpoints), over
    the Telco customers as endpoints."""
    from laketown.apps.engagement.segments import SegmentEngine

    endpoints = ws.table(ENDPOINTS_TABLE).scan() if ws.lake.exists(ENDPOINTS_TABLE) else None
    scored = scores["user_id"] if scores is not None else ws.table(SCORES_TABLE).scan(columns=["user_id"])["user_id"]
    if endpoints is None or not pc.any(pc.is_in(endpoints["user_id"], value_set=scored.combine_chunks())).as_py():
        endpoints = telco_endpoints(ws.cache_dir)
    engine = SegmentEngine(ws, endpoints=endpoints)
    if any(s["name"] == SEGMENT for s in engine.list()):
        return engine.refresh(SEGMENT, scores=scores)[SEGMENT]
    return engine.save(SEGMENT, RISK_RULE, kind="model", scores=scores)


def train_and_score(ws: Any, progress: Any = None, folds: int = 3) -> dict[str, Any]:
    """The whole loop for ``laketown demo``: train, evaluate, register, score, refresh the
    segment. Returns the headline metrics."""
    report = train(ws, folds=folds, progress=progress)
    scored = score(ws, report["model_version"])
    lt, base = report["laketown"], report["baseline"]
    return {
        "churn_model": lt["model"], "model_version": report["model_version"],
        "auc_roc": lt["auc_roc"], "average_precision": lt["average_precision"],
        "baseline_auc_roc": base["auc_roc"], "brier": report["calibration"]["brier"],
        "engagement_features": report["engagement_features"], "dataset": report["dataset"], **scored,
    }
