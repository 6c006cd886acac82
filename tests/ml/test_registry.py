import pytest

from laketown.errors import LaketownError
from laketown.ml.registry import ModelRegistry


def test_log_register_and_load_versions(ws):
    reg = ModelRegistry(ws)
    v1 = reg.log_model("toy", {"weights": [1, 2]}, {"alpha": 0.1}, {"auc_roc": 0.8, "card_precision@100": 0.3},
                       ["a", "b"], snapshot_id=123)
    v2 = reg.log_model("toy", {"weights": [3]}, {"alpha": 0.2}, {"auc_roc": 0.9}, ["a"], snapshot_id=456)
    assert (v1, v2) == (1, 2)
    assert reg.load("toy") == {"weights": [3]}
    assert reg.load("toy", 1) == {"weights": [1, 2]}
    first, second = reg.versions("toy")
    assert first.params == {"alpha": "0.1"} and first.features == ["a", "b"] and first.snapshot_id == "123"
    assert first.metrics == {"auc_roc": 0.8, "card_precision@100": 0.3}
    assert second.version == 2 and reg.latest_version("toy") == 2
    assert (ws.path / "mlflow.db").exists() and (ws.path / "mlartifacts").is_dir()


def test_unknown_model_and_version_are_named(ws):
    reg = ModelRegistry(ws)
    with pytest.raises(LaketownError, match="no registered model 'nope'"):
        reg.load("nope")
    reg.log_model("toy", 1)
    with pytest.raises(LaketownError, match="has no version 7; versions: 1"):
        reg.load("toy", 7)
