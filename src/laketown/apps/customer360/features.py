"""RFM and lifetime-value features per customer, from orders (any source of transactions).

Input: one row per transaction (customer_id, ts, amount). Output per customer: recency_days
(days since the last purchase at the reference date; the longest one for customers who never
bought), frequency (purchases), monetary
(total spend), avg_order_value, tenure_days (first purchase to the reference date),
orders_per_year, p_active and clv_12m.

CLV here is a transparent heuristic, not a fitted BG/NBD model: expected purchases in the next
year = purchase rate × the chance the customer is still active, where that chance decays with
the silence since the last purchase measured in the customer's own typical gap
(``p_active = exp(-recency / gap)``); times the average order value. ``cdnow.evaluate`` checks
it against the real CDNOW holdout period beside a naive baseline.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa

FEATURE_COLUMNS = ["recency_days", "frequency", "monetary", "avg_order_value", "tenure_days", "orders_per_year",
                   "p_active", "clv_12m"]


def rfm(transactions: pa.Table, as_of: dt.datetime | None = None, horizon_days: float = 365.0) -> pa.Table:
    """Features per customer of ``transactions`` (customer_id, ts: timestamp, amount)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.register("t", transactions)
    if as_of is None:
        as_of = con.execute("SELECT max(ts) FROM t").fetchone()[0] or dt.datetime.now(dt.UTC)
    out = con.execute("""
        SELECT customer_id,
               date_diff('second', max(ts), CAST($as_of AS TIMESTAMPTZ)) / 86400.0 AS recency_days,
               count(*)::BIGINT AS frequency,
               sum(amount) AS monetary,
               avg(amount) AS avg_order_value,
               greatest(date_diff('second', min(ts), CAST($as_of AS TIMESTAMPTZ)) / 86400.0, 1.0) AS tenure_days
        FROM t WHERE ts <= CAST($as_of AS TIMESTAMPTZ) GROUP BY customer_id ORDER BY customer_id
    """, {"as_of": as_of}).to_arrow_table()
    con.close()
    return add_clv(out, horizon_days)


def add_clv(table: pa.Table, horizon_days: float = 365.0) -> pa.Table:
    """orders_per_year, p_active and clv over ``horizon_days`` from the RFM columns."""
    rec = np.asarray(table.column("recency_days").to_numpy(zero_copy_only=False), dtype=float)
    freq = np.asarray(table.column("frequency").to_numpy(zero_copy_only=False), dtype=float)
    tenure = np.maximum(np.asarray(table.column("tenure_days").to_numpy(zero_copy_only=False), dtype=float), 30.0)
    aov = np.nan_to_num(np.asarray(table.column("avg_order_value").to_numpy(zero_copy_only=False), dtype=float))
    rate = freq / tenure * 365.0
    gap = np.clip(tenure / np.maximum(freq, 1.0), 30.0, 730.0)  # the customer's own typical silence
    p_active = np.exp(-np.clip(rec, 0, None) / (2.0 * gap))
    clv = rate * (horizon_days / 365.0) * p_active * aov
    return (table.append_column("orders_per_year", pa.array(rate))
            .append_column("p_active", pa.array(p_active))
            .append_column("clv_12m", pa.array(clv)))


def customer_features(ws: Any) -> pa.Table:
    """Features of every golden customer (customers with no order get zeros), plus tickets and
    events counts; the reference date is the newest order."""
    import duckdb

    from laketown.apps.customer360.names import (
        CLEAN_EVENTS,
        CLEAN_ORDERS,
        CLEAN_TICKETS,
        CUSTOMERS,
        IDENTITIES,
    )

    ids = ws.lake.table(IDENTITIES).scan(columns=["record_id", "customer_id"])
    customers = ws.lake.table(CUSTOMERS).scan(columns=["customer_id"])
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.register("ids", ids)
    con.register("customers", customers)
    for name, table, cols in (("orders", CLEAN_ORDERS, ["record_id", "amount", "ordered_at"]),
                              ("tickets", CLEAN_TICKETS, ["record_id"]), ("events", CLEAN_EVENTS, ["record_id"])):
        data = ws.lake.table(table).scan(columns=cols) if ws.lake.exists(table) else None
        if data is None:
            con.execute(f"CREATE TABLE {name} AS SELECT NULL::VARCHAR AS record_id, 0.0 AS amount, "
                        "NULL::TIMESTAMPTZ AS ordered_at WHERE false")
        else:
            con.register(name, data)
    tx = con.execute("SELECT i.customer_id, o.ordered_at AS ts, o.amount FROM orders o JOIN ids i USING (record_id)").to_arrow_table()
    as_of = con.execute("SELECT max(ordered_at) FROM orders").fetchone()[0] or dt.datetime.now(dt.UTC)
    feats = rfm(tx, as_of=as_of) if tx.num_rows else None
    if feats is not None:
        con.register("f", feats)
    else:
        con.execute("CREATE TABLE f AS SELECT NULL::VARCHAR customer_id, " + ", ".join(f"0.0 {c}" for c in FEATURE_COLUMNS) + " WHERE false")
    out = con.execute("""
        SELECT c.customer_id,
               COALESCE(f.recency_days, (SELECT max(recency_days) FROM f), 0.0) AS recency_days,
               COALESCE(f.frequency, 0)::BIGINT AS frequency, COALESCE(f.monetary, 0.0) AS monetary,
               COALESCE(f.avg_order_value, 0.0) AS avg_order_value, COALESCE(f.tenure_days, 0.0) AS tenure_days,
               COALESCE(f.orders_per_year, 0.0) AS orders_per_year, COALESCE(f.p_active, 0.0) AS p_active,
               COALESCE(f.clv_12m, 0.0) AS clv_12m,
               COALESCE(tk.n, 0)::BIGINT AS tickets, COALESCE(ev.n, 0)::BIGINT AS events,
               CAST($as_of AS TIMESTAMPTZ) AS as_of
        FROM customers c LEFT JOIN f USING (customer_id)
        LEFT JOIN (SELECT i.customer_id, count(*) AS n FROM tickets JOIN ids i USING (record_id) GROUP BY 1) tk USING (customer_id)
        LEFT JOIN (SELECT i.customer_id, count(*) AS n FROM events JOIN ids i USING (record_id) GROUP BY 1) ev USING (customer_id)
        ORDER BY c.customer_id
    """, {"as_of": as_of}).to_arrow_table()
    con.close()
    return out
