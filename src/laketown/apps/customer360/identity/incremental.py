"""Which records an increment can change: the customers that new or changed records, new
match edges or manual overrides reach. Only those are re-clustered, re-named and get new
golden records; every other customer keeps its records, id and golden record as they are —
exactly what a full rebuild would give them (a cluster that gains and loses nothing keeps its
id under the stable-id rule)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa


def affected_records(previous: pa.Table, everyone: pa.Array, seeds: pa.Array, edges: pa.Table,
                     overrides: Sequence[dict[str, Any]]) -> pa.Array:
    """Record ids to re-resolve: the ``seeds`` (new/changed records, ends of new edges) and
    every member of a previous customer they touch, closed over match edges that leave the
    set (possible where an override split a cluster) and over overrides that touch it.
    ``previous`` maps record_id -> customer_id before the increment; ``everyone`` lists the
    record ids after it."""
    con = duckdb.connect()
    con.register("prev", previous.select(["record_id", "customer_id"]))
    con.register("alive", pa.table({"record_id": everyone}))
    con.register("e", edges.select(["id_l", "id_r"]))
    ov_rows = [(i, rid) for i, o in enumerate(overrides) for rid in (o["record_ids"] or []) + (o.get("other_record_ids") or [])]
    con.register("ov", pa.table({"ov": pa.array([i for i, _ in ov_rows], pa.int64()),
                                 "record_id": pa.array([r for _, r in ov_rows], pa.string())}))
    con.execute("CREATE TEMP TABLE ids AS SELECT DISTINCT record_id FROM (SELECT unnest(?::VARCHAR[]) AS record_id)",
                [seeds.to_pylist()])
    size = -1
    while True:
        # grow: members of touched customers, far ends of edges, records of touching overrides
        con.execute(
            """
            INSERT INTO ids
            SELECT record_id FROM (
              SELECT p.record_id FROM prev p WHERE p.customer_id IN
                (SELECT customer_id FROM prev JOIN ids USING (record_id))
              UNION SELECT e.id_r FROM e JOIN ids ON ids.record_id = e.id_l
              UNION SELECT e.id_l FROM e JOIN ids ON ids.record_id = e.id_r
              UNION SELECT o2.record_id FROM ov o1 JOIN ids USING (record_id) JOIN ov o2 ON o1.ov = o2.ov
            ) EXCEPT SELECT record_id FROM ids
            """
        )
        now = con.execute("SELECT count(*) FROM ids").fetchone()[0]
        if now == size:
            break
        size = now
    out = con.execute("SELECT record_id FROM ids JOIN alive USING (record_id) ORDER BY record_id").to_arrow_table()
    con.close()
    return out["record_id"].combine_chunks()
