"""EASE and implicit ALS blended: each model's scores are standardized per user (z-scores) and
mixed, so the linear item-item model and the factorization correct each other's errors."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from laketown.apps.recommendations.matrix import TrainData
from laketown.apps.recommendations.recipes.base import Recipe
from laketown.apps.recommendations.recipes.ease import Ease
from laketown.apps.recommendations.recipes.factorization import ImplicitALS


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-9)


class EaseAlsBlend(Recipe):
    """``(1 - als_weight) * z(EASE) + als_weight * z(ALS)``; ``lam`` is EASE's penalty."""

    name = "ease-als-blend"
    search_space: ClassVar[dict[str, list]] = {"als_weight": [0.2, 0.35, 0.5]}

    def __init__(self, lam: float = 500.0, als_weight: float = 0.35, factors: int = 16, alpha: float = 2.0,
                 regularization: float = 0.1):
        super().__init__(lam=lam, als_weight=als_weight, factors=factors, alpha=alpha, regularization=regularization)

    def fit(self, data: TrainData) -> EaseAlsBlend:
        p = self.params
        self.ease = Ease(lam=p["lam"]).fit(data)
        self.als = ImplicitALS(factors=p["factors"], alpha=p["alpha"], regularization=p["regularization"]).fit(data)
        return self

    def score(self, history: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        w = float(self.params["als_weight"])
        return (1 - w) * _z(self.ease.score(history, users)) + w * _z(self.als.score(history, users))
