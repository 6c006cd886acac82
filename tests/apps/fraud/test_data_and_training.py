"""Loading users' files, training with the review queue's labels, the CLI and the demo step."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from rich.progress import Progress
from typer.testing import CliRunner

from laketown.apps.fraud.data import prepare, read_file
from laketown.apps.fraud.simulator import SimulationSpec, simulate
from laketown.errors import LaketownError


def _user_csv(tmp_path, n_customers=150, days=40):
    sim = simulate(SimulationSpec(customers=n_customers, terminals=300, days=days, seed=11))
    table = pa.table({
        "id": sim["transaction_id"], "when": sim["tx_datetime"], "card": sim["customer_id"],
        "merchant": pa.array([f"m{t}" for t in sim["terminal_id"].to_pylist()]), "Amount": sim["tx_amount"],
        "is_fraud": sim["tx_fraud"], "channel": pa.array(np.where(sim["tx_amount"].to_numpy() > 100, "web", "pos")),
    })
    path = tmp_path / "tx.csv"
    pcsv.write_csv(table, path)
    return path


def _root_with_fraud():
    """A root command like ``laketown``'s (same --workspace callback) with ``fraud`` mounted,
    without touching the global one."""
    import typer

    from laketown import cli
    from laketown.apps.fraud.cli import app as fraud_app

    root = typer.Typer()
    root.callback()(cli._root)
    root.add_typer(fraud_app, name="fraud")
    return root


def test_user_file_is_checked_and_renamed(tmp_path):
    data = read_file(_user_csv(tmp_path))
    loaded = prepare(data, "is_fraud", "when", "id", ["card", "merchant", "card+merchant"])
    assert loaded.table.column_names[:4] == ["transaction_id", "tx_datetime", "tx_amount", "tx_fraud"]
    assert loaded.entities == (("card",), ("merchant",), ("card", "merchant"))
    assert loaded.raw_columns == ("channel",)  # strings become codes; entities are not raw features
    assert pa.types.is_integer(loaded.table["merchant"].type)
    assert "card_merchant_nb_tx_7d" in loaded.feature_set().names


def test_missing_column_and_non_binary_label_are_named(tmp_path):
    data = read_file(_user_csv(tmp_path))
    with pytest.raises(LaketownError, match="--entity shop: no column 'shop'"):
        prepare(data, "is_fraud", "when", entities=["shop"])
    with pytest.raises(LaketownError, match="--label: no column 'fraud'"):
        prepare(data, "fraud", "when")
    with pytest.raises(LaketownError, match=r"label column 'Amount' must be binary"):
        prepare(data, "Amount", "when")
    with pytest.raises(LaketownError, match="label column 'channel' must be binary"):
        prepare(data, "channel", "when")


def test_epoch_seconds_are_read_as_time():
    t = pa.table({"dt": [86400, 90000], "y": [0, 1], "amount": [1.0, 2.0]})
    loaded = prepare(t, "y", "dt")
    assert str(loaded.table["tx_datetime"][1].as_py()) == "1970-01-02 01:00:00"


def test_next_training_uses_the_analysts_labels(trained_ws):
    from laketown.apps.fraud.cases import LABELS_SCHEMA, LABELS_TABLE
    from laketown.apps.fraud.features import FeatureSet, laketown_features
    from laketown.apps.fraud.training import offline_features

    fs = FeatureSet(laketown_features())
    genuine = trained_ws.sql("SELECT transaction_id FROM raw.fraud_transactions WHERE tx_fraud = 0 LIMIT 1").to_pylist()[0]
    tx_id = str(genuine["transaction_id"])
    table = trained_ws.lake.create_table(LABELS_TABLE, schema=LABELS_SCHEMA, exist_ok=True)
    table.append(pa.Table.from_pylist([{"case_id": tx_id, "transaction_id": tx_id, "label": 1, "analyst": "ana",
                                        "note": "", "labelled_at": __import__("datetime").datetime(2030, 1, 1)}],
                                      schema=LABELS_SCHEMA))
    data = offline_features(trained_ws, "raw.fraud_transactions", fs)
    ids = data["transaction_id"].to_numpy()
    assert data["tx_fraud"].to_numpy()[ids == int(tx_id)][0] == 1
    assert data.num_rows == trained_ws.fraud_data.num_rows


def test_cli_evaluate_prints_one_summary_line(tmp_path, monkeypatch):
    root = _root_with_fraud()
    path = _user_csv(tmp_path)
    res = CliRunner().invoke(root, ["-w", str(tmp_path / "ws"), "fraud", "evaluate", "--data", str(path),
                                    "--label", "is_fraud", "--time", "when", "--id", "id",
                                    "--entity", "card", "--entity", "merchant"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["area"] == "fraud" and summary["protocol"] == "time-ordered-80-20"
    for side in ("laketown", "baseline"):
        assert 0 <= summary[side]["auc_roc"] <= 1 and 0 <= summary[side]["average_precision"] <= 1
    assert set(summary["ratio"]) >= {"auc_roc", "average_precision"}


def test_demo_step_trains_and_registers(tmp_path, monkeypatch):
    import laketown
    from laketown.apps.fraud import pipeline

    monkeypatch.setattr(pipeline, "DEMO_SPEC", SimulationSpec(customers=200, terminals=400, days=40, seed=2))
    with laketown.connect(tmp_path / "demo") as ws, Progress(disable=True) as progress:
        out = pipeline.demo_step(ws, progress)
    assert out["model_versions"] == {"fraud_classifier": 1, "fraud_anomaly": 1}
    assert 0 < out["auc_roc"] <= 1 and out["rule_set"] == "fraud@v1"


def test_cli_simulate_then_train_registers_models(tmp_path):
    root = _root_with_fraud()
    ws = str(tmp_path / "ws")
    runner = CliRunner()
    res = runner.invoke(root, ["-w", ws, "fraud", "simulate", "--customers", "150", "--terminals", "300", "--days", "40"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["table"] == "raw.fraud_transactions"
    res = runner.invoke(root, ["-w", ws, "fraud", "train"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["model_versions"] == {"fraud_classifier": 1, "fraud_anomaly": 1}
    assert 0 < out["auc_roc"] <= 1


def test_cli_train_without_data_or_label_says_what_to_do(tmp_path):
    root = _root_with_fraud()
    res = CliRunner().invoke(root, ["-w", str(tmp_path / "empty"), "fraud", "train"])
    assert res.exit_code != 0 and "laketown fraud simulate" in str(res.exception)
