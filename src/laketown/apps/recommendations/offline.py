"""Side-by-side offline comparison of every recipe and the baselines on one split; shared by
``laketown recs evaluate`` and ``benchmarks/recs.py``."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from laketown.apps.recommendations.evaluation import PROTOCOLS, build_train, fit_and_score
from laketown.apps.recommendations.search import search
from laketown.apps.recommendations.split import split
from laketown.errors import MissingExtraError

LAKETOWN_RECIPES = ("ease", "ease-pop", "ease-als-blend", "implicit-als", "similar-items", "trending-now")
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
    variants: list[dict[str, Any]] = []
    search_s: dict[str, float] = {}
    tuned_lam = None
    for name in recipes:
        recipe, params = ("ease", {"pop_alpha": 0.1}) if name == "ease-pop" else (name, {})
        if name == "similar-items":
            params = {"source": "cooccurrence"}
        if tune and recipe == "ease":
            found = search("ease", train, items, fixed=params, seed=seed)
            params, search_s[name] = found["best"], found["search_s"]
            tuned_lam = tuned_lam or params["lam"]
        if tune and recipe == "ease-als-blend":
            fixed = {"lam": tuned_lam} if tuned_lam else {}
            found = search(recipe, train, items, fixed=fixed, seed=seed)
            params, search_s[name] = found["best"], found["search_s"]
        try:
            res = fit_and_score(recipe, params, data, test, proto)
        except MissingExtraError as exc:
            variants.append({"recipe": name, "notimpl": str(exc)})
            continue
        res.pop("model")
        res["recipe"] = name
        if name in search_s:
            res["search_s"] = search_s[name]
        variants.append(res)
    base = []
    for name in baselines:
        try:
            res = fit_and_score(name, {}, data, test, proto)
        except MissingExtraError as exc:
            base.append({"recipe": name, "notimpl": str(exc)})
            continue
        res.pop("model")
        base.append(res)
    best = max((v for v in variants if "notimpl" not in v), key=lambda v: v["ndcg@10"])
    base = [b for b in base if "notimpl" not in b] + [b for b in base if "notimpl" in b]
    baseline = base[0] if base and "notimpl" not in base[0] else None
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
