"""Interactions as a user x item matrix, with the id <-> index maps every recipe shares."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp


@dataclass
class TrainData:
    """What a recipe trains on.

    ``X`` is binary (1 where the user interacted with the item at least once); ``events`` keeps
    every interaction with integer codes ``u``/``i`` for recipes that use time or event types;
    ``items`` is the catalog aligned to ``item_ids`` (cold items have an all-zero column).
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_index: dict[str, int]
    item_index: dict[str, int]
    X: sp.csr_matrix
    events: pd.DataFrame
    items: pd.DataFrame | None
    now: int

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def history(self, item_ids: list[str] | np.ndarray) -> sp.csr_matrix:
        """A 1 x items row for a list of item ids (unknown ids are ignored)."""
        cols = sorted({self.item_index[i] for i in item_ids if i in self.item_index})
        return sp.csr_matrix((np.ones(len(cols), np.float32), ([0] * len(cols), cols)), shape=(1, self.n_items))


def build(interactions: pd.DataFrame, items: pd.DataFrame | None = None,
          item_universe: np.ndarray | None = None) -> TrainData:
    """Index users and items (catalog items and ``item_universe`` included even without
    interactions) and build the binary matrix."""
    user_ids = np.array(sorted(interactions["user_id"].unique()), dtype=object)
    known = set(interactions["item_id"].unique())
    if items is not None:
        known |= set(items["item_id"])
    if item_universe is not None:
        known |= set(item_universe)
    item_ids = np.array(sorted(known), dtype=object)
    user_index = {u: k for k, u in enumerate(user_ids)}
    item_index = {i: k for k, i in enumerate(item_ids)}
    u = interactions["user_id"].map(user_index).to_numpy()
    i = interactions["item_id"].map(item_index).to_numpy()
    X = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(len(user_ids), len(item_ids)))
    X.sum_duplicates()
    X.data[:] = 1.0
    events = interactions.assign(u=u, i=i)
    aligned = None
    if items is not None:
        aligned = items.set_index("item_id").reindex(item_ids).rename_axis("item_id").reset_index()
    return TrainData(user_ids, item_ids, user_index, item_index, X, events, aligned,
                     int(interactions["timestamp"].max()))


def top_k(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> np.ndarray:
    """Indices of the ``k`` best columns per row, best first; ``exclude`` marks columns to skip."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        rows, cols = exclude.nonzero()
        scores[rows, cols] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    return best
