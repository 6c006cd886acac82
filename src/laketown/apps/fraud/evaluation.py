"""Evaluation protocols: the Fraud Detection Handbook's train / delay / test weeks (chapter 3.3)
and a plain time-ordered split for any dataset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from laketown.errors import LaketownError
from laketown.ml import metrics


@dataclass(frozen=True)
class Split:
    """Boolean row masks of a train and a test set, and a description of how they were made."""

    train: np.ndarray
    test: np.ndarray
    protocol: str


def handbook_split(
    day: np.ndarray,
    customer: np.ndarray,
    label: np.ndarray,
    start_day: int,
    train_days: int = 7,
    delay_days: int = 7,
    test_days: int = 7,
) -> Split:
    """Train on ``train_days`` from ``start_day``, skip ``delay_days`` (labels not known yet),
    test on the next ``test_days``. As in the handbook, test transactions of customers already
    known to be compromised are left out: those with fraud in the training week, plus, for each
    test day, those whose fraud became known ``delay_days`` before it."""
    day, customer, label = np.asarray(day), np.asarray(customer), np.asarray(label)
    train = (day >= start_day) & (day < start_day + train_days)
    if not train.any():
        raise LaketownError(f"no transactions in the training days {start_day}..{start_day + train_days - 1}")
    known = set(np.unique(customer[train & (label == 1)]).tolist())
    test = np.zeros(day.shape, dtype=bool)
    for d in range(test_days):
        test_day = start_day + train_days + delay_days + d
        seen_day = start_day + train_days + d - 1
        known |= set(np.unique(customer[(day == seen_day) & (label == 1)]).tolist())
        rows = day == test_day
        test |= rows & ~np.isin(customer, list(known))
    return Split(train, test, f"handbook-train{train_days}-delay{delay_days}-test{test_days}")


def time_split(ts: np.ndarray, train_share: float = 0.8) -> Split:
    """Earliest ``train_share`` of rows by time for training, the rest for testing."""
    ts = np.asarray(ts)
    order = np.argsort(ts, kind="mergesort")
    cut = int(len(ts) * train_share)
    train = np.zeros(len(ts), dtype=bool)
    train[order[:cut]] = True
    return Split(train, ~train, f"time-ordered-{round(train_share * 100)}-{round((1 - train_share) * 100)}")


def score_metrics(y: np.ndarray, score: np.ndarray, card: Any = None, day: Any = None, k: int = 100) -> dict[str, float]:
    """AUC ROC, average precision and (with cards and days) card precision@k, rounded."""
    out = {"auc_roc": metrics.auc_roc(y, score), "average_precision": metrics.average_precision(y, score)}
    if card is not None and day is not None:
        out[f"card_precision@{k}"] = metrics.card_precision_at_k(card, day, y, score, k)
    return {key: round(v, 4) for key, v in out.items()}
