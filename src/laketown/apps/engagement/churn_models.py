"""Churn classifiers for any table: column typing, the logistic-regression baseline, Laketown's
model (a spline logistic regression, a LightGBM and their blend, picked by cross-validation on
the training rows only) and the evaluation report (AUC, average precision, calibration, top
features)."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from laketown.errors import LaketownError
from laketown.ml import metrics

SEED = 42
POSITIVE = {"yes", "y", "true", "t", "1", "churn", "churned", "positive", "pos"}
NEGATIVE = {"no", "n", "false", "f", "0", "stay", "stayed", "retained", "negative", "neg"}
MAX_LEVELS = 100  # string columns with more distinct values are treated as identifiers and dropped
LGBM_PARAMS = {"n_estimators": 500, "learning_rate": 0.02, "num_leaves": 6, "min_child_samples": 50, "subsample": 0.8,
               "subsample_freq": 1, "colsample_bytree": 0.6, "reg_lambda": 5.0, "verbose": -1, "n_jobs": 1}


@contextlib.contextmanager
def _quiet_single_thread() -> Iterator[None]:
    """No convergence chatter, one BLAS thread: on these small tables a multi-threaded BLAS
    or LightGBM spends its time spinning (a 5,600-row spline fit: 0.1 s on one thread, 2-3 s
    on two busy cores)."""
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        yield


@dataclass
class Columns:
    """How a table's columns are used: numeric, categorical, and those left out (with why)."""

    numeric: list[str]
    categorical: list[str]
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return self.numeric + self.categorical


def binary_labels(values: pd.Series, name: str) -> np.ndarray:
    """0/1 labels from yes/no, true/false, 1/0 (or any two numbers: the larger is positive)."""
    s = values.dropna()
    if len(s) != len(values):
        raise LaketownError(f"label column {name!r} has {len(values) - len(s)} empty values; fill or drop those rows")
    if pd.api.types.is_bool_dtype(s):
        return s.astype(int).to_numpy()
    if pd.api.types.is_numeric_dtype(s):
        levels = sorted(s.unique())
        if len(levels) != 2:
            raise LaketownError(f"label column {name!r} must hold two values; it holds {len(levels)}: {levels[:6]}")
        return (s == levels[1]).astype(int).to_numpy()
    text = s.astype(str).str.strip().str.lower()
    levels = sorted(text.unique())
    if len(levels) != 2:
        raise LaketownError(f"label column {name!r} must hold two values (e.g. Yes/No); it holds {len(levels)}: {levels[:6]}")
    pos = [v for v in levels if v in POSITIVE]
    if len(pos) != 1 or not set(levels) - set(pos) <= NEGATIVE:
        raise LaketownError(f"cannot tell which value of label column {name!r} means churn: {levels}; "
                            "use yes/no, true/false or 1/0")
    return (text == pos[0]).astype(int).to_numpy()


def infer_columns(df: pd.DataFrame, exclude: tuple[str, ...] = ()) -> tuple[pd.DataFrame, Columns]:
    """Numbers (also numbers written as text, blanks as missing) and low-cardinality text."""
    out, cols = {}, Columns([], [])
    for c in df.columns:
        if c in exclude:
            continue
        s = df[c]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            out[c] = s.astype(float)
            cols.numeric.append(c)
        elif pd.api.types.is_datetime64_any_dtype(s):
            cols.dropped[c] = "timestamp"
        else:
            text = s.astype("string").str.strip().replace("", pd.NA)
            nums = pd.to_numeric(text, errors="coerce")
            present = int(text.notna().sum())
            if present and int(nums.notna().sum()) >= 0.95 * present:
                out[c] = nums.astype(float)
                cols.numeric.append(c)
            elif text.nunique() > MAX_LEVELS:
                cols.dropped[c] = f"{text.nunique()} distinct values (an identifier?)"
            elif text.nunique() <= 1:
                cols.dropped[c] = "constant"
            else:
                out[c] = text.fillna("(missing)").astype(str)
                cols.categorical.append(c)
    if not cols.features:
        raise LaketownError("no usable feature columns: every column is the label, the id, a timestamp or an identifier")
    return pd.DataFrame(out, index=df.index), cols


def stratified_split(y: np.ndarray, test_size: float = 0.2, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of a stratified train/test split with a fixed seed."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    if min(np.bincount(y, minlength=2)) < 5:
        raise LaketownError(f"too few rows of one class to split ({np.bincount(y, minlength=2).tolist()} negatives/positives)")
    return train_test_split(idx, test_size=test_size, stratify=y, random_state=seed)


def _preprocessor(cols: Columns, splines: bool) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

    steps = [SimpleImputer(strategy="median"), StandardScaler()]
    if splines:
        steps.append(SplineTransformer(n_knots=5, degree=3))
    return ColumnTransformer([
        ("num", make_pipeline(*steps), cols.numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore"), cols.categorical),
    ])


def baseline_model(cols: Columns) -> Any:
    """Logistic regression on one-hot categories and scaled numbers (the published baseline)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(_preprocessor(cols, splines=False), LogisticRegression(max_iter=2000))


def spline_model(cols: Columns) -> Any:
    """Logistic regression with a cubic spline per number: curved effects, still additive."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(_preprocessor(cols, splines=True), LogisticRegression(C=0.3, max_iter=3000))


def gbm_model(cols: Columns) -> Any:
    """LightGBM with native categories, slow learning rate and strong regularization."""
    from lightgbm import LGBMClassifier
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    pre = ColumnTransformer([
        ("num", "passthrough", cols.numeric),
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), cols.categorical),
    ])
    cats = list(range(len(cols.numeric), len(cols.features)))
    return make_pipeline(pre, LGBMClassifier(**LGBM_PARAMS, categorical_feature=cats or "auto", random_state=SEED))


