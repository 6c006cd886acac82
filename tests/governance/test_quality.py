"""Data quality: rules checked on write, failing rows quarantined with the rule, scores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from laketown.governance import GovernanceError

NOW = datetime.now(timezone.utc)


def batch(ids, amounts, status, emails, customers, ts=None):
    return pa.table({
        "id": pa.array(ids, pa.int64()), "amount": pa.array(amounts, pa.float64()), "status": status,
        "email": emails, "customer_id": pa.array(customers, pa.int64()),
        "ts": pa.array(ts or [NOW] * len(ids), pa.timestamp("us", tz="UTC")),
    })


@pytest.fixture
def rules(ws):
    ws.lake.write("clean.customers", {"customer_id": pa.array([1, 2, 3], pa.int64())})
    q = ws.governance.quality
    q.add_rule("raw.orders", "not_null", column="id")
    q.add_rule("raw.orders", "unique", column="id")
    q.add_rule("raw.orders", "range", column="amount", min=0, max=1000)
    q.add_rule("raw.orders", "allowed_values", column="status", values=["new", "paid"])
    q.add_rule("raw.orders", "regex", column="email", pattern=r"[^@\s]+@[^@\s]+\.\w+")
    q.add_rule("raw.orders", "referential", column="customer_id", ref_table="clean.customers", ref_column="customer_id")
    q.add_rule("raw.orders", "freshness", column="ts", max_age_s=3600)
    return ws


def test_each_rule_quarantines_its_failing_rows(rules):
    data = batch(
        [1, 2, None, 4, 5, 6, 7, 7],
        [10.0, -5.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        ["new", "paid", "new", "lost", "new", "new", "new", "paid"],
        ["a@x.io", "b@x.io", "c@x.io", "d@x.io", "not-an-email", "f@x.io", "g@x.io", "h@x.io"],
        [1, 2, 3, 1, 2, 99, 1, 2],
    )
    good, bad = rules.governance.check("raw.orders", data)
    assert good.column("id").to_pylist() == [1]
    reasons = dict(zip([str(i) for i in bad.column("id").to_pylist()], bad.column("_dq_rules").to_pylist()))
    assert reasons["2"].startswith("range(") and reasons["None"].startswith("not_null(")
    assert reasons["4"].startswith("allowed_values(") and reasons["5"].startswith("regex(")
    assert reasons["6"].startswith("referential(") and "unique(" in reasons["7"]


def test_write_sends_good_rows_to_the_table_and_bad_rows_to_quarantine(rules):
    q = rules.governance.quality
    old = NOW - timedelta(days=2)
    res = q.write("raw.orders", batch([1, 2, 3], [1.0, 2.0, 3.0], ["new"] * 3, ["a@x.io"] * 3, [1, 1, 1],
                                      ts=[NOW, NOW, old]))
    assert res.score == pytest.approx(2 / 3)
    assert rules.sql("SELECT count(*) AS n FROM raw.orders").column("n")[0].as_py() == 2
    quarantined = rules.sql("SELECT id, _dq_rules FROM raw.orders_quarantine").to_pylist()
    assert quarantined[0]["id"] == 3 and quarantined[0]["_dq_rules"].startswith("freshness(")
    # a second batch repeating id 1 breaks uniqueness against the table itself
    q.write("raw.orders", batch([1, 4], [1.0, 1.0], ["new"] * 2, ["a@x.io"] * 2, [1, 1]))
    assert sorted(rules.sql("SELECT id FROM raw.orders").column("id").to_pylist()) == [1, 2, 4]
    scores = q.scores("raw.orders")
    assert [s["score"] for s in scores] == [0.5, pytest.approx(2 / 3)]


def test_row_count_change_fails_the_batch_without_moving_rows(ws):
    q = ws.governance.quality
    q.add_rule("raw.events", "row_count_change", max_change=0.5)
    q.write("raw.events", {"x": list(range(100))})
    res = q.write("raw.events", {"x": list(range(10))})
    assert res.quarantined.num_rows == 0 and res.score == 0.0 and list(res.failures) == ["row_count_change(max_change=0.5)"]
    assert ws.sql("SELECT count(*) AS n FROM raw.events").column("n")[0].as_py() == 110


@pytest.mark.parametrize("kind, params, match", [
    ("nonsense", {}, "unknown quality rule"),
    ("range", {}, "missing"),
    ("regex", {"column": "x", "pattern": "("}, "bad pattern"),
    ("not_null", {"column": "x", "colour": "red"}, "unknown"),
])
def test_bad_rules_are_refused(ws, kind, params, match):
    with pytest.raises(GovernanceError, match=match):
        ws.governance.quality.add_rule("raw.t", kind, **params)
