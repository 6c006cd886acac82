"""The churn loop end to end on a small generated Telco-shaped archive (no download), and
``churn evaluate`` on any CSV: JSON shape, label and column inference, clear errors."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from laketown.apps.engagement import churn, churn_data
from laketown.apps.engagement.churn_cli import app
from laketown.apps.engagement.churn_models import binary_labels, infer_columns
from laketown.apps.engagement.segments import SegmentEngine
from laketown.errors import LaketownError


def telco_like(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Telco's shape: short tenure, monthly contracts and fibre churn more."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.55, 0.25, 0.2])
    internet = rng.choice(["DSL", "Fiber optic", "No"], n)
    monthly = rng.uniform(20, 110, n).round(2)
    logit = 1.0 - 0.06 * tenure + 1.6 * (contract == "Month-to-month") + 0.8 * (internet == "Fiber optic") - 1.0
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    total = [" " if t == 0 else f"{t * m:.2f}" for t, m in zip(tenure, monthly, strict=True)]
    return pd.DataFrame({
        "customerID": [f"{i:04d}-ABCDE" for i in range(n)], "gender": rng.choice(["Female", "Male"], n),
        "SeniorCitizen": rng.integers(0, 2, n), "tenure": tenure, "Contract": contract, "InternetService": internet,
        "MonthlyCharges": monthly, "TotalCharges": total, "Churn": np.where(churned, "Yes", "No"),
    })


@pytest.fixture
def telco_ws(ws):
    """A workspace whose cache holds a wheel-shaped archive with a generated churn.csv."""
    with zipfile.ZipFile(ws.cache_dir / churn_data.WHEEL, "w") as zf:
        zf.writestr(churn_data.MEMBER, churn_data.generate_telco(600).drop(columns="AvgMonthlyCharge").to_csv(index=False))
    return ws


def test_churn_loop_trains_scores_and_refreshes_the_risk_segment(telco_ws):
    ws = telco_ws
    now = datetime.now(UTC)
    events = pa.Table.from_pylist([
        {"event_id": f"e{i}", "user_id": f"{i % 50:04d}-GENRT", "event_type": ["open", "click", "send"][i % 3],
         "ts": now - timedelta(days=i % 40)} for i in range(300)
    ], schema=pa.schema([("event_id", pa.string()), ("user_id", pa.string()), ("event_type", pa.string()),
                         ("ts", pa.timestamp("us", tz="UTC"))]))
    ws.lake.write("raw.engagement_events", events)
    out = churn.train_and_score(ws, folds=2)
    assert out["engagement_features"] is True
    assert out["auc_roc"] > 0.7 and out["baseline_auc_roc"] > 0.7
    assert out["scored_users"] == 600 and out["model_version"] == 1
    scores = ws.table(churn.SCORES_TABLE).scan().to_pandas()
    assert set(scores.columns) == {"user_id", "churn_probability", "model_version", "scored_at"}
    assert scores["churn_probability"].between(0, 1).all()
    at_risk = set(scores.loc[scores["churn_probability"] >= 0.7, "user_id"])
    assert 0 < len(at_risk) < 600
    engine = SegmentEngine(ws, endpoints=churn_data.telco_endpoints(ws.cache_dir))
    assert set(engine.members("churn_risk")["user_id"].to_pylist()) == at_risk
    assert engine.get("churn_risk")["kind"] == "model"
    report = churn.latest_report(ws)
    assert report["model_version"] == 1
    assert {"brier", "ece", "bins"} <= set(report["calibration"])
    assert report["top_features"][0]["feature"] in {"tenure", "Contract", "TotalCharges"}
    from laketown.ml.registry import ModelRegistry

    versions = ModelRegistry(ws).versions(churn.MODEL_NAME)
    assert versions[0].metrics["auc_roc"] == out["auc_roc"]
    assert "eng_clicks_30d" in versions[0].features
    # once the app's endpoints include scored customers, the segment is over those endpoints
    app_endpoints = churn_data.telco_endpoints(ws.cache_dir, limit=200)
    ws.lake.write("clean.engagement_endpoints", app_endpoints)
    again = churn.score(ws)
    first_200 = set(app_endpoints["user_id"].to_pylist())
    assert again["churn_risk"] == len(at_risk & first_200)
    assert set(SegmentEngine(ws).members("churn_risk")["user_id"].to_pylist()) == at_risk & first_200
    assert engine.sizes("churn_risk")["trigger"].to_pylist() == ["save", "refresh"]


def test_generated_telco_stands_in_when_the_download_fails(ws, monkeypatch):
    def offline(cache_dir):
        raise churn_data.DatasetUnavailableError("no network")

    monkeypatch.setattr(churn_data, "fetch_telco", offline)
    df, name = churn_data.telco_or_generated(ws.cache_dir)
    assert name == "generated-telco-like" and len(df) == 7_043
    assert 0.2 < (df["Churn"] == "Yes").mean() < 0.35
    assert df["TotalCharges"].isna().sum() == (df["tenure"] == 0).sum() > 0
    assert churn_data.generate_telco(50, seed=1).equals(churn_data.generate_telco(50, seed=1))


def test_score_before_training_says_what_to_do(telco_ws):
    with pytest.raises(LaketownError, match="no churn model yet.*churn train"):
        churn.score(telco_ws)


def test_evaluate_prints_one_json_object(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKETOWN__WORKSPACE", str(tmp_path / "ws"))
    path = tmp_path / "customers.csv"
    telco_like(500, seed=3).to_csv(path, index=False)
    res = CliRunner().invoke(app, ["evaluate", "--data", str(path), "--label", "Churn", "--id", "customerID", "--folds", "2"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["area"] == "engagement" and out["dataset"] == "customers.csv" and out["protocol"] == "stratified-80-20"
    assert out["baseline"]["name"] == "logistic-regression"
    assert 0.6 < out["laketown"]["auc_roc"] <= 1 and 0.6 < out["baseline"]["auc_roc"] <= 1
    assert out["ratio"]["auc_roc"] == pytest.approx(out["laketown"]["auc_roc"] / out["baseline"]["auc_roc"], abs=1e-3)
    assert out["laketown"]["train_s"] > 0
    assert out["rows"] == {"train": 400, "test": 100, "positive_rate": pytest.approx(out["rows"]["positive_rate"])}
    # TotalCharges is text with blanks in the file; it is read as a number
    assert "TotalCharges" in out["columns"]["numeric"] and "Contract" in out["columns"]["categorical"]
    assert "customerID" not in out["columns"]["numeric"] + out["columns"]["categorical"]


def test_evaluate_bad_input_exits_2_with_one_line(tmp_path):
    path = tmp_path / "c.csv"
    df = telco_like(100)
    df.to_csv(path, index=False)
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "--data", str(path), "--label", "churned"])
    assert res.exit_code == 2
    assert "--label 'churned' is not a column of c.csv" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    df["Churn"] = np.where(df.index % 3 == 0, "Maybe", df["Churn"])
    df.to_csv(path, index=False)
    res = runner.invoke(app, ["evaluate", "--data", str(path), "--label", "Churn"])
    assert res.exit_code == 2 and "must hold two values" in res.stderr
    res = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "none.csv"), "--label", "Churn"])
    assert res.exit_code == 2 and "does not exist" in res.stderr


def test_label_and_column_inference():
    assert binary_labels(pd.Series(["Yes", "no", "YES"]), "l").tolist() == [1, 0, 1]
    assert binary_labels(pd.Series([0, 1, 1]), "l").tolist() == [0, 1, 1]
    assert binary_labels(pd.Series([True, False]), "l").tolist() == [1, 0]
    with pytest.raises(LaketownError, match="which value"):
        binary_labels(pd.Series(["red", "blue"]), "colour")
    X, cols = infer_columns(pd.DataFrame({
        "id": [f"x{i}" for i in range(200)], "n": [" ", *map(str, range(199))],
        "c": ["a", "b"] * 100, "k": ["z"] * 200, "t": pd.date_range("2026-01-01", periods=200),
    }))
    assert cols.numeric == ["n"] and cols.categorical == ["c"]
    assert set(cols.dropped) == {"id", "k", "t"}
    assert np.isnan(X["n"].iloc[0])
