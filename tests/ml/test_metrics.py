import numpy as np
import pytest

from laketown.errors import LaketownError
from laketown.ml import metrics


def test_auc_roc_hand_computed():
    # positives at 0.8 and 0.4; negatives at 0.6, 0.2: pairs (0.8>0.6, 0.8>0.2, 0.4<0.6, 0.4>0.2) -> 3/4
    assert metrics.auc_roc([1, 0, 1, 0], [0.8, 0.6, 0.4, 0.2]) == pytest.approx(0.75)


def test_auc_roc_counts_ties_as_half():
    assert metrics.auc_roc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)


def test_average_precision_hand_computed():
    # ranking: 1 (p=1/1), 0, 1 (p=2/3) -> AP = (1 + 2/3) / 2
    assert metrics.average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx((1 + 2 / 3) / 2)


def test_ranking_metrics_match_scikit_learn_with_ties():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(1)
    y = (rng.uniform(size=2000) < 0.1).astype(int)
    s = np.round(rng.uniform(size=2000) + y * 0.3, 2)  # rounding makes ties
    assert metrics.auc_roc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert metrics.average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_precision_recall_f1_hand_computed():
    out = metrics.precision_recall_f1([1, 1, 0, 0, 1], [1, 0, 1, 0, 1])
    assert out == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})


def test_card_precision_at_k_per_day_with_detected_cards_removed():
    # day 0: cards a (fraud, 0.9), b (genuine, 0.8), c (fraud, 0.1); top-2 -> a, b -> 1/2
    # day 1: a again (fraud, 0.95) is removed (already detected); b 0.7 genuine, c 0.6 fraud -> top-2 b, c -> 1/2
    card = ["a", "b", "c", "a", "b", "c"]
    day = [0, 0, 0, 1, 1, 1]
    y = [1, 0, 1, 1, 0, 1]
    s = [0.9, 0.8, 0.1, 0.95, 0.7, 0.6]
    assert metrics.card_precision_at_k(card, day, y, s, k=2) == pytest.approx(0.5)
    # without removal day 1's top-2 is a, b -> 1/2 as well; with k=1 it differs: day0 a (1), day1 a (1) vs b (0)
    assert metrics.card_precision_at_k(card, day, y, s, k=1, remove_detected=False) == pytest.approx(1.0)
    assert metrics.card_precision_at_k(card, day, y, s, k=1) == pytest.approx(0.5)


def test_card_precision_takes_each_cards_best_transaction_of_the_day():
    # card a has a genuine 0.2 and a fraudulent 0.3 on the same day: it is one fraudulent card scored 0.3
    assert metrics.card_precision_at_k(["a", "a", "b"], [0, 0, 0], [0, 1, 0], [0.2, 0.3, 0.25], k=1) == 1.0


def test_non_binary_labels_are_refused_with_the_values():
    with pytest.raises(LaketownError, match=r"0/1 labels; got values \[0, 2\]"):
        metrics.auc_roc([0, 2], [0.1, 0.2])


def test_auc_needs_both_classes():
    with pytest.raises(LaketownError, match="both classes"):
        metrics.auc_roc([1, 1], [0.1, 0.2])
