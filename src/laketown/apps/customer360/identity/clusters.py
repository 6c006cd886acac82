"""Clusters from match edges (connected components), manual overrides on top, and customer
ids that stay put across runs.

Stable ids: every cluster of the new run inherits the id of the previous cluster with which it
shares the most records; each old id goes to one cluster at most; ties go to the oldest id.
Clusters left without one get ``C`` + 12 hex digits of the md5 of their smallest record id
(suffixed on the rare collision with an id ever issued), so a rebuild from scratch of the same
data gives the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def components(record_ids: pa.Array, edges: pa.Table, threshold: float) -> np.ndarray:
    """Connected-component label of every record (``record_ids`` order), linking records whose
    edge has ``match_probability >= threshold``. Edges naming unknown records are ignored."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(record_ids)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    strong = edges.filter(pc.greater_equal(edges["match_probability"], threshold)) if edges.num_rows else edges
    left = pc.index_in(strong["id_l"], value_set=record_ids).to_numpy(zero_copy_only=False)
    right = pc.index_in(strong["id_r"], value_set=record_ids).to_numpy(zero_copy_only=False)
    ok = ~(np.isnan(left.astype(float)) | np.isnan(right.astype(float))) if len(left) else np.zeros(0, bool)
    left, right = left[ok].astype(np.int64), right[ok].astype(np.int64)
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def apply_overrides(record_ids: pa.Array, labels: np.ndarray, overrides: Sequence[dict[str, Any]]) -> np.ndarray:
    """Re-apply manual decisions in time order: ``merge`` puts every cluster holding one of
    its records into one; ``split`` takes its records out into a cluster of their own."""
    labels = labels.copy()
    next_label = int(labels.max()) + 1 if len(labels) else 0
    for ov in sorted(overrides, key=lambda o: (o["at"], o["override_id"])):
        ids = list(ov["record_ids"] or []) + list(ov.get("other_record_ids") or [])
        idx = pc.index_in(pa.array(ids, pa.string()), value_set=record_ids).drop_null().to_numpy()
        if len(idx) == 0:
            continue
        if ov["kind"] == "merge":
            targets = np.unique(labels[idx])
            labels[np.isin(labels, targets)] = targets.min()
        elif ov["kind"] == "split":
            labels[idx] = next_label
            next_label += 1
    return labels


def new_id(min_record_id: str, taken: set[str]) -> str:
    """The deterministic id of a cluster that inherits none: from its smallest record id."""
    base = "C" + hashlib.md5(min_record_id.encode()).hexdigest()[:12]
    cid, k = base, 0
    while cid in taken:
        k += 1
        cid = f"{base}-{k}"
    return cid


def stable_ids(record_ids: pa.Array, labels: np.ndarray, previous: pa.Table, registry: pa.Table) -> tuple[np.ndarray, pa.Table]:
    """Customer id of every record and the updated id registry (customer_id, seq).
    ``previous`` holds (record_id, customer_id) of the last run; ``registry`` every id ever
    issued with its creation order."""
    con = duckdb.connect()
    cur = pa.table({"record_id": record_ids, "label": labels})
    con.register("cur", cur)
    con.register("prev", previous.select(["record_id", "customer_id"]))
    con.register("reg", registry)
    sizes = con.execute("SELECT label, min(record_id) AS min_rid FROM cur GROUP BY label").to_arrow_table()
    con.register("sizes", sizes)
    cand = con.execute(
        """
        SELECT c.label, p.customer_id, count(*) AS n, any_value(r.seq) AS seq, any_value(s.min_rid) AS min_rid
        FROM cur c JOIN prev p USING (record_id) JOIN reg r USING (customer_id) JOIN sizes s USING (label)
        GROUP BY 1, 2 ORDER BY n DESC, seq ASC, min_rid ASC
        """
    ).fetchnumpy()
    con.close()
    chosen: dict[int, str] = {}
    used: set[str] = set()
    for label, cid in zip(cand["label"].tolist(), cand["customer_id"].tolist()):
        if label in chosen or cid in used:
            continue
        chosen[label] = cid
        used.add(cid)
    taken = set(registry["customer_id"].to_pylist())
    seq = (max(registry["seq"].to_pylist()) + 1) if registry.num_rows else 0
    fresh_ids, fresh_seq = [], []
    order = np.argsort(sizes["min_rid"].to_numpy(zero_copy_only=False), kind="stable")
    labels_s = sizes["label"].to_numpy()
    min_rids = sizes["min_rid"].to_pylist()
    for i in order:
        label = int(labels_s[i])
        if label in chosen:
            continue
        cid = new_id(min_rids[i], taken)
        taken.add(cid)
        chosen[label] = cid
        fresh_ids.append(cid)
        fresh_seq.append(seq)
        seq += 1
    max_label = int(labels.max()) + 1 if len(labels) else 0
    lookup = np.empty(max_label, dtype=object)
    for label, cid in chosen.items():
        lookup[label] = cid
    new_reg = pa.concat_tables([
        registry,
        pa.table({"customer_id": pa.array(fresh_ids, pa.string()), "seq": pa.array(fresh_seq, pa.int64())}),
    ])
    return lookup[labels], new_reg


def empty_registry() -> pa.Table:
    return pa.table({"customer_id": pa.array([], pa.string()), "seq": pa.array([], pa.int64())})
