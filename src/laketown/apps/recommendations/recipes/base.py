"""What every recipe is: fit on :class:`TrainData`, then score items for users' histories."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from laketown.apps.recommendations.matrix import TrainData


class Recipe:
    """A trainable recommender. ``score(history)`` returns one row of item scores per history
    row, so that a user's new events (a changed history) change their scores without retraining."""

    name: ClassVar[str] = "recipe"
    #: the values ``search`` tries for each parameter
    search_space: ClassVar[dict[str, list[Any]]] = {}

    def __init__(self, **params: Any):
        self.params = params

    def fit(self, data: TrainData) -> Recipe:
        raise NotImplementedError

    def score(self, history: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        """Scores (rows x items) for history rows; ``users`` are the rows' user indices in the
        training data when known (-1 otherwise), for recipes with per-user state."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"recipe": self.name, "params": dict(self.params)}
