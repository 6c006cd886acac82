"""Saved segments: members and sizes in the lake, incremental re-evaluation on new events agrees
with a full evaluation, imported and model-based segments."""

from __future__ import annotations

import random
from datetime import timedelta

import pyarrow as pa
import pytest

from laketown.apps.engagement.segments import EVENTS_TABLE, SegmentEngine
from laketown.errors import LaketownError
from tests.apps.engagement.test_segments_rules import EVENT_TYPES, NOW, make_data

ACTIVE = {"all": [{"attr": "opt_in", "op": "eq", "value": True},
                  {"event": "click", "op": "count_gte", "value": 2, "within_days": 7}]}
LAPSED = {"all": [{"event": "open", "op": "count_lt", "value": 1, "within_days": 14},
                  {"not": {"attr": "plan", "op": "eq", "value": "free"}}]}


def members(engine, name):
    return set(engine.members(name)["user_id"].to_pylist())


def new_events(rng, n_users, k, start):
    return pa.Table.from_pylist([
        {"event_id": f"n{start + j}", "user_id": f"u{rng.randrange(n_users)}", "event_type": rng.choice(EVENT_TYPES),
         "ts": NOW - timedelta(hours=rng.randint(0, 24 * 3))} for j in range(k)
    ], schema=pa.schema([("event_id", pa.string()), ("user_id", pa.string()), ("event_type", pa.string()),
                         ("ts", pa.timestamp("us", tz="UTC"))]))


@pytest.mark.parametrize("ttl", [300.0, 0.0], ids=["cached-history", "history-reread-each-call"])
def test_apply_events_agrees_with_full_evaluation(ws, ttl):
    rng = random.Random(11)
    endpoints, events, _, _ = make_data(rng, 120)
    ws.lake.write(EVENTS_TABLE, events.cast(pa.schema([f if f.name != "ts" else pa.field("ts", pa.timestamp("us", "UTC"))
                                                      for f in events.schema])))
    engine = SegmentEngine(ws, endpoints=endpoints, history_ttl_s=ttl)
    engine.save("active", ACTIVE, now=NOW)
    engine.save("lapsed", LAPSED, now=NOW)
    assert members(engine, "active") == set(engine.evaluate(ACTIVE, now=NOW)["user_id"].to_pylist())
    changed_any = False
    delivered = events
    # the delivery sink moves events into the lake before or after the engine sees them (or not
    # yet, by the next call); each counts once either way
    delivery = {0: "after", 1: "before", 2: "not yet", 3: "after"}
    for batch, when in delivery.items():
        fresh = new_events(rng, 120, 40, batch * 100)
        if when == "before":
            ws.table(EVENTS_TABLE).append(fresh)
        changes = engine.apply_events(fresh, now=NOW)
        if when == "after":
            ws.table(EVENTS_TABLE).append(fresh)
        changed_any |= bool(changes)
        delivered = pa.concat_tables([delivered.cast(fresh.schema), fresh])
        for name, rule in (("active", ACTIVE), ("lapsed", LAPSED)):
            full = set(engine.evaluate(rule, endpoints, delivered, now=NOW)["user_id"].to_pylist())
            assert members(engine, name) == full, (batch, name)
            if name in changes:
                assert changes[name]["size"] == len(full)
    assert changed_any
    sizes = engine.sizes("active")
    assert sizes["trigger"].to_pylist()[0] == "save"
    assert sizes["size"].to_pylist()[-1] == len(members(engine, "active"))
    assert sizes.num_rows >= 2 or "active" not in changes


def test_events_as_json_dicts_with_iso_times(ws):
    endpoints, _, _, _ = make_data(random.Random(4), 30)
    engine = SegmentEngine(ws, endpoints=endpoints)
    rule = {"all": [{"event": "purchase", "op": "count_gte", "value": 1}]}
    engine.save("buyers", rule, now=NOW)
    assert members(engine, "buyers") == set()
    changes = engine.apply_events([{"event_id": "x1", "user_id": "u3", "event_type": "purchase",
                                    "ts": "2026-05-31T10:00:00+00:00"}], now=NOW)
    assert changes == {"buyers": {"size": 1, "added": 1, "removed": 0}}
    assert members(engine, "buyers") == {"u3"}


def test_imported_and_model_segments(ws):
    endpoints, _, scores, rows = make_data(random.Random(5), 80)
    engine = SegmentEngine(ws, endpoints=endpoints)
    engine.save("vip_list", kind="imported", members=["u1", "u2", "u2", "u9"], now=NOW)
    assert members(engine, "vip_list") == {"u1", "u2", "u9"}
    ws.lake.write("curated.engagement_churn_scores", scores)
    rule = {"all": [{"model": "churn", "op": "gte", "value": 0.7}]}
    first = engine.save("churn_risk", rule, kind="model", now=NOW)
    latest = {}
    for s in sorted(scores.to_pylist(), key=lambda s: s["scored_at"]):
        latest[s["user_id"]] = s["churn_probability"]
    assert members(engine, "churn_risk") == {u for u, p in latest.items() if p >= 0.7}
    # a new scoring run: everyone scores 0.9 now, and a refresh picks it up
    rescored = pa.table({"user_id": [r["user_id"] for r in rows], "churn_probability": [0.9] * len(rows),
                         "scored_at": pa.array([NOW] * len(rows), scores.schema.field("scored_at").type)})
    ws.table("curated.engagement_churn_scores").append(rescored)
    out = engine.refresh("churn_risk", now=NOW + timedelta(days=1))
    assert out["churn_risk"]["size"] == len(rows)
    assert out["churn_risk"]["added"] == len(rows) - first["size"]
    sizes = engine.sizes("churn_risk")
    assert sizes["size"].to_pylist() == [first["size"], len(rows)]
    assert sizes["trigger"].to_pylist() == ["save", "refresh"]
    # members keep the time they joined
    since = dict(zip(*engine.members("churn_risk").to_pydict().values(), strict=True))
    assert min(since.values()) < max(since.values())
    assert {s["name"] for s in engine.list()} == {"vip_list", "churn_risk"}


def test_saved_segment_errors(ws):
    endpoints, *_ = make_data(random.Random(6), 10)
    engine = SegmentEngine(ws, endpoints=endpoints)
    with pytest.raises(LaketownError, match="unknown segment 'nope'; segments: none"):
        engine.members("nope")
    with pytest.raises(LaketownError, match="needs members"):
        engine.save("x", kind="imported")
    with pytest.raises(LaketownError, match="unknown segment kind 'smart'"):
        engine.save("x", {"attr": "plan", "op": "exists"}, kind="smart")
    with pytest.raises(LaketownError, match="bad segment name"):
        engine.save("a b; drop", {"attr": "plan", "op": "exists"})
    with pytest.raises(LaketownError, match="curated.engagement_churn_scores does not exist"):
        engine.save("risk", {"model": "churn", "op": "gte", "value": 0.5}, kind="model")
    with pytest.raises(LaketownError, match="no model condition"):
        engine.save("risk", {"attr": "plan", "op": "exists"}, kind="model")
