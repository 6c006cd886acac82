"""Matrix factorization from the ``implicit`` library: ALS and BPR.

Known users are scored with their trained factors; a history that changed after training (new
events) or a user unseen in training is folded in with one ALS least-squares step against the
item factors, so new clicks count without retraining.
"""

from __future__ import annotations

import os
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from laketown.apps.recommendations.matrix import TrainData
from laketown.apps.recommendations.recipes.base import Recipe
from laketown.errors import MissingExtraError


def _implicit():
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit warns (and slows) otherwise
    try:
        import implicit.cpu.als
        import implicit.cpu.bpr
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingExtraError("the implicit ALS/BPR recipes", "recs", exc) from exc
    return implicit


class _Factorization(Recipe):
    def _model(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, data: TrainData) -> _Factorization:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):  # implicit runs its own threads; BLAS threads only contend
            model = self._model()
            model.fit(data.X.astype(np.float32), show_progress=False)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        Y = self.item_factors.astype(np.float64)
        self._gram = Y.T @ Y
        return self

    def fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """User factors for arbitrary history rows (one weighted least-squares step)."""
        Y = self.item_factors.astype(np.float64)
        alpha = float(self.params.get("alpha", 1.0))
        reg = float(self.params.get("regularization", 0.01)) + 1e-6
        out = np.zeros((history.shape[0], Y.shape[1]), np.float32)
        for r in range(history.shape[0]):
            cols = history.indices[history.indptr[r]:history.indptr[r + 1]]
            if len(cols) == 0:
                continue
            Yp = Y[cols]
            A = self._gram + alpha * (Yp.T @ Yp) + reg * np.eye(Y.shape[1])
            out[r] = np.linalg.solve(A, (1.0 + alpha) * Yp.sum(axis=0))
        return out

    def score(self, history: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        U = self.fold_in(history)
        if users is not None:
            known = np.asarray(users) >= 0
            U[known] = self.user_factors[np.asarray(users)[known]]
        return U @ self.item_factors.T


class ImplicitALS(_Factorization):
    """Alternating least squares on binary interactions (Hu, Koren, Volinsky 2008)."""

    name = "implicit-als"
    search_space: ClassVar[dict[str, list]] = {"factors": [8, 16, 32], "alpha": [2.0, 5.0, 10.0], "regularization": [0.1]}

    def __init__(self, factors: int = 16, regularization: float = 0.1, alpha: float = 2.0, iterations: int = 15,
                 seed: int = 42):
        super().__init__(factors=factors, regularization=regularization, alpha=alpha, iterations=iterations,
                         seed=seed)

    def _model(self):
        p = self.params
        return _implicit().cpu.als.AlternatingLeastSquares(
            factors=p["factors"], regularization=p["regularization"], alpha=p["alpha"],
            iterations=p["iterations"], random_state=p["seed"], num_threads=2)


class ImplicitBPR(_Factorization):
    """Bayesian personalized ranking (Rendle et al. 2009), SGD on sampled item pairs."""

    name = "implicit-bpr"
    search_space: ClassVar[dict[str, list]] = {"factors": [16, 32], "learning_rate": [0.01, 0.05], "regularization": [0.0001, 0.01]}

    def __init__(self, factors: int = 16, learning_rate: float = 0.01, regularization: float = 0.0001,
                 iterations: int = 100, seed: int = 42):
        super().__init__(factors=factors, learning_rate=learning_rate, regularization=regularization,
                         iterations=iterations, seed=seed)

    def _model(self):
        p = self.params
        return _implicit().cpu.bpr.BayesianPersonalizedRanking(
            factors=p["factors"], learning_rate=p["learning_rate"], regularization=p["regularization"],
            iterations=p["iterations"], random_state=p["seed"], num_threads=2)
