"""Ranking metrics as Microsoft Recommenders and Amazon Personalize define them.

Inputs are plain Python: ``recommended`` maps a user to their ranked item list (best first,
seen items already removed) and ``relevant`` maps a user to the set of their test items.
Following Recommenders' ``merge_ranking_true_pred``, averages run over the users present in
both; a user with no hit counts as zero.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence

Ranked = Mapping[Hashable, Sequence[Hashable]]
Relevant = Mapping[Hashable, Iterable[Hashable]]


def _pairs(recommended: Ranked, relevant: Relevant, k: int) -> list[tuple[list, set]]:
    users = [u for u in relevant if u in recommended]
    return [(list(recommended[u])[:k], set(relevant[u])) for u in users]


def precision_at_k(recommended: Ranked, relevant: Relevant, k: int = 10) -> float:
    """Hits in the top ``k`` divided by ``k`` (not by the list length), averaged over users."""
    pairs = _pairs(recommended, relevant, k)
    if not pairs:
        return 0.0
    return sum(sum(i in rel for i in rec) / k for rec, rel in pairs) / len(pairs)


def recall_at_k(recommended: Ranked, relevant: Relevant, k: int = 10) -> float:
    """Hits in the top ``k`` divided by the user's number of relevant items, averaged."""
    pairs = [(rec, rel) for rec, rel in _pairs(recommended, relevant, k) if rel]
    if not pairs:
        return 0.0
    return sum(sum(i in rel for i in rec) / len(rel) for rec, rel in pairs) / len(pairs)


def ndcg_at_k(recommended: Ranked, relevant: Relevant, k: int = 10) -> float:
    """Binary-relevance nDCG@k: DCG = sum 1/log2(1+rank) over hits; the ideal DCG puts
    min(k, |relevant|) hits first (Recommenders' ``ndcg_at_k`` with ``score_type="binary"``)."""
    pairs = [(rec, rel) for rec, rel in _pairs(recommended, relevant, k) if rel]
    if not pairs:
        return 0.0
    total = 0.0
    for rec, rel in pairs:
        dcg = sum(1.0 / math.log2(r + 2) for r, i in enumerate(rec) if i in rel)
        idcg = sum(1.0 / math.log2(r + 2) for r in range(min(k, len(rel))))
        total += dcg / idcg
    return total / len(pairs)


def average_precision(rec: Sequence[Hashable], rel: set, k: int, normalize: str = "relevant") -> float:
    """Average precision of one list: sum over hits at rank r of (hits so far / r), divided by
    the number of relevant items (``normalize="relevant"``) or by min(k, relevant) (``"k"``)."""
    hits, score = 0, 0.0
    for r, item in enumerate(list(rec)[:k], start=1):
        if item in rel:
            hits += 1
            score += hits / r
    denom = len(rel) if normalize == "relevant" else min(k, len(rel))
    return score / denom if denom else 0.0


def map_score(recommended: Ranked, relevant: Relevant, k: int = 10) -> float:
    """MAP as Recommenders' ``map`` (and its README table) defines it: each user's average
    precision over the top ``k`` is divided by their number of relevant items (not by k)."""
    pairs = [(rec, rel) for rec, rel in _pairs(recommended, relevant, k) if rel]
    if not pairs:
        return 0.0
    return sum(average_precision(rec, rel, k) for rec, rel in pairs) / len(pairs)


def map_at_k(recommended: Ranked, relevant: Relevant, k: int = 10) -> float:
    """MAP@k normalized by min(k, relevant) (Recommenders' ``map_at_k``)."""
    pairs = [(rec, rel) for rec, rel in _pairs(recommended, relevant, k) if rel]
    if not pairs:
        return 0.0
    return sum(average_precision(rec, rel, k, normalize="k") for rec, rel in pairs) / len(pairs)


def mrr_at_k(recommended: Ranked, relevant: Relevant, k: int = 25) -> float:
    """Mean reciprocal rank of the first hit in the top ``k`` (0 when none), as Personalize reports."""
    pairs = [(rec, rel) for rec, rel in _pairs(recommended, relevant, k) if rel]
    if not pairs:
        return 0.0
    total = 0.0
    for rec, rel in pairs:
        total += next((1.0 / r for r, i in enumerate(rec, start=1) if i in rel), 0.0)
    return total / len(pairs)


def coverage(recommended: Ranked, catalog_size: int, k: int = 25) -> float:
    """Share of the catalog that appears in at least one user's top ``k`` (Personalize's coverage)."""
    if catalog_size <= 0:
        return 0.0
    seen: set = set()
    for rec in recommended.values():
        seen.update(list(rec)[:k])
    return len(seen) / catalog_size


def msr_metrics(recommended: Ranked, relevant: Relevant, k: int = 10) -> dict[str, float]:
    """The Recommenders table: ``map``, ``ndcg@10``, ``precision@10``, ``recall@10``."""
    return {
        "map": map_score(recommended, relevant, k),
        f"ndcg@{k}": ndcg_at_k(recommended, relevant, k),
        f"precision@{k}": precision_at_k(recommended, relevant, k),
        f"recall@{k}": recall_at_k(recommended, relevant, k),
    }


def personalize_metrics(recommended: Ranked, relevant: Relevant, catalog_size: int) -> dict[str, float]:
    """Personalize's offline metrics: coverage, MRR@25, NDCG@5/10/25, precision@5/10/25."""
    out = {"coverage": coverage(recommended, catalog_size, 25), "mrr@25": mrr_at_k(recommended, relevant, 25)}
    for k in (5, 10, 25):
        out[f"ndcg@{k}"] = ndcg_at_k(recommended, relevant, k)
    for k in (5, 10, 25):
        out[f"precision@{k}"] = precision_at_k(recommended, relevant, k)
    return out
