"""Lineage as OpenLineage-shaped run events: which job read which tables (at which snapshot)
and wrote which, and the upstream / downstream graph of a table built from them.

Jobs, sinks and processors call :meth:`Lineage.record` (or wrap a run in :meth:`Lineage.run`).
Events are stored whole (JSON) in the governance database; the graph keeps only COMPLETE runs.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from laketown.governance.store import iso, now

if TYPE_CHECKING:
    from laketown.governance import Governance

SCHEMA = """CREATE TABLE IF NOT EXISTS lineage_events (id INTEGER PRIMARY KEY AUTOINCREMENT, event_time TEXT NOT NULL,
  event_type TEXT NOT NULL, job TEXT NOT NULL, run_id TEXT NOT NULL, inputs TEXT NOT NULL, outputs TEXT NOT NULL,
  event TEXT NOT NULL)"""
NAMESPACE = "laketown"
PRODUCER = "https://github.com/laketown/laketown"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"
EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "FAIL", "ABORT")


class Lineage:
    """Record run events; walk the table graph."""

    def __init__(self, governance: Governance):
        self.gov = governance
        self.store = governance.store
        self.store.execute(SCHEMA)

    def _dataset(self, table: str, snapshot_id: int | None = None) -> dict[str, Any]:
        """A lake table (``zone.table``, with its current snapshot) or any other named dataset
        (``stream:orders``, ``s3://bucket/prefix``)."""
        lake_table = table.split(".", 1)[0] in ("raw", "clean", "curated") and "/" not in table
        if snapshot_id is None and lake_table and self.gov.ws.lake.exists(table):
            snapshot_id = self.gov.ws.table(table).stats()["snapshot_id"]
        facets = {"version": {"datasetVersion": str(snapshot_id)}} if snapshot_id is not None else {}
        return {"namespace": NAMESPACE, "name": table, "facets": facets}

    def record(self, job: str, inputs: Sequence[str] = (), outputs: Sequence[str] = (), run_id: str | None = None,
               event_type: str = "COMPLETE", snapshots: dict[str, int] | None = None) -> dict[str, Any]:
        """Store one run event; tables' snapshot ids are read now unless given in ``snapshots``."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}; use one of {', '.join(EVENT_TYPES)}")
        snaps = snapshots or {}
        event = {
            "eventType": event_type, "eventTime": iso(now()), "producer": PRODUCER, "schemaURL": SCHEMA_URL,
            "run": {"runId": run_id or str(uuid.uuid4())}, "job": {"namespace": NAMESPACE, "name": job},
            "inputs": [self._dataset(t, snaps.get(t)) for t in inputs],
            "outputs": [self._dataset(t, snaps.get(t)) for t in outputs],
        }
        self.store.execute(
            "INSERT INTO lineage_events (event_time, event_type, job, run_id, inputs, outputs, event) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [event["eventTime"], event_type, job, event["run"]["runId"], json.dumps(list(inputs)),
             json.dumps(list(outputs)), json.dumps(event)])
        return event

    @contextmanager
    def run(self, job: str, inputs: Sequence[str] = ()) -> Iterator[list[str]]:
        """``with lineage.run("daily_rollup", ["raw.x"]) as outputs: ...; outputs.append("clean.y")``
        records START, then COMPLETE with the outputs (or FAIL if the block raises)."""
        run_id = str(uuid.uuid4())
        self.record(job, inputs, (), run_id, "START")
        outputs: list[str] = []
        try:
            yield outputs
        except BaseException:
            self.record(job, inputs, outputs, run_id, "FAIL")
            raise
        self.record(job, inputs, outputs, run_id, "COMPLETE")

    def events(self, job: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Stored events, newest first."""
        sql = "SELECT event FROM lineage_events" + (" WHERE job = ?" if job else "") + " ORDER BY id DESC LIMIT ?"
        return [json.loads(r["event"]) for r in self.store.rows(sql, [job, limit] if job else [limit])]

    def _edges(self) -> list[tuple[str, str, str]]:
        """``(input table, job, output table)`` of every completed run."""
        out = set()
        for r in self.store.rows("SELECT job, inputs, outputs FROM lineage_events WHERE event_type = 'COMPLETE'"):
            for src in json.loads(r["inputs"]):
                for dst in json.loads(r["outputs"]):
                    out.add((src, r["job"], dst))
            if not json.loads(r["inputs"]):
                for dst in json.loads(r["outputs"]):
                    out.add((f"job:{r['job']}", r["job"], dst))
        return sorted(out)

    def graph(self, table: str, direction: str = "both", depth: int = 10) -> dict[str, Any]:
        """Nodes and edges reachable from ``table`` upstream, downstream or both (for the console)."""
        edges = self._edges()
        keep: set[tuple[str, str, str]] = set()
        for way in (("upstream", "downstream") if direction == "both" else (direction,)):
            seen, todo = {table}, deque([(table, 0)])
            while todo:
                node, d = todo.popleft()
                if d >= depth:
                    continue
                for e in edges:
                    src, _, dst = e
                    nxt = src if way == "upstream" and dst == node else dst if way == "downstream" and src == node else None
                    if nxt is None:
                        continue
                    keep.add(e)
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append((nxt, d + 1))
        nodes = sorted({table} | {e[0] for e in keep} | {e[2] for e in keep})
        return {"nodes": nodes, "edges": [{"from": s, "job": j, "to": t} for s, j, t in sorted(keep)]}

    def upstream(self, table: str, depth: int = 10) -> list[str]:
        """Tables ``table`` is derived from, nearest first."""
        return [n for n in self.graph(table, "upstream", depth)["nodes"] if n != table]

    def downstream(self, table: str, depth: int = 10) -> list[str]:
        """Tables derived from ``table``."""
        return [n for n in self.graph(table, "downstream", depth)["nodes"] if n != table]
