"""Customer 360 identity resolution: full rebuilds, increments, one record in real time,
manual merge/split overrides, stable customer ids and golden records, kept in a workspace.

Published lake tables (``<name>`` is ``c360`` by default): ``clean.<name>_identities``
(record -> customer), ``curated.<name>_customers`` (golden records),
``curated.<name>_golden_lineage`` (which record gave each golden value, by which rule) and
``clean.<name>_overrides`` (manual decisions, re-applied on every run). The working state
(standardized records, match edges, id registry, trained model) lives in
``<workspace>/<name>/identity/``.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from laketown.apps.customer360.identity import clusters, golden, incremental
from laketown.apps.customer360.identity.keyindex import KeyIndex
from laketown.apps.customer360.identity.model import (
    MatchSpec,
    Scorer,
    predict_all,
    train,
)
from laketown.apps.customer360.identity.people import person_spec
from laketown.apps.customer360.identity.standardize import (
    ATTRIBUTES,
    REQUIRED,
    STD_COLUMNS,
    standardize,
)
from laketown.apps.customer360.identity.state import StateDir
from laketown.errors import LaketownError

TS = pa.timestamp("us", tz="UTC")
RECORD_SCHEMA = pa.schema(
    [(c, pa.string()) for c in (*REQUIRED, *ATTRIBUTES)] + [("updated_at", TS)] + [(c, pa.string()) for c in STD_COLUMNS]
)
OVERRIDE_SCHEMA = pa.schema([
    ("override_id", pa.string()), ("kind", pa.string()), ("record_ids", pa.list_(pa.string())),
    ("other_record_ids", pa.list_(pa.string())), ("reason", pa.string()), ("by", pa.string()), ("at", TS),
])


class IdentityError(LaketownError):
    """A resolver call named an unknown customer or record, or ran before any rebuild."""


def _now() -> datetime:
    return datetime.now(UTC)


def _as_table(records: Any) -> pa.Table:
    if isinstance(records, pa.Table):
        return records
    if isinstance(records, list):
        return pa.Table.from_pylist(records)
    from laketown.lake.schema import to_arrow_table

    return to_arrow_table(records)


class Resolver:
    """Identity resolution over a workspace; see the module docstring for what it keeps."""

    def __init__(self, ws: Any, name: str = "c360", threshold: float | None = None,
                 survivorship: golden.Survivorship | None = None, spec: MatchSpec | None = None):
        self.ws = ws
        self.name = name
        self.spec = spec or person_spec()
        self.threshold = self.spec.threshold if threshold is None else threshold
        self.rules = survivorship or golden.Survivorship()
        self.state = StateDir(Path(ws.path) / name / "identity")
        self.tables = {
            "identities": f"clean.{name}_identities", "customers": f"curated.{name}_customers",
            "lineage": f"curated.{name}_golden_lineage", "overrides": f"clean.{name}_overrides",
        }
        self._records: pa.Table | None = None
        self._records_src: pa.Table | None = None
        self._index: KeyIndex | None = None
        self._scorer: Scorer | None = None

    # -- state -----------------------------------------------------------------------------
    def _load(self) -> pa.Table | None:
        """Standardized records of the last run, with their customer_id (row-aligned)."""
        records = self.state.read("records")
        if records is None:
            self._records = self._index = None
        elif self._records is None or self._records_src is not records:  # first call, or written by another process
            # one chunk per column: take() on a chunked column would concatenate it per call
            self._records, self._records_src, self._index = records.combine_chunks(), records, None
        return self._records

    def _model(self) -> dict[str, Any]:
        model = self.state.read_json("model")
        if model is None:
            raise IdentityError(f"no trained model in {self.state.path}; run rebuild(records) first")
        return model

    def model(self) -> dict[str, Any]:
        """The trained splink model (JSON dict) this resolver scores with."""
        return self._model()

    def set_model(self, model: dict[str, Any]) -> None:
        """Use a model trained elsewhere (``rebuild(..., retrain=False)`` then keeps it)."""
        self.state.write_json("model", model)
        self.close()

    def _scorer_for(self) -> Scorer:
        if self._scorer is None:
            self._scorer = Scorer(self.spec, self._model())
        return self._scorer

    def _overrides(self) -> list[dict[str, Any]]:
        if not self.ws.lake.exists(self.tables["overrides"]):
            return []
        return self.ws.table(self.tables["overrides"]).scan().to_pylist()

    def _invalidate(self) -> None:
        self._records, self._index = None, None

    def close(self) -> None:
        if self._scorer is not None:
            self._scorer.close()
            self._scorer = None

    # -- runs ------------------------------------------------------------------------------
    def rebuild(self, records: Any, retrain: bool = True, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Resolve ``records`` from scratch (they replace every earlier record): standardize,
        train the model (or reuse the stored one with ``retrain=False``), score every blocked
        pair, cluster, re-apply overrides, keep ids stable, rebuild every golden record.
        ``progress`` is told the name of each phase as it starts."""
        say = progress or (lambda _phase: None)
        t0 = time.perf_counter()
        say("standardizing records")
        std = standardize(_as_table(records)).select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA)
        t1 = time.perf_counter()
        model = None if retrain else self.state.read_json("model")
        if model is None:
            say("training the model (EM)")
            model = train([std], self.spec)
            self.state.write_json("model", model)
            self.close()
        t2 = time.perf_counter()
        say("scoring candidate pairs")
        edges = predict_all([std], self.spec, model, self.threshold)
        t3 = time.perf_counter()
        say("clustering, ids and golden records")
        stats = self._finish(std, edges)
        stats.update(mode="rebuild", standardize_s=round(t1 - t0, 3), train_s=round(t2 - t1, 3),
                     predict_s=round(t3 - t2, 3), wall_s=round(time.perf_counter() - t0, 3))
        return stats

    def add(self, records: Any) -> dict[str, Any]:
        """Resolve new and changed records against the existing clusters with the stored
        model: only pairs that involve them are scored, only the customers they reach are
        re-clustered, and only those customers' golden records are rebuilt. The first call on
        an empty workspace runs a rebuild."""
        t0 = time.perf_counter()
        current = self._load()
        if current is None:
            return self.rebuild(records)
        new = standardize(_as_table(records)).select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA)
        new_ids = new["record_id"].combine_chunks()
        changed = pc.is_in(current["record_id"], value_set=new_ids)
        kept = current.filter(pc.invert(changed))
        scorer = self._scorer_for()
        old = self.state.read("edges")
        fresh = pa.concat_tables([
            scorer.between(new, kept.select(RECORD_SCHEMA.names), self.threshold), scorer.within(new, self.threshold),
        ]).cast(old.schema)
        stale = pc.or_(pc.is_in(old["id_l"], value_set=new_ids), pc.is_in(old["id_r"], value_set=new_ids))
        edges = pa.concat_tables([old.filter(pc.invert(stale)), fresh])
        seeds = pa.concat_arrays([new_ids, fresh["id_l"].combine_chunks(), fresh["id_r"].combine_chunks()])
        stats = self._finish_region(kept, new, edges, seeds)
        stats.update(mode="add", added=new.num_rows, changed=int(pc.sum(changed).as_py() or 0),
                     pairs_scored=fresh.num_rows, wall_s=round(time.perf_counter() - t0, 3))
        return stats

    def _finish(self, std: pa.Table, edges: pa.Table) -> dict[str, Any]:
        """Full run: cluster everything, re-apply overrides, stable ids, every golden record."""
        t0 = time.perf_counter()
        rids = std["record_id"].combine_chunks()
        overrides = self._overrides()
        labels = clusters.apply_overrides(rids, clusters.components(rids, edges, self.threshold), overrides)
        previous = self._load()
        prev = previous.select(["record_id", "customer_id"]) if previous is not None else pa.table(
            {"record_id": pa.array([], pa.string()), "customer_id": pa.array([], pa.string())})
        registry = self.state.read("registry") or clusters.empty_registry()
        cids, registry = clusters.stable_ids(rids, labels, prev, registry)
        resolved = std.append_column("customer_id", pa.array(cids, pa.string()))
        t1 = time.perf_counter()
        assignments = self._assignments(resolved, edges, overrides)
        gold, lineage = golden.build(resolved, resolved["customer_id"], self.rules)
        t2 = time.perf_counter()
        self._publish(resolved, edges, registry, assignments, gold, lineage)
        return {"records": std.num_rows, "customers": gold.num_rows, "edges": edges.num_rows,
                "reresolved": std.num_rows, "golden_rebuilt": gold.num_rows, "overrides": len(overrides),
                "cluster_s": round(t1 - t0, 3), "golden_s": round(t2 - t1, 3), "write_s": round(time.perf_counter() - t2, 3)}

    def _finish_region(self, kept: pa.Table, new: pa.Table, edges: pa.Table, seeds: pa.Array) -> dict[str, Any]:
        """Increment: re-cluster, re-name and re-golden only the records the seeds reach
        (:func:`incremental.affected_records`); everything else is carried over."""
        t0 = time.perf_counter()
        current = self._load()
        assert current is not None
        prev = current.select(["record_id", "customer_id"])
        everyone = pa.concat_tables([kept.select(RECORD_SCHEMA.names), new])
        rids = everyone["record_id"].combine_chunks()
        overrides = self._overrides()
        region = incremental.affected_records(prev, rids, seeds, edges, overrides)
        sub = everyone.filter(pc.is_in(rids, value_set=region))
        sub_ids = sub["record_id"].combine_chunks()
        inside = pc.and_(pc.is_in(edges["id_l"], value_set=region), pc.is_in(edges["id_r"], value_set=region))
        sub_edges = edges.filter(inside)
        labels = clusters.apply_overrides(sub_ids, clusters.components(sub_ids, sub_edges, self.threshold), overrides)
        prev_sub = prev.filter(pc.is_in(prev["record_id"], value_set=region))
        registry = self.state.read("registry") or clusters.empty_registry()
        cids, registry = clusters.stable_ids(sub_ids, labels, prev_sub, registry)
        sub_cids = pa.array(cids, pa.string())
        old_col = pa.concat_arrays([kept["customer_id"].combine_chunks(), pa.nulls(new.num_rows, pa.string())])
        idx = pc.index_in(rids, value_set=sub_ids)
        resolved = everyone.append_column("customer_id", pc.if_else(pc.is_valid(idx), pc.take(sub_cids, idx), old_col))
        sub_resolved = sub.append_column("customer_id", sub_cids)
        t1 = time.perf_counter()
        old_assign, old_gold, old_lineage = (self.state.read(n) for n in ("assignments", "golden", "lineage"))
        if old_assign is None or old_gold is None or old_lineage is None:  # state of an older version: redo all
            t1 = time.perf_counter()
            assignments = self._assignments(resolved, edges, overrides)
            gold, lineage = golden.build(resolved, resolved["customer_id"], self.rules)
            self._publish(resolved, edges, registry, assignments, gold, lineage)
            return {"records": everyone.num_rows, "customers": gold.num_rows, "edges": edges.num_rows,
                    "reresolved": len(region), "golden_rebuilt": gold.num_rows, "overrides": len(overrides),
                    "cluster_s": round(t1 - t0, 3)}
        sub_assign = self._assignments(sub_resolved, sub_edges, overrides)
        assignments = pa.concat_tables([old_assign.filter(pc.invert(pc.is_in(old_assign["record_id"], value_set=region))),
                                        sub_assign.cast(old_assign.schema)])
        touched = pc.unique(pa.concat_arrays([prev_sub["customer_id"].combine_chunks(), sub_cids]))
        gold_sub, lineage_sub = golden.build(sub_resolved, sub_cids, self.rules)
        gold = pa.concat_tables([old_gold.filter(pc.invert(pc.is_in(old_gold["customer_id"], value_set=touched))), gold_sub])
        lineage = pa.concat_tables([old_lineage.filter(pc.invert(pc.is_in(old_lineage["customer_id"], value_set=touched))),
                                    lineage_sub])
        t2 = time.perf_counter()
        self._publish(resolved, edges, registry, assignments, gold, lineage)
        return {"records": everyone.num_rows, "customers": gold.num_rows, "edges": edges.num_rows,
                "reresolved": len(region), "golden_rebuilt": gold_sub.num_rows, "overrides": len(overrides),
                "cluster_s": round(t1 - t0, 3), "golden_s": round(t2 - t1, 3), "write_s": round(time.perf_counter() - t2, 3)}

    def _publish(self, resolved: pa.Table, edges: pa.Table, registry: pa.Table, assignments: pa.Table,
                 gold: pa.Table, lineage: pa.Table) -> None:
        """Working state first (each file atomically), then the lake tables."""
        for name, table in (("edges", edges), ("registry", registry), ("records", resolved),
                            ("assignments", assignments), ("golden", gold), ("lineage", lineage)):
            self.state.write(name, table)
        self.ws.lake.write(self.tables["identities"], assignments, mode="overwrite")
        self.ws.lake.write(self.tables["customers"], gold, mode="overwrite")
        self.ws.lake.write(self.tables["lineage"], lineage, mode="overwrite")
        self._invalidate()
        self._records = resolved.combine_chunks()
        self._records_src = self.state.read("records")

    def _assignments(self, resolved: pa.Table, edges: pa.Table, overrides: list[dict[str, Any]]) -> pa.Table:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.register("r", resolved.select(["record_id", "source", "source_id", "customer_id", "updated_at"]))
        con.register("e", edges)
        touched = sorted({i for o in overrides for i in (o["record_ids"] or []) + (o["other_record_ids"] or [])})
        con.register("ov", pa.table({"record_id": pa.array(touched, pa.string())}))
        out = con.execute(
            """
            WITH inside AS (
              SELECT e.id_l AS a, e.id_r AS b, e.match_probability AS p
              FROM e JOIN r l ON l.record_id = e.id_l JOIN r rr ON rr.record_id = e.id_r
              WHERE l.customer_id = rr.customer_id AND e.match_probability >= ?
            ), best AS (
              SELECT id, max(p) AS p FROM (SELECT a AS id, p FROM inside UNION ALL SELECT b, p FROM inside) GROUP BY id
            )
            SELECT r.record_id, r.source, r.source_id, r.customer_id, best.p AS match_probability,
                   count(*) OVER (PARTITION BY r.customer_id) AS cluster_size,
                   min(best.p) OVER (PARTITION BY r.customer_id) AS cluster_confidence,
                   ov.record_id IS NOT NULL AS overridden, r.updated_at, now()::TIMESTAMPTZ AS resolved_at
            FROM r LEFT JOIN best ON best.id = r.record_id LEFT JOIN ov ON ov.record_id = r.record_id
            """,
            [self.threshold],
        ).to_arrow_table()
        con.close()
        return out

    # -- real time -------------------------------------------------------------------------
    def resolve_one(self, record: dict[str, Any], commit: bool = False, limit: int = 10) -> dict[str, Any]:
        """The customer one record belongs to, scored against its blocking candidates only:
        ``{customer_id, match_probability, matches, is_new, record_id}``. ``customer_id`` is
        None when no candidate reaches the threshold. ``commit=True`` also adds the record."""
        current = self._load()
        if current is None:
            raise IdentityError(f"nothing resolved yet in {self.state.path}; run rebuild(records) first")
        rec = self._complete(record)
        if self._index is None:
            self._index = KeyIndex(current, self.spec.blocking)
        one = standardize(pa.Table.from_pylist([rec]), self._index.con).select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA)
        rows = self._index.candidates(one)
        cands = current.take(pa.array(rows, pa.int64())) if len(rows) else current.slice(0, 0)
        cands = cands.filter(pc.not_equal(cands["record_id"], rec["record_id"])) if cands.num_rows else cands
        scored = self._scorer_for().pairs(one, cands.select(RECORD_SCHEMA.names)).to_pylist()
        owner = dict(zip(cands["record_id"].to_pylist(), cands["customer_id"].to_pylist()))
        matches = []
        for e in scored:
            other = e["id_r"] if e["id_l"] == rec["record_id"] else e["id_l"]
            matches.append({"record_id": other, "customer_id": owner.get(other), "match_probability": e["match_probability"]})
        matches.sort(key=lambda m: (-m["match_probability"], m["record_id"]))
        best = matches[0] if matches else None
        matched = best is not None and best["match_probability"] >= self.threshold
        customer = best["customer_id"] if matched else None
        if commit:  # a new customer when nothing matched
            self.add(pa.Table.from_pylist([rec]))
            customer = self.customer_of(rec["record_id"])
        return {"record_id": rec["record_id"], "customer_id": customer,
                "match_probability": best["match_probability"] if best else 0.0,
                "matches": matches[:limit], "is_new": not matched}

    @staticmethod
    def _complete(record: dict[str, Any]) -> dict[str, Any]:
        rec = {k: v for k, v in record.items() if k in (*REQUIRED, *ATTRIBUTES, "updated_at")}
        for k in ATTRIBUTES:
            rec[k] = None if rec.get(k) in (None, "") else str(rec[k])
        if not rec.get("record_id"):
            digest = hashlib.md5(json.dumps(rec, sort_keys=True, default=str).encode()).hexdigest()[:16]
            rec["record_id"] = f"{rec.get('source') or 'api'}:{rec.get('source_id') or digest}"
        rec.setdefault("source", rec["record_id"].split(":", 1)[0])
        rec.setdefault("source_id", rec["record_id"].split(":", 1)[-1])
        ts = rec.get("updated_at")
        rec["updated_at"] = datetime.fromisoformat(ts) if isinstance(ts, str) else (ts or _now())
        return rec

    def customer_of(self, record_id: str) -> str | None:
        current = self._load()
        if current is None:
            return None
        hit = current.filter(pc.equal(current["record_id"], record_id))
        return hit["customer_id"][0].as_py() if hit.num_rows else None

    # -- overrides -------------------------------------------------------------------------
    def _records_of(self, customer_id: str) -> list[str]:
        current = self._load()
        if current is None:
            raise IdentityError("nothing resolved yet; run rebuild(records) first")
        ids = current.filter(pc.equal(current["customer_id"], customer_id))["record_id"].to_pylist()
        if not ids:
            raise IdentityError(f"unknown customer {customer_id!r}; see {self.tables['identities']} for customer ids")
        return ids

    def _override(self, kind: str, ids: list[str], other: list[str], reason: str, by: str) -> None:
        row = {"override_id": uuid.uuid4().hex, "kind": kind, "record_ids": ids, "other_record_ids": other,
               "reason": reason, "by": by, "at": _now()}
        self.ws.lake.write(self.tables["overrides"], pa.Table.from_pylist([row], schema=OVERRIDE_SCHEMA))

    def _rerun(self, touched: list[str]) -> dict[str, Any]:
        current = self._load()
        assert current is not None
        empty = current.slice(0, 0).select(RECORD_SCHEMA.names)
        return self._finish_region(current, empty, self.state.read("edges"), pa.array(touched, pa.string()))

    def merge(self, customer_a: str, customer_b: str, reason: str = "", by: str = "") -> dict[str, Any]:
        """Put two customers together for good (re-applied on every rebuild and add)."""
        a, b = self._records_of(customer_a), self._records_of(customer_b)
        self._override("merge", a, b, reason, by)
        stats = self._rerun(a + b)
        return {"customer_id": self.customer_of(a[0]), "records": len(a) + len(b), **stats}

    def split(self, record_ids: list[str], reason: str = "", by: str = "") -> dict[str, Any]:
        """Take records out of their customer into a customer of their own, for good."""
        current = self._load()
        if current is None:
            raise IdentityError("nothing resolved yet; run rebuild(records) first")
        ids = list(dict.fromkeys(record_ids))
        known = set(current.filter(pc.is_in(current["record_id"], value_set=pa.array(ids, pa.string())))["record_id"].to_pylist())
        unknown = [i for i in ids if i not in known]
        if not ids or unknown:
            raise IdentityError(f"split needs known record ids; unknown: {unknown[:5] or ids!r}")
        self._override("split", ids, [], reason, by)
        stats = self._rerun(ids)
        return {"customer_id": self.customer_of(ids[0]), "records": len(ids), **stats}

    # -- reads -----------------------------------------------------------------------------
    def assignments(self) -> pa.Table:
        """record_id -> customer_id with confidence (``clean.<name>_identities``)."""
        return self.ws.table(self.tables["identities"]).scan()

    def golden(self) -> pa.Table:
        """Golden records (``curated.<name>_customers``)."""
        return self.ws.table(self.tables["customers"]).scan()

    def lineage(self) -> pa.Table:
        return self.ws.table(self.tables["lineage"]).scan()
