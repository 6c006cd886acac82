"""The generator's determinism, noise and truth; RFM/CLV features; segmentation and personas."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from laketown.apps.customer360.features import rfm
from laketown.apps.customer360.generator import generate
from laketown.apps.customer360.segments import segment
from laketown.errors import LaketownError


def test_generator_is_deterministic_noisy_and_keeps_the_truth():
    a, b, other = generate(800, seed=5), generate(800, seed=5), generate(800, seed=6)
    assert (a.crm, a.accounts, a.tickets, a.truth) == (b.crm, b.accounts, b.tickets, b.truth)
    assert a.crm != other.crm
    ids = {f"crm:{r['contact_id']}" for r in a.crm if r["contact_id"]} | {f"shop:{r['account_id']}" for r in a.accounts}
    assert ids <= {t["record_id"] for t in a.truth}
    assert 700 <= a.records <= 900 and a.persons < a.records
    person = {t["record_id"]: t["person_id"] for t in a.truth}
    by_person: dict[str, list[dict]] = {}
    for r in a.crm:
        if r["contact_id"]:
            by_person.setdefault(person[f"crm:{r['contact_id']}"], []).append(r)
    twins = [rows for rows in by_person.values() if len(rows) == 2]
    assert twins and any(x["first_name"] != y["first_name"] or x["email"] != y["email"] for x, y in twins)
    later = generate(100, seed=5, batch=1)
    assert all(r["account_id"].startswith("1-") for r in later.accounts)
    assert min(r["updated_at"] for r in later.accounts) > max(r["updated_at"] for r in a.accounts)


def test_rfm_and_clv_on_known_transactions():
    ts = pa.timestamp("us", tz="UTC")
    day = lambda d: dt.datetime(2026, 1, d, tzinfo=dt.UTC)
    tx = pa.table({"customer_id": ["a", "a", "a", "b"], "ts": pa.array([day(1), day(11), day(21), day(1)], ts),
                   "amount": [10.0, 20.0, 30.0, 100.0]})
    f = {r["customer_id"]: r for r in rfm(tx, as_of=day(31)).to_pylist()}
    assert (f["a"]["recency_days"], f["a"]["frequency"], f["a"]["monetary"], f["a"]["avg_order_value"]) == (10.0, 3, 60.0, 20.0)
    assert (f["b"]["recency_days"], f["b"]["frequency"], f["b"]["tenure_days"]) == (30.0, 1, 30.0)
    assert f["a"]["p_active"] > f["b"]["p_active"]  # a buys every 10 days and was seen 10 days ago
    assert f["a"]["clv_12m"] > 0 and f["b"]["clv_12m"] > 0


def test_segments_find_the_planted_groups_and_name_them_from_their_traits():
    rng = np.random.default_rng(0)
    n = 300
    groups = {  # (recency_days, frequency, monetary, tickets)
        "big": (5, 30, 3000, 0), "lapsed": (400, 1, 20, 0), "support": (60, 4, 200, 9),
    }
    cols: dict[str, list[float]] = {"recency_days": [], "frequency": [], "monetary": [], "tickets": []}
    for rec, freq, mon, tick in groups.values():
        for _ in range(n):
            for name, centre in zip(cols, (rec, freq, mon, tick)):
                cols[name].append(max(0.0, centre * rng.uniform(0.8, 1.2)))
    table = pa.table({"customer_id": [f"c{i}" for i in range(3 * n)], **cols, "clv_12m": [1.0] * (3 * n)})
    seg = segment(table, seed=0)
    assert seg.k == 3 and max(seg.silhouettes, key=seg.silhouettes.get) == 3
    names = {p["persona"]: p["size"] for p in seg.personas}
    assert names.get("High-value active regulars") == n
    assert names.get("Low-spend lapsed one-off buyers") == n
    assert any(name.endswith("needing support") and size == n for name, size in names.items())
    with pytest.raises(LaketownError, match="at least 3 customers"):
        segment(table.slice(0, 2))
