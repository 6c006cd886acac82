"""Side-by-side offline comparison of every recipe and the baselines on one split; shared by
``laketown recs evaluate`` and ``benchmarks/recs.py``."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from laketown.apps.recommendations.evaluation import PROTOCOLS, build_train, fit_and_score
from laketown.apps.recommendations.search import search
from laketown.apps.recommendations.split import split

LAKETOWN_RECIPES = ("ease", "ease-pop", "implicit-als", "similar-items", "trending-now")
BASELINES = ("implicit-bpr", "popularity-count")


def compare(interactions: pd.DataFrame, items: pd.DataFrame | None = None, protocol: str = "msr",
            dataset: str = "interactions", tune: bool = True, seed: int = 42,
            recipes: tuple[str, ...] = LAKETOWN_RECIPES, baselines: tuple[str, ...] = BASELINES) -> dict[str, Any]:
    """Every recipe and baseline on the same split; returns the summary object (ARCHITECTURE.md shape)
    whose ``laketown`` is the best recipe by nDCG@10 and ``baseline`` the first baseline."""
    warnings.filterwarnings("ignore", message=".*OpenBLAS.*")
    train, test = split(interactions, protocol, seed=seed)
    data = build_train(train, test, items)
    proto = PROTOCOLS[protocol]
    variants, search_s = [], {}
    for name in recipes:
        recipe, params = ("ease", {"pop_alpha": 0.1}) if name == "ease-pop" else (name, {})
        if name == "similar-items":
            params = {"source": "cooccurrence"}
        if tune and recipe == "ease":
            found = search("ease", train, items, fixed=params, seed=seed)
            params, search_s[name] = found["best"], found["search_s"]
        res = fit_and_score(recipe, params, data, test, proto)
        res.pop("model")
        res["recipe"] = name
        if name in search_s:
            res["search_s"] = search_s[name]
        variants.append(res)
    base = []
    for name in baselines:
        res = fit_and_score(name, {}, data, test, proto)
        res.pop("model")
        base.append(res)
    best = max(variants, key=lambda v: v["ndcg@10"])
    baseline = base[0] if base else None
    ratio = {}
    if baseline:
        for k, v in best.items():
            if isinstance(v, float) and isinstance(baseline.get(k), float) and baseline[k]:
                ratio[k] = round(v / baseline[k], 3)
    return {
        "area": "recs", "dataset": dataset, "protocol": proto,
        "users": data.n_users, "items": data.n_items, "train_rows": len(train), "test_rows": len(test),
        "laketown": best, "baseline": {"name": baseline["recipe"], **baseline} if baseline else None,
        "ratio": ratio, "variants": variants, "baselines": base,
    }
