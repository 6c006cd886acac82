"""Cold start for new items: items with no interactions are scored by how close their content
(metadata and text) is to the user's history, and given a share of the recommendation slots."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from laketown.apps.recommendations.matrix import TrainData
from laketown.apps.recommendations.recipes.base import Recipe
from laketown.apps.recommendations.recipes.content import embed


class ColdStart(Recipe):
    """Content profile scoring. ``embedder`` is ``tfidf`` (default) or ``minilm`` (``[nlp]`` extra)."""

    name = "cold-start"

    def __init__(self, embedder: str = "tfidf", min_similarity: float = 0.05):
        super().__init__(embedder=embedder, min_similarity=min_similarity)

    def fit(self, data: TrainData) -> ColdStart:
        self.cold = np.asarray(data.X.sum(axis=0)).ravel() == 0
        if data.items is None:
            self.E = np.zeros((data.n_items, 1), np.float32)
        else:
            self.E = embed(data.items, self.params["embedder"])
        return self

    def score(self, history: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        """Cosine between each item's vector and the mean vector of the history's items."""
        profile = np.asarray(history @ self.E)
        norms = np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-9)
        return (profile / norms) @ self.E.T

    def cold_candidates(self, history: sp.csr_matrix, n: int) -> list[tuple[int, float]]:
        """The best ``n`` cold items for one history row, above ``min_similarity``."""
        if not self.cold.any() or history.nnz == 0:
            return []
        s = self.score(history)[0]
        idx = np.flatnonzero(self.cold)
        idx = idx[s[idx] >= self.params["min_similarity"]]
        best = idx[np.argsort(-s[idx], kind="stable")[:n]]
        return [(int(i), float(s[i])) for i in best]


def interleave(main: list, cold: list, n: int, share: float) -> list:
    """``main`` with up to ``share * n`` items of ``cold`` placed at evenly spaced slots (every
    1/share-th position), as Personalize's exploration does for new items."""
    n_cold = min(len(cold), round(share * n))
    if n_cold == 0:
        return main[:n]
    step = max(1, n // n_cold)
    out, ci, mi = [], 0, 0
    for pos in range(n):
        if ci < n_cold and pos % step == step - 1:
            out.append(cold[ci])
            ci += 1
        elif mi < len(main):
            out.append(main[mi])
            mi += 1
        elif ci < len(cold):
            out.append(cold[ci])
            ci += 1
    return out
