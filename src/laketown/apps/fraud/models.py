"""The fraud models: an isolation-forest anomaly score and a calibrated LightGBM classifier
whose own SHAP contributions (``pred_contrib=True``) give each prediction's reasons.

Both are plain picklable objects registered in MLflow by :mod:`laketown.ml.registry`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from laketown.errors import LaketownError

CLASSIFIER = "fraud_classifier"
ANOMALY = "fraud_anomaly"

#: Laketown's classifier settings: small trees and shrinkage, tuned on the simulator's
#: validation weeks (never on the test weeks the benchmark reports).
LAKETOWN_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_boost_round": 300,
}
#: settings for wide real-world data (IEEE-CIS, users' files): bigger trees, half the columns
#: per tree. Chosen on IEEE-CIS's training 80 % only.
GENERIC_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 63,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.5,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_boost_round": 400,
}
#: a plain LightGBM, its library defaults (as ``LGBMClassifier()``): the benchmarks' baseline.
PLAIN_PARAMS: dict[str, Any] = {"objective": "binary", "num_boost_round": 100}


def matrix(table: pa.Table | Any, features: list[str]) -> np.ndarray:
    """Rows x features as float64, nulls as NaN, from Arrow (or anything with ``__getitem__``)."""
    cols = []
    for name in features:
        try:
            col = table[name]
        except KeyError:
            raise LaketownError(f"feature {name!r} is missing from the data; columns: {', '.join(table.column_names)}") from None
        if isinstance(col, pa.ChunkedArray):
            col = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
        cols.append(np.asarray(col, dtype=np.float64))
    return np.column_stack(cols) if cols else np.empty((0, 0))


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ImportError as exc:
        raise LaketownError(f"the fraud classifier needs lightgbm, a core dependency ({exc}): pip install lightgbm") from None
    return lightgbm


@dataclass
class FraudClassifier:
    """A LightGBM booster plus Platt calibration of its margin into a probability."""

    features: list[str]
    booster: Any
    calib_a: float = 1.0
    calib_b: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    version: int | None = None
    feature_set: Any = None  # the FeatureSet the features come from (for online scoring)

    def margin(self, X: np.ndarray) -> np.ndarray:
        return self.booster.predict(X, raw_score=True, num_threads=1)

    def probability(self, X: np.ndarray) -> np.ndarray:
        """Calibrated fraud probability of each row."""
        return _sigmoid(self.calib_a * self.margin(X) + self.calib_b)

    def reasons(self, X: np.ndarray, top: int = 3) -> list[list[dict[str, Any]]]:
        """Per row, the ``top`` features pushing the score up most (SHAP values in log-odds)."""
        contrib = self.booster.predict(X, pred_contrib=True, num_threads=1)[:, :-1]
        out = []
        for row, values in zip(contrib, X):
            order = np.argsort(-row)[:top]
            out.append(
                [
                    {"feature": self.features[j], "value": None if math.isnan(values[j]) else float(values[j]),
                     "contribution": round(float(row[j]), 4)}
                    for j in order
                    if row[j] > 0
                ]
            )
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["booster"] = self.booster.model_to_string()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["booster"] = _lightgbm().Booster(model_str=state["booster"])
        self.__dict__.update(state)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def _platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit p = sigmoid(a * margin + b) by Newton's method on the log loss (a stays > 0)."""
    a, b = 1.0, 0.0
    for _ in range(50):
        p = _sigmoid(a * margin + b)
        g = np.array([np.dot(p - y, margin), np.sum(p - y)])
        w = p * (1 - p) + 1e-12
        h = np.array([[np.dot(w, margin * margin), np.dot(w, margin)], [np.dot(w, margin), np.sum(w)]])
        step = np.linalg.solve(h + 1e-9 * np.eye(2), g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return (float(a), float(b)) if a > 0 else (1.0, 0.0)


def train_classifier(
    X: np.ndarray,
    y: np.ndarray,
    features: list[str],
    params: dict[str, Any] | None = None,
    calibrate: bool = True,
    seed: int = 0,
) -> FraudClassifier:
    """Train LightGBM on rows in time order. With ``calibrate``, the latest 20 % of rows fit
    the Platt calibration on a model trained on the earliest 80 %, and the final model is then
    retrained on all rows with the same settings."""
    lgb = _lightgbm()
    params = dict(LAKETOWN_PARAMS if params is None else params)
    rounds = int(params.pop("num_boost_round", 100))
    params.update({"verbose": -1, "seed": seed, "num_threads": params.get("num_threads", 1), "deterministic": True})
    y = np.asarray(y, dtype=np.float64)
    a, b = 1.0, 0.0
    cut = int(len(y) * 0.8)
    if calibrate and 0 < y[cut:].sum() < len(y) - cut and y[:cut].sum() > 0:
        first = lgb.train(params, lgb.Dataset(X[:cut], y[:cut], free_raw_data=True), rounds)
        a, b = _platt(first.predict(X[cut:], raw_score=True), y[cut:])
    booster = lgb.train(params, lgb.Dataset(X, y, free_raw_data=True), rounds)
    return FraudClassifier(features, booster, a, b, {**params, "num_boost_round": rounds})


@dataclass
class AnomalyModel:
    """Isolation-forest score mapped to [0, 1] by its rank among the training rows' scores
    (0.8 means more unusual than 80 % of training transactions). NaNs read as the training
    median."""

    features: list[str]
    scorer: Any
    fill: np.ndarray
    reference: np.ndarray
    version: int | None = None

    def score(self, X: np.ndarray) -> np.ndarray:
        X = np.where(np.isnan(X), self.fill, X)
        raw = -self.scorer.score_samples(X)
        return np.searchsorted(self.reference, raw, side="right") / len(self.reference)


def train_anomaly(X: np.ndarray, features: list[str], seed: int = 0, max_rows: int = 200_000) -> AnomalyModel:
    """Fit an IsolationForest (100 trees of 256 samples) on unlabelled rows."""
    from sklearn.ensemble import IsolationForest

    from laketown.ml.isolation import IsolationScorer

    fill = np.nanmedian(X, axis=0) if len(X) else np.zeros(X.shape[1])
    fill = np.where(np.isnan(fill), 0.0, fill)
    Xf = np.where(np.isnan(X), fill, X)
    rng = np.random.default_rng(seed)
    if len(Xf) > max_rows:
        Xf = Xf[rng.choice(len(Xf), max_rows, replace=False)]
    forest = IsolationForest(n_estimators=100, max_samples=256, random_state=seed, n_jobs=1).fit(Xf)
    scorer = IsolationScorer(forest)
    sample = Xf[rng.choice(len(Xf), min(len(Xf), 20_000), replace=False)]
    reference = np.sort(-scorer.score_samples(sample))
    return AnomalyModel(features, scorer, fill, reference)


@dataclass
class TrainedModels:
    """A classifier and an anomaly model trained together, with their test metrics."""

    classifier: FraudClassifier
    anomaly: AnomalyModel
    metrics: dict[str, float]
    train_s: float
    split: dict[str, Any]


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0
