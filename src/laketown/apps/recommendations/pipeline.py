"""The recommendations step of ``laketown demo``: load data into the lake, train, measure."""

from __future__ import annotations

import time
from typing import Any

from laketown.apps.recommendations import data, movielens, retail
from laketown.errors import LaketownError


def load_dataset(ws: Any, name: str) -> data.Dataset:
    """``movielens-100k`` (fetched), ``retail`` (synthetic), ``lake`` (raw.recs_* tables) or a file path."""
    if name in ("movielens-100k", "movielens"):
        return movielens.load(ws.cache_dir)
    if name in ("retail", "synthetic-retail"):
        return retail.generate()
    if name == "lake":
        if not ws.lake.exists(data.INTERACTIONS_TABLE):
            raise LaketownError(f"no {data.INTERACTIONS_TABLE} table yet; run `laketown demo` or pass --dataset retail")
        return data.from_lake(ws)
    return data.Dataset(name, data.load_interactions_file(name))


def demo_step(ws: Any, progress: Any) -> dict[str, Any]:
    """MovieLens 100K (or, if it cannot be fetched, the synthetic retail data) into the lake,
    a solution trained and stored, batch recommendations written; returns the measured metrics."""
    from laketown.apps.recommendations import batch, solutions

    task = progress.add_task("recommendations", total=4)
    note = None
    try:
        ds = movielens.load(ws.cache_dir)
    except movielens.DatasetUnavailableError as exc:
        ds, note = retail.generate(), f"MovieLens 100K unavailable ({exc}); used the synthetic retail data"
    progress.advance(task)
    rows = data.write_to_lake(ws, ds)
    progress.advance(task)
    t0 = time.perf_counter()
    sol = solutions.train_solution(ds, protocol="personalize")
    train_s = time.perf_counter() - t0
    solutions.save(sol, ws)
    progress.advance(task)
    batch_rows = batch.write_batch(ws, sol)
    progress.advance(task)
    out = {
        "dataset": ds.name, "tables": rows, "solution": sol.version, "recipe": sol.recipe,
        "protocol": sol.protocol, "metrics": sol.metrics, "baseline_popularity": sol.baseline,
        "train_s": round(train_s, 2), "curated.recs_batch": batch_rows,
    }
    if note:
        out["note"] = note
    return out
