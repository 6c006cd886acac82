"""Model-quality metrics in plain NumPy: ranking (AUC ROC, average precision), thresholded
(precision, recall, F1) and the Fraud Detection Handbook's card precision@k per day.

They agree with scikit-learn's ``roc_auc_score`` / ``average_precision_score`` (ties in the
scores are handled the same way) without importing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from laketown.errors import LaketownError


def _binary(y_true: Any, name: str = "y_true") -> np.ndarray:
    y = np.asarray(y_true)
    values = np.unique(y)
    if not np.isin(values, [0, 1]).all():
        raise LaketownError(f"{name} must hold 0/1 labels; got values {values[:10].tolist()}")
    return y.astype(np.int8)


def _pair(y_true: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    y = _binary(y_true)
    s = np.asarray(score, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise LaketownError(f"labels and scores must be 1-d and of one length; got {y.shape} and {s.shape}")
    return y, s


def _curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct score threshold, highest first."""
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tps = np.cumsum(y)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    return tps.astype(np.float64), fps.astype(np.float64)


def auc_roc(y_true: Any, score: Any) -> float:
    """Area under the ROC curve (trapezoids over distinct thresholds, as scikit-learn)."""
    y, s = _pair(y_true, score)
    pos = int(y.sum())
    if pos in (0, y.size):
        raise LaketownError("AUC ROC needs both classes in y_true; this sample has only one")
    tps, fps = _curve(y, s)
    tpr = np.r_[0.0, tps / pos]
    fpr = np.r_[0.0, fps / (y.size - pos)]
    return float(np.trapezoid(tpr, fpr))


def average_precision(y_true: Any, score: Any) -> float:
    """Average precision: sum over thresholds of (recall step) x precision, as scikit-learn."""
    y, s = _pair(y_true, score)
    pos = int(y.sum())
    if pos == 0:
        raise LaketownError("average precision needs at least one positive in y_true")
    tps, fps = _curve(y, s)
    precision = tps / (tps + fps)
    recall = tps / pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def precision_recall_f1(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Precision, recall and F1 of hard 0/1 predictions (0.0 where undefined)."""
    y = _binary(y_true)
    p = _binary(y_pred, "y_pred")
    tp = int(((y == 1) & (p == 1)).sum())
    fp = int(((y == 0) & (p == 1)).sum())
    fn = int(((y == 1) & (p == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def card_precision_at_k(
    entity: Sequence[Any] | np.ndarray,
    day: Sequence[Any] | np.ndarray,
    y_true: Any,
    score: Any,
    k: int = 100,
    remove_detected: bool = True,
) -> float:
    """Card precision@k as the Fraud Detection Handbook defines it (chapter 4.2).

    Each day, every card (``entity``) gets the highest score of its transactions that day and
    is fraudulent if any of them is; the ``k`` highest-scored cards are checked and the share of
    fraudulent ones is that day's precision. The result is the mean over days. With
    ``remove_detected``, cards found fraudulent in the top k are left out of later days (an
    investigator would have blocked them)."""
    y, s = _pair(y_true, score)
    ent = np.asarray(entity)
    days = np.asarray(day)
    if not (ent.shape == days.shape == y.shape):
        raise LaketownError("entity, day, y_true and score must have one length")
    if k < 1:
        raise LaketownError(f"k must be at least 1; got {k}")
    _, ent_codes = np.unique(ent, return_inverse=True)
    detected = np.zeros(ent_codes.max() + 1 if ent_codes.size else 0, dtype=bool)
    per_day = []
    for d in np.unique(days):
        mask = (days == d) & ~detected[ent_codes]
        codes, ys, ss = ent_codes[mask], y[mask], s[mask]
        cards, inv = np.unique(codes, return_inverse=True)
        best = np.full(cards.size, -np.inf)
        np.maximum.at(best, inv, ss)
        fraud = np.zeros(cards.size, dtype=np.int8)
        np.maximum.at(fraud, inv, ys)
        # stable sort by score, highest first; ties keep card order like pandas' sort_values
        top = np.argsort(-best, kind="mergesort")[:k]
        hits = cards[top][fraud[top] == 1]
        per_day.append(hits.size / k)
        if remove_detected:
            detected[hits] = True
    if not per_day:
        raise LaketownError("card precision@k needs at least one day of transactions")
    return float(np.mean(per_day))
