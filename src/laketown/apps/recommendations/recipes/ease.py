"""EASE (Steck, 2019): a closed-form linear item-item model, B = -P / diag(P), P = (X'X + lambda I)^-1.

Scores are ``history @ B``, so a user's new clicks change their scores at once. Training is
one dense inverse of an items x items matrix: seconds for a few thousand items.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from laketown.apps.recommendations.matrix import TrainData
from laketown.apps.recommendations.recipes.base import Recipe
from laketown.errors import LaketownError

MAX_ITEMS = 20_000


class Ease(Recipe):
    """``lam`` is the L2 penalty; ``pop_alpha`` > 0 divides scores by popularity**alpha (a
    debiasing variant); ``recency_half_life_days`` weighs the user's older interactions less."""

    name = "ease"
    search_space: ClassVar[dict[str, list]] = {"lam": [100.0, 200.0, 300.0, 500.0, 800.0, 1200.0]}

    def __init__(self, lam: float = 500.0, pop_alpha: float = 0.0, recency_half_life_days: float | None = None):
        super().__init__(lam=lam, pop_alpha=pop_alpha, recency_half_life_days=recency_half_life_days)

    def fit(self, data: TrainData) -> Ease:
        if data.n_items > MAX_ITEMS:
            raise LaketownError(
                f"EASE inverts an items x items matrix; {data.n_items} items is above {MAX_ITEMS}. "
                "Use the implicit-als recipe for large catalogs"
            )
        X = self._weighted(data)
        G = (X.T @ X).toarray().astype(np.float64)
        G[np.diag_indices_from(G)] += float(self.params["lam"])
        P = np.linalg.inv(G)
        B = -P / np.diag(P)
        np.fill_diagonal(B, 0.0)
        self.B = B.astype(np.float32)
        counts = np.asarray(data.X.sum(axis=0)).ravel()
        alpha = float(self.params["pop_alpha"] or 0.0)
        self.damp = (np.maximum(counts, 1.0) ** -alpha).astype(np.float32) if alpha else None
        return self

    def _weighted(self, data: TrainData) -> sp.csr_matrix:
        half = self.params.get("recency_half_life_days")
        if not half:
            return data.X
        ev = data.events
        last = ev.groupby("u")["timestamp"].transform("max").to_numpy()
        w = np.power(0.5, (last - ev["timestamp"].to_numpy()) / (half * 86400.0)).astype(np.float32)
        X = sp.csr_matrix((w, (ev["u"].to_numpy(), ev["i"].to_numpy())), shape=data.X.shape)
        X.sum_duplicates()
        X.data = np.minimum(X.data, 1.0)
        return X

    def score(self, history: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        s = np.asarray(history @ self.B)
        return s * self.damp if self.damp is not None else s
