"""Popularity-count: items ranked by how many users interacted with them; the same for everyone."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from laketown.apps.recommendations.matrix import TrainData
from laketown.apps.recommendations.recipes.base import Recipe


class Popularity(Recipe):
    """Distinct users per item. The baseline every solution is compared with."""

    name = "popularity-count"

    def fit(self, data: TrainData) -> Popularity:
        self.counts = np.asarray(data.X.sum(axis=0)).ravel().astype(np.float64)
        return self

    def score(self, history: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        return np.broadcast_to(self.counts, (history.shape[0], len(self.counts))).copy()
