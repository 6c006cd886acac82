import numpy as np
import pytest

from laketown.apps.fraud.features import DAY_US
from laketown.apps.fraud.models import matrix
from laketown.apps.fraud.training import delay_split, offline_features


@pytest.fixture(scope="module")
def test_rows(trained_ws):
    r = trained_ws.fraud_result
    fs = r.classifier.feature_set
    data = offline_features(trained_ws, "raw.fraud_transactions", fs)
    ts = data["tx_datetime"].cast("int64").to_numpy()
    _, test = delay_split(ts, 7, 7)
    return r, matrix(data, fs.names)[test], data["tx_fraud"].to_numpy()[test]


def test_calibrated_probabilities_match_the_observed_fraud_rate(test_rows):
    r, X, y = test_rows
    p = r.classifier.probability(X)
    assert 0.5 * y.mean() < p.mean() < 2 * y.mean()
    # high scores are mostly fraud, low scores mostly not
    assert y[p > 0.5].mean() > 0.5 and y[p < 0.05].mean() < 0.1


def test_reasons_are_the_boosters_own_shap_values(test_rows):
    r, X, _ = test_rows
    clf = r.classifier
    contrib = clf.booster.predict(X[:20], pred_contrib=True)
    np.testing.assert_allclose(contrib.sum(axis=1), clf.margin(X[:20]), rtol=1e-6, atol=1e-6)
    reasons = clf.reasons(X[:20], top=3)
    for row, rs in zip(contrib, reasons):
        assert len(rs) <= 3 and all(x["contribution"] > 0 for x in rs)
        if rs:
            assert rs[0]["contribution"] == pytest.approx(row[:-1].max(), abs=1e-4)


def test_anomaly_score_is_a_rank_in_zero_one_and_flags_extreme_amounts(test_rows):
    r, X, _ = test_rows
    a = r.anomaly.score(X)
    assert a.min() >= 0 and a.max() <= 1
    odd = X[:1].copy()
    odd[0, r.anomaly.features.index("amount")] = 10_000
    assert r.anomaly.score(odd)[0] > 0.9


def test_training_split_keeps_the_delay_out(trained_ws):
    ts = trained_ws.fraud_data["tx_datetime"].cast("int64").to_numpy()
    train, test = delay_split(ts, 7, 7)
    assert ts[test].min() - ts[train].max() >= 7 * DAY_US
    assert trained_ws.fraud_result.rows["train"] == int(train.sum())
