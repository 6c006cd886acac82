"""Solutions: a recipe trained on a dataset, with offline metrics and the popularity baseline.

``train_solution`` splits by a protocol, fits the candidates on the train part, scores them
and the popularity baseline on the test part, then refits the chosen one on all the data for
serving. A solution version also holds what serving needs: popularity for unknown users,
similar-items and cold-start models, the item catalog and the training interactions.
"""

from __future__ import annotations

import hashlib
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from laketown.apps.recommendations import matrix
from laketown.apps.recommendations.data import Dataset
from laketown.apps.recommendations.evaluation import PROTOCOLS, build_train, fit_and_score
from laketown.apps.recommendations.recipes import USER_PERSONALIZATION, create
from laketown.apps.recommendations.search import search
from laketown.apps.recommendations.split import split
from laketown.errors import LaketownError

#: called with every new solution; the MLflow registry will add itself here
#: (``REGISTER_HOOKS.append(mlflow_register)``), so recommendations never imports it.
REGISTER_HOOKS: list[Callable[[Solution], Any]] = []


@dataclass
class Solution:
    """One trained solution version and the models serving needs beside it."""

    version: str
    dataset: str
    recipe: str
    params: dict[str, Any]
    protocol: str
    metrics: dict[str, float]
    baseline: dict[str, float]
    candidates: list[dict[str, Any]]
    data: matrix.TrainData
    model: Any
    popularity: Any
    similar: Any
    cold_start: Any
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    train_s: float = 0.0
    users: Any = None  # the users dataset (for Users.* filters), when there is one

    def summary(self) -> dict[str, Any]:
        """Version, recipe, params and offline metrics beside the baseline, JSON-ready."""
        return {
            "version": self.version, "dataset": self.dataset, "recipe": self.recipe, "params": self.params,
            "protocol": self.protocol, "metrics": self.metrics, "baseline": {"name": "popularity-count", **self.baseline},
            "candidates": self.candidates, "train_s": self.train_s, "created_at": self.created_at,
            "users": self.data.n_users, "items": self.data.n_items,
        }


def register(solution: Solution) -> list[Any]:
    """Hand a solution to every registry hook (none until MLflow is wired); returns their results."""
    return [hook(solution) for hook in REGISTER_HOOKS]


def _clean(res: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in res.items() if k != "model"}


def train_solution(dataset: Dataset, recipe: str = "user-personalization", params: dict[str, Any] | None = None,
                   protocol: str = "personalize", tune: bool = True, seed: int = 42,
                   embedder: str = "tfidf") -> Solution:
    """Train ``recipe`` (or choose among the user-personalization candidates by nDCG@10) and
    return a solution version with its offline metrics and the popularity baseline."""
    if protocol not in PROTOCOLS:
        raise LaketownError(f"unknown protocol {protocol!r}; use {' or '.join(PROTOCOLS)}")
    t0 = time.perf_counter()
    train, test = split(dataset.interactions, protocol, seed=seed)
    data = build_train(train, test, dataset.items)
    names = list(USER_PERSONALIZATION) if recipe == "user-personalization" else [recipe]
    candidates = []
    tuned: dict[str, Any] = {}
    for name in names:
        p = dict(params or {}) if len(names) == 1 else {}
        if tune and not p and name == "ease":
            p = tuned = search(name, train, dataset.items, seed=seed)["best"]
        elif tune and not p and name == "ease-als-blend":
            p = search(name, train, dataset.items, fixed={"lam": tuned.get("lam", 500.0)}, seed=seed)["best"]
        candidates.append(fit_and_score(name, p, data, test, PROTOCOLS[protocol]))
    best = max(candidates, key=lambda c: c["ndcg@10"])
    baseline = _clean(fit_and_score("popularity-count", {}, data, test, PROTOCOLS[protocol]))

    full = matrix.build(dataset.interactions, dataset.items)
    model = create(best["recipe"], **best["params"]).fit(full)
    popularity = create("popularity-count").fit(full)
    similar = create("similar-items", source="hybrid", embedder=embedder).fit(full)
    cold = create("cold-start", embedder=embedder).fit(full)
    metric_names = [k for k in best if k not in ("recipe", "params", "model")]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    digest = hashlib.sha1(f"{dataset.name}{best['recipe']}{best['params']}{time.time_ns()}".encode()).hexdigest()[:6]
    solution = Solution(
        version=f"{best['recipe']}-{stamp}-{digest}", dataset=dataset.name, recipe=best["recipe"],
        params=best["params"], protocol=PROTOCOLS[protocol], metrics={k: best[k] for k in metric_names},
        baseline={k: baseline[k] for k in metric_names if k in baseline},
        candidates=[_clean(c) for c in candidates], data=full, model=model, popularity=popularity,
        similar=similar, cold_start=cold, train_s=round(time.perf_counter() - t0, 2), users=dataset.users,
    )
    register(solution)
    return solution


def models_dir(ws: Any) -> Path:
    path = Path(ws.path) / "models" / "recs"
    path.mkdir(parents=True, exist_ok=True)
    return path


MLFLOW_NAME = "recs_solution"


def register_in_mlflow(solution: Solution, ws: Any) -> int:
    """Register the solution in the workspace's MLflow registry (params, offline metrics and the
    popularity baseline's as ``baseline_*``); returns the model version."""
    from laketown.ml.registry import ModelRegistry

    metrics = {k: float(v) for k, v in solution.metrics.items() if isinstance(v, (int, float))}
    metrics.update({f"baseline_{k}": float(v) for k, v in solution.baseline.items() if isinstance(v, (int, float))})
    params = {"recipe": solution.recipe, "solution_version": solution.version, "dataset": solution.dataset,
              **{k: str(v) for k, v in solution.params.items()}}
    return ModelRegistry(ws).log_model(MLFLOW_NAME, solution, params, metrics)


def save(solution: Solution, ws: Any) -> Path:
    """Store a solution under ``<workspace>/models/recs/<version>.pkl`` (the workspace is trusted:
    only Laketown writes there), mark it current and register it in MLflow."""
    path = models_dir(ws) / f"{solution.version}.pkl"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(solution, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(path)
    (models_dir(ws) / "CURRENT").write_text(solution.version)
    register_in_mlflow(solution, ws)
    return path


def load(ws: Any, version: str | None = None) -> Solution:
    """The current (or named) solution of a workspace."""
    folder = models_dir(ws)
    if version is None:
        current = folder / "CURRENT"
        if not current.is_file():
            raise LaketownError("no recommendation solution in this workspace yet; run `laketown recs train` first")
        version = current.read_text().strip()
    path = folder / f"{version}.pkl"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.pkl"))) or "none"
        raise LaketownError(f"unknown solution version {version!r}; versions: {known}")
    return pickle.loads(path.read_bytes())
