"""Similar-items: item-to-item neighbours from co-occurrence (cosine over users) and from
content (TF-IDF or MiniLM vectors). Items without interactions fall back to content."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from laketown.apps.recommendations.matrix import TrainData
from laketown.apps.recommendations.recipes.base import Recipe
from laketown.apps.recommendations.recipes.content import embed


class SimilarItems(Recipe):
    """``source`` is ``cooccurrence``, ``content`` or ``hybrid`` (co-occurrence, content for cold
    items); ``neighbours`` bounds the stored neighbours per item. As a personalization recipe,
    a user's score for an item is the summed similarity to the items in their history."""

    name = "similar-items"
    search_space: ClassVar[dict[str, list]] = {"neighbours": [20, 50, 100, 200]}

    def __init__(self, source: str = "hybrid", neighbours: int = 100, embedder: str = "tfidf"):
        super().__init__(source=source, neighbours=neighbours, embedder=embedder)

    def fit(self, data: TrainData) -> SimilarItems:
        self.counts = np.asarray(data.X.sum(axis=0)).ravel()
        self.S = self._cooccurrence(data.X) if self.params["source"] != "content" else None
        self.E = None
        if self.params["source"] != "cooccurrence" and data.items is not None:
            self.E = embed(data.items, self.params["embedder"])
        return self

    def _cooccurrence(self, X: sp.csr_matrix) -> sp.csr_matrix:
        C = (X.T @ X).tocsr().astype(np.float32)
        C.setdiag(0)
        C.eliminate_zeros()
        norm = np.sqrt(np.maximum(np.asarray(X.sum(axis=0)).ravel(), 1.0)).astype(np.float32)
        C = sp.diags(1.0 / norm) @ C @ sp.diags(1.0 / norm)
        return _keep_top(C.tocsr(), int(self.params["neighbours"]))

    def similar(self, item: int, n: int = 10) -> list[tuple[int, float]]:
        """The ``n`` nearest items to item index ``item`` with their similarity."""
        if self.S is not None and self.counts[item] > 0:
            row = self.S.getrow(item)
            order = np.argsort(-row.data, kind="stable")[:n]
            if len(order):
                return [(int(row.indices[k]), float(row.data[k])) for k in order]
        if self.E is None:
            return []
        sims = self.E @ self.E[item]
        sims[item] = -np.inf
        best = np.argsort(-sims, kind="stable")[:n]
        return [(int(k), float(sims[k])) for k in best if np.isfinite(sims[k])]

    def score(self, history: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        if self.S is not None:
            return np.asarray((history @ self.S).todense())
        profile = np.asarray(history @ self.E)
        return profile @ self.E.T


def _keep_top(C: sp.csr_matrix, k: int) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for r in range(C.shape[0]):
        s, e = C.indptr[r], C.indptr[r + 1]
        if e == s:
            continue
        d, idx = C.data[s:e], C.indices[s:e]
        keep = np.argpartition(-d, min(k, len(d)) - 1)[:k] if len(d) > k else np.arange(len(d))
        rows += [r] * len(keep)
        cols += idx[keep].tolist()
        vals += d[keep].tolist()
    return sp.csr_matrix((np.array(vals, np.float32), (rows, cols)), shape=C.shape)
