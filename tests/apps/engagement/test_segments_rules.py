"""Segment rules compiled to DuckDB agree with a plain Python reading of the same rule on random
endpoints, events and scores; bad rules fail naming the bad part."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from laketown.apps.engagement.segments import SegmentEngine
from laketown.apps.engagement.segments_rules import RuleError

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PLANS = ["free", "pro", "team", "o'brien"]
EVENT_TYPES = ["open", "click", "purchase"]


def make_data(rng: random.Random, n: int = 300):
    rows = []
    for i in range(n):
        rows.append({
            "user_id": f"u{i}",
            "email": f"u{i}@example.com" if rng.random() < 0.9 else None,
            "webhook_url": None, "timezone": "UTC",
            "opt_in": rng.random() < 0.8, "unsubscribed": rng.random() < 0.1,
            "plan": rng.choice(PLANS + [None]),
            "age": rng.choice([None, float(rng.randint(18, 80))]),
            "vip": rng.choice([True, False, None]),
            "signup": rng.choice([None, NOW - timedelta(days=rng.randint(0, 400))]),
        })
    schema = pa.schema([("user_id", pa.string()), ("email", pa.string()), ("webhook_url", pa.string()),
                        ("timezone", pa.string()), ("opt_in", pa.bool_()), ("unsubscribed", pa.bool_()),
                        ("plan", pa.string()), ("age", pa.float64()), ("vip", pa.bool_()),
                        ("signup", pa.timestamp("us", tz="UTC"))])
    endpoints = pa.Table.from_pylist(rows, schema=schema)
    events = [{"event_id": f"e{j}", "user_id": f"u{rng.randrange(n)}", "event_type": rng.choice(EVENT_TYPES),
               "ts": NOW - timedelta(hours=rng.randint(0, 24 * 60))} for j in range(n * 4)]
    scores = [{"user_id": f"u{i}", "churn_probability": rng.random(), "scored_at": NOW - timedelta(days=d)}
              for i in range(n) if rng.random() < 0.8 for d in (1, 3)]
    return endpoints, pa.Table.from_pylist(events), pa.Table.from_pylist(scores), rows


def random_condition(rng: random.Random, depth: int = 0) -> dict:
    r = rng.random()
    if depth < 3 and r < 0.3:
        key = rng.choice(["all", "any", "not"])
        if key == "not":
            return {"not": random_condition(rng, depth + 1)}
        return {key: [random_condition(rng, depth + 1) for _ in range(rng.randint(0, 3))]}
    kind = rng.choice(["plan", "age", "vip", "signup", "email", "event", "model", "opt_in"])
    if kind == "event":
        c = {"event": rng.choice(EVENT_TYPES), "op": rng.choice(["count_gte", "count_lt"]), "value": rng.randint(0, 4)}
        if rng.random() < 0.6:
            c["within_days"] = rng.choice([1, 7, 30, 0.5])
        return c
    if kind == "model":
        return {"model": "churn", "op": rng.choice(["gte", "gt", "lte", "lt"]), "value": round(rng.random(), 2)}
    if kind in ("plan", "email"):
        op = rng.choice(["eq", "ne", "lt", "gte", "in", "contains", "exists"])
        values = PLANS if kind == "plan" else ["u1@example.com", "u2@example.com"]
        if op == "in":
            return {"attr": kind, "op": op, "value": rng.sample(values, 2)}
        if op == "contains":
            return {"attr": kind, "op": op, "value": rng.choice(["o", "'", "1", "example"])}
        if op == "exists":
            return {"attr": kind, "op": op, "value": rng.choice([True, False])}
        return {"attr": kind, "op": op, "value": rng.choice(values)}
    if kind in ("vip", "opt_in"):
        return {"attr": kind, "op": rng.choice(["eq", "ne"]), "value": rng.choice([True, False])}
    if kind == "age":
        op = rng.choice(["eq", "ne", "lt", "lte", "gt", "gte", "in", "exists"])
        if op == "in":
            return {"attr": "age", "op": op, "value": [rng.randint(18, 80) for _ in range(5)]}
        return {"attr": "age", "op": op, "value": rng.randint(18, 80)} if op != "exists" else {"attr": "age", "op": op}
    t = (NOW - timedelta(days=rng.randint(0, 400))).isoformat().replace("+00:00", "Z")
    return {"attr": "signup", "op": rng.choice(["lt", "gte", "eq"]), "value": t}


def reference(rule: dict, row: dict, events: list[dict], score: float | None) -> bool:
    """The rule read literally, in Python: a missing value makes a condition false."""
    if "all" in rule:
        return all(reference(c, row, events, score) for c in rule["all"])
    if "any" in rule:
        return any(reference(c, row, events, score) for c in rule["any"])
    if "not" in rule:
        return not reference(rule["not"], row, events, score)
    op, v = rule["op"], rule.get("value")
    if "event" in rule:
        since = NOW - timedelta(days=rule["within_days"]) if "within_days" in rule else None
        n = sum(1 for e in events if e["event_type"] == rule["event"] and (since is None or e["ts"] >= since))
        return n >= v if op == "count_gte" else n < v
    if "model" in rule:
        x = score
    else:
        x = row[rule["attr"]]
        if op == "exists":
            return (x is not None) == (v is not False)
        if isinstance(v, str) and rule["attr"] == "signup":
            v = datetime.fromisoformat(v)
    if x is None:
        return False
    return {
        "eq": lambda: x == v, "ne": lambda: x != v, "lt": lambda: x < v, "lte": lambda: x <= v,
        "gt": lambda: x > v, "gte": lambda: x >= v, "in": lambda: x in v, "contains": lambda: v in x,
    }[op]()


def test_compiled_rules_agree_with_python_on_random_rules(ws):
    rng = random.Random(7)
    endpoints, events, scores, rows = make_data(rng)
    by_user: dict[str, list] = {}
    for e in events.to_pylist():
        by_user.setdefault(e["user_id"], []).append(e)
    latest = {}
    for s in sorted(scores.to_pylist(), key=lambda s: s["scored_at"]):
        latest[s["user_id"]] = s["churn_probability"]
    engine = SegmentEngine(ws)
    sizes = []
    for _ in range(150):
        rule = {rng.choice(["all", "any"]): [random_condition(rng) for _ in range(rng.randint(1, 4))]}
        got = set(engine.evaluate(rule, endpoints, events, scores, now=NOW)["user_id"].to_pylist())
        want = {r["user_id"] for r in rows if reference(rule, r, by_user.get(r["user_id"], []), latest.get(r["user_id"]))}
        assert got == want, rule
        sizes.append(len(want))
    # the random rules are not all trivially empty or full
    assert sum(0 < s < len(rows) for s in sizes) > 50


def test_values_are_bound_not_spliced(ws):
    endpoints, _events, _scores, rows = make_data(random.Random(1), 50)
    engine = SegmentEngine(ws)
    hostile = {"all": [{"attr": "plan", "op": "eq", "value": "x' OR '1'='1"}]}
    assert engine.evaluate(hostile, endpoints).num_rows == 0
    quoted = engine.evaluate({"attr": "plan", "op": "eq", "value": "o'brien"}, endpoints)
    assert set(quoted["user_id"].to_pylist()) == {r["user_id"] for r in rows if r["plan"] == "o'brien"}


def test_segment_only_checks_given_users(ws):
    endpoints, _events, _scores, _rows = make_data(random.Random(2), 100)
    engine = SegmentEngine(ws)
    rule = {"any": [{"attr": "opt_in", "op": "eq", "value": True}, {"attr": "opt_in", "op": "eq", "value": False}]}
    got = engine.evaluate(rule, endpoints, users=["u1", "u5", "nobody"])
    assert sorted(got["user_id"].to_pylist()) == ["u1", "u5"]


@pytest.mark.parametrize(("rule", "words"), [
    ({"all": [{"attr": "planx", "op": "eq", "value": "pro"}]}, ["rule.all[0].attr", "'planx'", "plan"]),
    ({"all": [{"attr": "plan", "op": "like", "value": "pro"}]}, ["rule.all[0].op", "'like'", "contains"]),
    ({"any": [{"attr": "age", "op": "gt", "value": "old"}]}, ["rule.any[0]", "'age'", "number", "'old'"]),
    ({"all": [{"attr": "age", "op": "contains", "value": "1"}]}, ["rule.all[0]", "contains"]),
    ({"all": [{"attr": "vip", "op": "gt", "value": True}]}, ["rule.all[0].op", "bool"]),
    ({"all": [{"attr": "plan", "op": "in", "value": []}]}, ["rule.all[0].value", "non-empty list"]),
    ({"all": [{"attr": "signup", "op": "lt", "value": "yesterday"}]}, ["rule.all[0].value", "ISO 8601"]),
    ({"all": [{"event": "open", "op": "count_gte", "value": -1}]}, ["rule.all[0].value", "-1"]),
    ({"all": [{"event": "open", "op": "count_gte", "value": 1, "within_days": 0}]}, ["within_days"]),
    ({"all": [{"model": "churn", "op": "gte", "value": 1.5}]}, ["rule.all[0].value", "1.5"]),
    ({"all": [{"model": "Churn; DROP", "op": "gte", "value": 0.5}]}, ["rule.all[0].model"]),
    ({"all": {"attr": "plan"}}, ["rule.all", "list"]),
    ({"all": [], "any": []}, ["rule", "exactly one"]),
    ({"not": [{"attr": "plan", "op": "exists"}]}, ["rule.not", "expected an object"]),
    ({"all": [{"attr": "plan", "op": "eq", "value": "pro", "extra": 1}]}, ["rule.all[0]", "'extra'"]),
    ({"all": [{"attr": "plan", "op": "eq"}]}, ["rule.all[0]", "needs a value"]),
    ("plan = 'pro'", ["rule", "expected an object"]),
])
def test_bad_rules_name_the_bad_part(ws, rule, words):
    endpoints, *_ = make_data(random.Random(3), 10)
    with pytest.raises(RuleError) as err:
        SegmentEngine(ws).evaluate(rule, endpoints)
    for w in words:
        assert w in str(err.value)


def test_deeply_nested_rule_is_refused(ws):
    endpoints, *_ = make_data(random.Random(3), 10)
    rule: dict = {"attr": "plan", "op": "exists"}
    for _ in range(40):
        rule = {"not": rule}
    with pytest.raises(RuleError, match="deeper"):
        SegmentEngine(ws).evaluate(rule, endpoints)
