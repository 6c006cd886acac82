import numpy as np
import pytest

from laketown.ml.isolation import IsolationScorer


@pytest.mark.parametrize("max_features", [1.0, 0.5])
def test_numpy_scores_equal_scikit_learn(max_features):
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 8))
    forest = IsolationForest(n_estimators=50, random_state=0, max_features=max_features).fit(X)
    probe = np.vstack([X[:200], rng.normal(scale=5, size=(50, 8))])
    np.testing.assert_allclose(IsolationScorer(forest).score_samples(probe), forest.score_samples(probe), atol=1e-12)
