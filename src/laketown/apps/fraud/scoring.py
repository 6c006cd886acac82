"""Real-time scoring: online features -> anomaly score + calibrated probability + reasons ->
rule-set decision, for one transaction or a batch. The API, the demo feed and the benchmark all
score through a :class:`Scorer`.

Models are swapped by replacing one reference: a request in flight keeps the pair it started
with, the next one gets the new pair, and none fails or waits.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from laketown.apps.fraud.decisions import RuleSet
from laketown.apps.fraud.features import FeatureSet, OnlineFeatures
from laketown.apps.fraud.models import ANOMALY, CLASSIFIER, AnomalyModel, FraudClassifier
from laketown.errors import LaketownError

#: ``publish(scored_rows)``: where scored transactions go (the lead wires it to the stream that
#: the delivery sink writes to ``curated.fraud_scored_transactions``).
Publish = Callable[[list[dict[str, Any]]], None]
#: which transactions get SHAP reasons: every one, or only those not approved.
REASONS_FOR = ("all", "flagged")


@dataclass(frozen=True)
class ModelPair:
    """The classifier and anomaly model served together, with their registry versions."""

    classifier: FraudClassifier
    anomaly: AnomalyModel

    @property
    def versions(self) -> dict[str, int | None]:
        return {CLASSIFIER: self.classifier.version, ANOMALY: self.anomaly.version}

    @property
    def feature_set(self) -> FeatureSet:
        fs = self.classifier.feature_set
        if fs is None:
            raise LaketownError("the classifier carries no feature set; train it with laketown.apps.fraud.training")
        return fs


def load_models(ws: Any, classifier_version: int | None = None, anomaly_version: int | None = None) -> ModelPair:
    """The registered models (latest versions unless given)."""
    from laketown.ml.registry import ModelRegistry

    reg = ModelRegistry(ws)
    clf = reg.load(CLASSIFIER, classifier_version)
    ano = reg.load(ANOMALY, anomaly_version)
    clf.version = classifier_version or reg.latest_version(CLASSIFIER)
    ano.version = anomaly_version or reg.latest_version(ANOMALY)
    return ModelPair(clf, ano)


class Scorer:
    """Scores transactions given as dicts with ``transaction_id``, ``timestamp``, ``amount`` and
    the entity columns of the model's features (``customer_id``, ``terminal_id``...)."""

    def __init__(self, models: ModelPair, rules: RuleSet, publish: Publish | None = None,
                 on_flagged: Publish | None = None, reasons_for: str = "all", top_reasons: int = 3):
        if reasons_for not in REASONS_FOR:
            raise LaketownError(f"reasons_for must be one of {REASONS_FOR}; got {reasons_for!r}")
        self._models = models
        self.rules = rules
        self.publish = publish
        self.on_flagged = on_flagged
        self.reasons_for = reasons_for
        self.top_reasons = top_reasons
        self.online: OnlineFeatures = models.feature_set.online()
        self._state_lock = threading.Lock()
        rules.check(self.variables(models))

    @property
    def models(self) -> ModelPair:
        return self._models

    def variables(self, models: ModelPair | None = None) -> list[str]:
        """The names rules may use: scores, the amount, every feature and the entity columns."""
        fs = (models or self._models).feature_set
        return ["fraud_probability", "anomaly_score", "amount", *fs.names, *(c for e in fs.entities for c in e)]

    def swap(self, models: ModelPair) -> dict[str, int | None]:
        """Serve ``models`` from the next request on; returns the versions replaced."""
        old = self._models
        missing = set(models.feature_set.entities) - set(old.feature_set.entities)
        if missing:
            raise LaketownError(f"the new models need history per {sorted(missing)}, which this scorer does not keep; restart it")
        self.rules.check(self.variables(models))
        self._models = models
        return old.versions

    def set_rules(self, rules: RuleSet) -> None:
        rules.check(self.variables())
        self.rules = rules

    def warm(self, rows: Sequence[dict[str, Any]]) -> int:
        """Fill the online state with past transactions (rows in the feature set's columns)."""
        with self._state_lock:
            return self.online.extend(rows)

    def _row(self, tx: dict[str, Any], fs: FeatureSet) -> dict[str, Any]:
        row = dict(tx)
        row[fs.id] = tx["transaction_id"]
        row[fs.time] = tx["timestamp"]
        row[fs.amount] = tx["amount"]
        return row

    def score(self, transactions: Sequence[dict[str, Any]], reasons_for: str | None = None) -> list[dict[str, Any]]:
        """Score transactions in order (each one sees the ones before it in its features).

        ``reasons_for`` (default: the scorer's) is ``all`` or ``flagged`` (not approved)."""
        reasons_for = reasons_for or self.reasons_for
        if reasons_for not in REASONS_FOR:
            raise LaketownError(f"reasons_for must be one of {REASONS_FOR}; got {reasons_for!r}")
        models = self._models  # one read: a swap mid-request does not mix versions
        rules = self.rules
        fs = models.feature_set
        rows = [self._row(tx, fs) for tx in transactions]
        with self._state_lock:
            X = np.empty((len(rows), len(fs.names)))
            for i, row in enumerate(rows):
                X[i] = self.online.compute(row, fs)
                self.online.add(row)
        prob = models.classifier.probability(X)
        Xa = X if models.anomaly.features == fs.names else X[:, [fs.names.index(n) for n in models.anomaly.features]]
        anomaly = models.anomaly.score(Xa)
        decisions = []
        for i, tx in enumerate(transactions):
            variables = dict(zip(fs.names, X[i].tolist()))
            variables.update({c: tx.get(c) for e in fs.entities for c in e})
            variables.update(fraud_probability=float(prob[i]), anomaly_score=float(anomaly[i]), amount=float(tx["amount"]))
            decisions.append(rules.decide(variables))
        explain = [i for i, d in enumerate(decisions) if reasons_for == "all" or d.outcome != "approve"]
        reasons: dict[int, list[dict[str, Any]]] = {}
        if explain:
            for i, r in zip(explain, models.classifier.reasons(X[explain], self.top_reasons)):
                reasons[i] = r
        now = datetime.now(UTC).isoformat()
        out = []
        for i, tx in enumerate(transactions):
            d = decisions[i]
            out.append(
                {
                    "transaction_id": tx["transaction_id"], "timestamp": tx["timestamp"], "amount": tx["amount"],
                    **{c: tx.get(c) for e in fs.entities for c in e},
                    "anomaly_score": round(float(anomaly[i]), 6), "fraud_probability": round(float(prob[i]), 6),
                    "outcome": d.outcome, "rule": d.rule, "rule_set": d.rule_set, "reasons": reasons.get(i, []),
                    "model_versions": models.versions, "scored_at": now,
                }
            )
        if self.publish is not None:
            self.publish(out)
        if self.on_flagged is not None and any(r["outcome"] != "approve" for r in out):
            self.on_flagged(out)
        return out

    def label(self, tx: dict[str, Any], label: int) -> bool:
        """Feed a late label into the online state (terminal risk and fraud counts use it)."""
        fs = self._models.feature_set
        with self._state_lock:
            return self.online.set_label({**tx, fs.id: tx["transaction_id"]}, label)


