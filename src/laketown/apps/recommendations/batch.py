"""Batch recommendations for every user of a solution, written to ``curated.recs_batch``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from laketown.apps.recommendations.matrix import top_k
from laketown.apps.recommendations.solutions import Solution

BATCH_TABLE = "curated.recs_batch"


def batch_recommendations(solution: Solution, n: int = 10, chunk: int = 1024) -> pa.Table:
    """user_id, rank (1-based), item_id, score, solution_version for every known user; seen items removed."""
    data = solution.data
    users, ranks, items, scores = [], [], [], []
    for s in range(0, data.n_users, chunk):
        rows = np.arange(s, min(s + chunk, data.n_users))
        hist = data.X[rows]
        sc = np.asarray(solution.model.score(hist, rows), dtype=np.float64)
        best = top_k(sc, n, exclude=hist)
        for r, u in enumerate(rows):
            for rank, i in enumerate(best[r], start=1):
                if np.isfinite(sc[r, i]):
                    users.append(data.user_ids[u])
                    ranks.append(rank)
                    items.append(data.item_ids[i])
                    scores.append(float(sc[r, i]))
    return pa.table({
        "user_id": pa.array(users, pa.string()), "rank": pa.array(ranks, pa.int32()),
        "item_id": pa.array(items, pa.string()), "score": pa.array(scores, pa.float64()),
        "solution_version": pa.array([solution.version] * len(users), pa.string()),
    })


def write_batch(ws: Any, solution: Solution, n: int = 10) -> int:
    """Overwrite ``curated.recs_batch`` with fresh batch recommendations; returns rows written."""
    table = batch_recommendations(solution, n)
    ws.lake.write(BATCH_TABLE, table, mode="overwrite")
    return table.num_rows
