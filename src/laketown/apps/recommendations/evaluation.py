"""Offline evaluation: fit a recipe on a split's train part, rank for the test users, score."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from laketown.apps.recommendations import matrix, metrics
from laketown.apps.recommendations.matrix import TrainData
from laketown.apps.recommendations.recipes import create
from laketown.apps.recommendations.split import MSR_PROTOCOL, PERSONALIZE_PROTOCOL

PROTOCOLS = {"msr": MSR_PROTOCOL, "personalize": PERSONALIZE_PROTOCOL}


def recommend_users(model: Any, data: TrainData, users: np.ndarray, k: int, batch: int = 512) -> dict[str, list[str]]:
    """Top ``k`` item ids for each user index, items in the user's training history removed."""
    out: dict[str, list[str]] = {}
    for s in range(0, len(users), batch):
        rows = users[s:s + batch]
        hist = data.X[rows]
        best = matrix.top_k(model.score(hist, rows), k, exclude=hist)
        for r, u in enumerate(rows):
            out[data.user_ids[u]] = data.item_ids[best[r]].tolist()
    return out


def score_split(model: Any, data: TrainData, test: pd.DataFrame, protocol: str, k: int = 10) -> dict[str, float]:
    """Metrics of a fitted model for the test users (``msr``: MAP, nDCG/precision/recall@k;
    ``personalize``: coverage, MRR@25, NDCG@5/10/25, precision@5/10/25)."""
    relevant = {u: set(g) for u, g in test.groupby("user_id")["item_id"]}
    users = np.array([data.user_index[u] for u in relevant if u in data.user_index], dtype=np.int64)
    if protocol.startswith("personalize"):
        recs = recommend_users(model, data, users, 25)
        return metrics.personalize_metrics(recs, relevant, data.n_items)
    recs = recommend_users(model, data, users, k)
    return metrics.msr_metrics(recs, relevant, k)


def fit_and_score(recipe: str, params: dict[str, Any], data: TrainData, test: pd.DataFrame,
                  protocol: str) -> dict[str, Any]:
    """Fit ``recipe`` on ``data`` and score it; returns ``{"recipe", "params", metrics..., "train_s", "model"}``."""
    model = create(recipe, **params)
    t0 = time.perf_counter()
    model.fit(data)
    train_s = time.perf_counter() - t0
    out: dict[str, Any] = {"recipe": recipe, "params": model.params}
    out.update({k: round(v, 4) for k, v in score_split(model, data, test, protocol).items()})
    out["train_s"] = round(train_s, 3)
    out["model"] = model
    return out


def build_train(train: pd.DataFrame, test: pd.DataFrame, items: pd.DataFrame | None = None) -> TrainData:
    """The training matrix of a split; test-only items are in the catalog (with no interactions)."""
    return matrix.build(train, items, item_universe=test["item_id"].unique())