def warm_rows(ws: Any, table: str, fs: FeatureSet) -> list[dict[str, Any]]:
    """The last ``fs.horizon_days`` of ``table``, in time order, for :meth:`Scorer.warm`."""
    if not ws.lake.exists(table):
        return []
    time_col = f'"{fs.time}"'
    cols = ", ".join(f'"{c}"' for c in dict.fromkeys([fs.id, fs.label, *fs.input_columns]))
    sql = (f"SELECT {cols} FROM {table} WHERE {time_col} >= (SELECT max({time_col}) FROM {table}) "
           f"- INTERVAL {fs.horizon_days} DAY ORDER BY {time_col}, \"{fs.id}\"")
    return ws.sql(sql, timeout_s=600).to_pylist()


def scorer_for(ws: Any, table: str = "raw.fraud_transactions", publish: Publish | None = None,
               on_flagged: Publish | None = None, reasons_for: str = "all") -> Scorer:
    """A scorer with the workspace's latest registered models and rules, its online state
    warmed with the recent transactions of ``table``."""
    from laketown.apps.fraud.decisions import RuleStore

    models = load_models(ws)
    scorer = Scorer(models, RuleStore(ws).load(), publish, on_flagged, reasons_for)
    scorer.warm(warm_rows(ws, table, models.feature_set))
    # the warmed state and the loaded libraries are millions of long-lived objects: leave them
    # out of the garbage collector's full passes, which would otherwise stall requests
    gc.collect()
    gc.freeze()
    return scorer
