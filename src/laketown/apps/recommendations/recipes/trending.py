"""Trending-now: interactions counted with an exponential decay by age, so recent ones weigh more."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from laketown.apps.recommendations.matrix import TrainData
from laketown.apps.recommendations.recipes.base import Recipe


class Trending(Recipe):
    """Each interaction weighs ``0.5 ** (age / half_life_s)``; age is measured from the newest one."""

    name = "trending-now"
    search_space: ClassVar[dict[str, list]] = {"half_life_days": [1.0, 7.0, 30.0, 180.0]}

    def __init__(self, half_life_days: float = 7.0):
        super().__init__(half_life_days=half_life_days)

    def fit(self, data: TrainData) -> Trending:
        age = (data.now - data.events["timestamp"].to_numpy()).astype(np.float64)
        w = np.power(0.5, age / (self.params["half_life_days"] * 86400.0))
        self.scores = np.bincount(data.events["i"].to_numpy(), weights=w, minlength=data.n_items)
        return self

    def score(self, history: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        return np.broadcast_to(self.scores, (history.shape[0], len(self.scores))).copy()
