"""Hyperparameter search: a grid over a recipe's search space, scored on a validation split
carved out of the training data (never the test data), best by nDCG@10."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pandas as pd

from laketown.apps.recommendations.evaluation import build_train, fit_and_score
from laketown.apps.recommendations.recipes import recipe_class
from laketown.apps.recommendations.split import stratified_split


def search(recipe: str, train: pd.DataFrame, items: pd.DataFrame | None = None,
           space: dict[str, list[Any]] | None = None, fixed: dict[str, Any] | None = None,
           metric: str = "ndcg@10", max_trials: int = 12, seed: int = 7) -> dict[str, Any]:
    """Try up to ``max_trials`` parameter sets; returns ``{"best": params, "trials": [...], "search_s"}``."""
    space = space if space is not None else recipe_class(recipe).search_space
    fit_part, valid = stratified_split(train, ratio=0.8, seed=seed)
    data = build_train(fit_part, valid, items)
    names = list(space)
    combos = list(itertools.product(*(space[n] for n in names)))[:max_trials] or [()]
    t0 = time.perf_counter()
    trials = []
    for combo in combos:
        params = {**(fixed or {}), **dict(zip(names, combo))}
        res = fit_and_score(recipe, params, data, valid, "msr")
        res.pop("model")
        trials.append({"params": params, metric: res[metric], "train_s": res["train_s"]})
    best = max(trials, key=lambda t: t[metric])
    return {"best": best["params"], "trials": trials, "search_s": round(time.perf_counter() - t0, 2)}
