import math

import pytest

from laketown.apps.recommendations import metrics

REC = {"a": ["1", "2", "3"], "b": ["4", "5", "6"]}
REL = {"a": {"1", "3", "9"}, "b": {"5"}}


def test_precision_recall_divide_by_k_and_by_relevant():
    assert metrics.precision_at_k(REC, REL, 3) == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert metrics.recall_at_k(REC, REL, 3) == pytest.approx((2 / 3 + 1) / 2)


def test_ndcg_binary_with_ideal_of_min_k_relevant():
    a = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    b = (1 / math.log2(3)) / 1.0
    assert metrics.ndcg_at_k(REC, REL, 3) == pytest.approx((a + b) / 2)


def test_map_divides_by_relevant_count_and_map_at_k_by_min_k():
    a = (1 / 1 + 2 / 3) / 3
    b = (1 / 2) / 1
    assert metrics.map_score(REC, REL, 3) == pytest.approx((a + b) / 2)
    rec = {"a": ["1", "x"]}
    rel = {"a": {"1", "2", "3"}}
    assert metrics.map_score(rec, rel, 2) == pytest.approx(1 / 3)
    assert metrics.map_at_k(rec, rel, 2) == pytest.approx(1 / 2)


def test_mrr_and_coverage():
    assert metrics.mrr_at_k(REC, REL, 25) == pytest.approx((1 + 1 / 2) / 2)
    assert metrics.coverage(REC, catalog_size=12, k=25) == pytest.approx(6 / 12)


def test_users_without_recommendations_are_left_out_and_misses_count_zero():
    rec = {"a": ["x", "y"]}
    rel = {"a": {"z"}, "ghost": {"q"}}
    assert metrics.ndcg_at_k(rec, rel, 2) == 0.0
    assert metrics.precision_at_k({"a": ["z", "y"], "b": ["n"]}, {"a": {"z"}, "b": {"m"}}, 2) == pytest.approx(0.25)


def test_perfect_ranking_scores_one():
    rec = {"u": ["1", "2"]}
    rel = {"u": {"1", "2"}}
    m = metrics.msr_metrics(rec, rel, 2)
    assert m == {"map": 1.0, "ndcg@2": 1.0, "precision@2": 1.0, "recall@2": 1.0}
