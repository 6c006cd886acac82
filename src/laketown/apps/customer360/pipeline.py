"""Customer 360 end to end, and its step of ``laketown demo``.

generate (the source systems fill up) -> ingest (landing folder, database cursor, HTTP API,
stream -> raw) -> standardize (clean, quarantine) -> resolve (identity, golden records) ->
intelligence (RFM/CLV, segments, personas, churn; export to curated.c360_segments) -> graph.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from laketown.apps.customer360 import graph, segments, sources, standardize
from laketown.apps.customer360.generator import generate
from laketown.apps.customer360.names import (
    CUSTOMERS,
    IDENTITIES,
    RESOLVER_NAME,
    SOURCE_RECORDS,
    TRUTH,
    app_dir,
)

DEMO_RECORDS = 3_000


def _state_path(ws: Any) -> Any:
    return app_dir(ws) / "resolve_state.json"


def resolve(ws: Any, full: bool = False) -> dict[str, Any]:
    """Resolve the clean source records: a full rebuild the first time (or with ``full``),
    afterwards only records that are new or changed since the last run."""
    from laketown.apps.customer360.identity import Resolver

    records = ws.lake.table(SOURCE_RECORDS).scan()
    state_path = _state_path(ws)
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    resolver = Resolver(ws, name=RESOLVER_NAME)
    try:
        if full or not state or not ws.lake.exists(IDENTITIES):
            mode, stats = "rebuild", resolver.rebuild(records)
        else:
            known = ws.lake.table(IDENTITIES).scan(columns=["record_id"]).column("record_id")
            since = pa.scalar(state["max_updated_at_us"], pa.int64()).cast(pa.timestamp("us")).cast(
                pa.timestamp("us", tz="UTC"))
            fresh = pc.or_(pc.invert(pc.is_in(records.column("record_id"), known)),
                           pc.greater(records.column("updated_at"), since))
            changed = records.filter(pc.fill_null(fresh, True))
            mode, stats = "incremental", (resolver.add(changed) if changed.num_rows else {"records": 0})
    finally:
        close = getattr(resolver, "close", None)
        if close:
            close()
    newest = pc.max(records.column("updated_at")).cast(pa.timestamp("us")).cast(pa.int64()).as_py()
    state_path.write_text(json.dumps({"max_updated_at_us": newest}))
    customers = ws.lake.table(CUSTOMERS).count() if ws.lake.exists(CUSTOMERS) else 0
    return {"mode": mode, "records": records.num_rows, "customers": customers,
            **{k: v for k, v in (stats or {}).items() if isinstance(v, (int, float, str))}}


def truth_check(ws: Any) -> dict[str, Any]:
    """How the resolved customers compare with the generator's truth: pairwise precision,
    recall and F1 over the records both know."""
    import duckdb

    if not (ws.lake.exists(TRUTH) and ws.lake.exists(IDENTITIES)):
        return {}
    con = duckdb.connect()
    con.register("t", ws.lake.table(TRUTH).scan())
    con.register("i", ws.lake.table(IDENTITIES).scan(columns=["record_id", "customer_id"]))
    tp, pred, true = con.execute("""
        WITH j AS (SELECT record_id, person_id, customer_id FROM t JOIN i USING (record_id)),
             pc AS (SELECT person_id, customer_id, count(*) n FROM j GROUP BY ALL),
             p AS (SELECT person_id, count(*) n FROM j GROUP BY ALL),
             c AS (SELECT customer_id, count(*) n FROM j GROUP BY ALL)
        SELECT (SELECT sum(n*(n-1)/2) FROM pc), (SELECT sum(n*(n-1)/2) FROM c), (SELECT sum(n*(n-1)/2) FROM p)
    """).fetchone()
    con.close()
    precision = tp / pred if pred else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


class _Stages:
    """Runs named stages, timing each and advancing a progress bar."""

    def __init__(self, progress: Any = None, task: Any = None):
        self.progress, self.task, self.timings = progress, task, {}

    def __call__(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        self.timings[name] = round(time.perf_counter() - t0, 2)
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task)
        return result


def refresh(ws: Any, stage: Any = None, seed: int = 0, full: bool = False) -> dict[str, Any]:
    """What a scheduled run does: every connector once, standardize, resolve (incremental
    after the first run), intelligence and export, graph."""
    stage = stage or _Stages()
    out: dict[str, Any] = {}
    out["ingested"] = stage("ingest", sources.ingest_all, ws)
    out["standardized"] = stage("standardize", standardize.run, ws)
    out["resolved"] = stage("resolve", resolve, ws, full=full)
    out["identity_vs_truth"] = truth_check(ws)
    out["intelligence"] = stage("intelligence", segments.run, ws, seed=seed)
    out["graph"] = stage("graph", graph.build, ws)
    out["timings_s"] = stage.timings
    return out


def run_all(ws: Any, records: int = 10_000, seed: int = 7, progress: Any = None, task: Any = None) -> dict[str, Any]:
    """Generate the sources, then :func:`refresh`; returns metrics per stage and timings."""
    stage = _Stages(progress, task)
    src = stage("generate", generate, records, seed=seed)
    played = stage("play_sources", sources.play_sources, ws, src)
    return {"generated": played, **refresh(ws, stage, seed=seed)}


def demo_step(ws: Any, progress: Any) -> dict[str, Any]:
    """Generate the four sources, ingest, resolve, build the graph, segment, export."""
    task = progress.add_task("customer 360", total=7)
    out = run_all(ws, records=DEMO_RECORDS, progress=progress, task=task)
    intel = out["intelligence"]
    return {
        "identity_records": out["generated"]["identity_records"], "persons": out["generated"]["persons"],
        "customers": out["resolved"]["customers"], "identity": out["identity_vs_truth"],
        "quarantined": out["standardized"]["quarantined"], "graph_triples": out["graph"]["triples"],
        "k": intel["k"], "personas": intel["personas"], "churn": intel["churn"],
        "curated.c360_segments": intel["curated.c360_segments"], "timings_s": out["timings_s"],
    }