CANDIDATES = {"spline-logistic": spline_model, "lightgbm": gbm_model}


class ChurnModel:
    """Laketown's churn classifier: the variant with the best cross-validated AUC on the training
    rows among a spline logistic regression, LightGBM and their average."""

    def __init__(self, cols: Columns, folds: int = 5):
        self.cols = cols
        self.folds = folds
        self.variant = ""
        self.cv_auc: dict[str, float] = {}
        self.members: dict[str, Any] = {}

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> ChurnModel:
        from sklearn.model_selection import StratifiedKFold

        oof = {name: np.zeros(len(y)) for name in CANDIDATES}
        folds = StratifiedKFold(self.folds, shuffle=True, random_state=SEED)
        with _quiet_single_thread():
            for fit_idx, val_idx in folds.split(X, y):
                for name, make in CANDIDATES.items():
                    m = make(self.cols).fit(X.iloc[fit_idx], y[fit_idx])
                    oof[name][val_idx] = m.predict_proba(X.iloc[val_idx])[:, 1]
            self.cv_auc = {name: metrics.auc_roc(y, p) for name, p in oof.items()}
            self.cv_auc["blend"] = metrics.auc_roc(y, np.mean(list(oof.values()), axis=0))
            self.variant = max(self.cv_auc, key=self.cv_auc.__getitem__)
            names = list(CANDIDATES) if self.variant == "blend" else [self.variant]
            self.members = {name: CANDIDATES[name](self.cols).fit(X, y) for name in names}
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Churn probability per row (1-d)."""
        X = X.reindex(columns=self.cols.features)
        with _quiet_single_thread():
            return np.mean([m.predict_proba(X)[:, 1] for m in self.members.values()], axis=0)


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Brier score, expected calibration error and a reliability table over probability bins."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        pred, obs = float(p[mask].mean()), float(y[mask].mean())
        ece += mask.mean() * abs(pred - obs)
        table.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "rows": int(mask.sum()),
                      "mean_predicted": round(pred, 4), "observed_rate": round(obs, 4)})
    return {"brier": round(float(np.mean((p - y) ** 2)), 4), "ece": round(float(ece), 4), "bins": table}


def top_features(model: Any, X: pd.DataFrame, y: np.ndarray, k: int = 10, seed: int = SEED) -> list[dict[str, Any]]:
    """Permutation importance on held-out rows: how much AUC drops when a column is shuffled."""
    rng = np.random.default_rng(seed)
    base = metrics.auc_roc(y, model.predict_proba(X))
    out = []
    for c in X.columns:
        shuffled = X.copy()
        shuffled[c] = rng.permutation(shuffled[c].to_numpy())
        out.append({"feature": c, "auc_drop": round(base - metrics.auc_roc(y, model.predict_proba(shuffled)), 4)})
    return sorted(out, key=lambda r: -r["auc_drop"])[:k]


def compare(X: pd.DataFrame, y: np.ndarray, cols: Columns, folds: int = 5, seed: int = SEED,
            report: bool = True) -> dict[str, Any]:
    """Train Laketown's model and the baseline on one stratified 80 % split, test both on the
    other 20 %. Returns metrics, timings, the fitted model and (with ``report``) the report."""
    train_idx, test_idx = stratified_split(y, seed=seed)
    Xtr, Xte, ytr, yte = X.iloc[train_idx], X.iloc[test_idx], y[train_idx], y[test_idx]
    t0 = time.perf_counter()
    model = ChurnModel(cols, folds).fit(Xtr, ytr)
    train_s = time.perf_counter() - t0
    p = model.predict_proba(Xte)
    t0 = time.perf_counter()
    with _quiet_single_thread():
        base = baseline_model(cols).fit(Xtr, ytr)
        base_s = time.perf_counter() - t0
        pb = base.predict_proba(Xte)[:, 1]
    out: dict[str, Any] = {
        "model": model,
        "laketown": {"model": model.variant, "auc_roc": round(metrics.auc_roc(yte, p), 4),
                     "average_precision": round(metrics.average_precision(yte, p), 4), "train_s": round(train_s, 3)},
        "baseline": {"name": "logistic-regression", "auc_roc": round(metrics.auc_roc(yte, pb), 4),
                     "average_precision": round(metrics.average_precision(yte, pb), 4), "train_s": round(base_s, 3)},
        "cv_auc": {k: round(v, 4) for k, v in model.cv_auc.items()},
        "rows": {"train": len(train_idx), "test": len(test_idx), "positive_rate": round(float(y.mean()), 4)},
    }
    if report:
        out["calibration"] = calibration(yte, p)
        out["top_features"] = top_features(model, Xte, yte)
    return out
