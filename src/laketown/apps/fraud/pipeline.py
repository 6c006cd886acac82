"""The fraud step of ``laketown demo``: simulate, build features in SQL, train and register
both models, and report their test metrics."""

from __future__ import annotations

from typing import Any

from laketown.apps.fraud.data import SIMULATED_TABLE, write_simulation
from laketown.apps.fraud.decisions import RuleStore
from laketown.apps.fraud.features import FeatureSet, laketown_features
from laketown.apps.fraud.simulator import SimulationSpec
from laketown.apps.fraud.training import train

DEMO_SPEC = SimulationSpec(customers=1_000, terminals=2_000, days=60, seed=0)


def demo_step(ws: Any, progress: Any) -> dict[str, Any]:
    """Simulate 1,000 customers over 60 days, train on all but the last 14 days (7 of delay,
    7 of test), register the models in MLflow and store the default rule set."""
    task = progress.add_task("fraud detection", total=3)
    data = write_simulation(ws, DEMO_SPEC)
    progress.advance(task)
    result = train(ws, SIMULATED_TABLE, FeatureSet(laketown_features()))
    progress.advance(task)
    rules = RuleStore(ws)
    if not rules.versions():
        rules.save(rules.load())
    progress.advance(task)
    return {
        SIMULATED_TABLE: data.num_rows,
        "fraud_rate": round(float(data["tx_fraud"].to_numpy().mean()), 4),
        "model_versions": result.versions,
        **{k: v for k, v in result.metrics.items()},
        "rule_set": rules.load().label,
    }
