import json

import numpy as np
import pandas as pd
from rich.progress import Progress
from typer.testing import CliRunner

from laketown.apps.recommendations import movielens, pipeline, solutions
from laketown.apps.recommendations.cli import app


def test_evaluate_prints_one_json_summary_with_recipes_and_baselines(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(f"c{u}", f"s{int(i)}", 1_700_000_000 + int(rng.integers(10**6)), int(rng.integers(1, 6)))
            for u in range(80) for i in rng.choice(60, size=12, replace=False)]
    path = tmp_path / "orders.csv"
    pd.DataFrame(rows, columns=["customer", "sku", "when", "stars"]).to_csv(path, index=False)
    res = CliRunner().invoke(app, ["evaluate", "--interactions", str(path), "--user", "customer", "--item", "sku",
                                   "--time", "when", "--rating", "stars", "--no-tune"])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["area"] == "recs" and out["protocol"] == "msr-stratified-75-25"
    assert {"map", "ndcg@10", "precision@10", "recall@10", "train_s"} <= set(out["laketown"])
    assert out["baseline"]["name"] == "implicit-bpr"
    assert {v["recipe"] for v in out["variants"]} >= {"ease", "implicit-als", "similar-items"}
    assert set(out["ratio"]) >= {"ndcg@10", "map"}


def test_bad_column_name_is_a_clear_error(tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(path, index=False)
    res = CliRunner().invoke(app, ["evaluate", "--interactions", str(path), "--user", "nope"])
    assert res.exit_code != 0 and "no column 'nope'" in str(res.exception)


def test_demo_step_falls_back_to_retail_when_movielens_cannot_be_fetched(ws, monkeypatch):
    def unavailable(cache_dir):
        raise movielens.DatasetUnavailableError("no network")

    monkeypatch.setattr(movielens, "load", unavailable)
    real = pipeline.retail.generate
    monkeypatch.setattr(pipeline.retail, "generate", lambda: real(n_users=200, n_items=80))
    with Progress(disable=True) as progress:
        out = pipeline.demo_step(ws, progress)
    assert out["dataset"] == "synthetic-retail" and "unavailable" in out["note"]
    assert out["metrics"]["ndcg@10"] >= out["baseline_popularity"]["ndcg@10"]
    assert ws.table("raw.recs_interactions").count() == out["tables"]["raw.recs_interactions"]
    assert ws.table("curated.recs_batch").count() == out["curated.recs_batch"] > 0
    assert solutions.load(ws).version == out["solution"]
