"""Campaigns: deterministic holdout and A/B assignment, schedules, re-runs without duplicates."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from laketown.apps.engagement.campaigns import CampaignError, assign, parse
from tests.apps.engagement.conftest import people, sent_to


def test_holdout_and_variants_are_deterministic_and_holdout_gets_nothing(eng, sink):
    eng.endpoints.upsert(people(200))
    eng.templates.save("ta", "A {{ given_name }}", "<p>a</p>")
    eng.templates.save("tb", "B {{ given_name }}", "<p>b</p>")
    spec = {"campaign_id": "ab", "holdout_pct": 10,
            "variants": [{"name": "A", "template": "ta", "weight": 1}, {"name": "B", "template": "tb", "weight": 1}]}
    eng.campaigns.create(spec)
    out = eng.campaigns.send("ab")
    c = parse(spec)
    expected = Counter(assign(c, f"u{i}") for i in range(200))
    assert out["groups"] == {"holdout": expected["holdout"], "A": expected["A"], "B": expected["B"]}
    assert 5 <= expected["holdout"] <= 40 and 60 <= expected["A"] <= 120
    held = {f"u{i}@example.org" for i in range(200) if assign(c, f"u{i}") == "holdout"}
    got = sink.mailbox.messages()
    assert len(got) == 200 - len(held) and not held & {str(m["To"]) for m in got}
    for m in got:  # each user got the template of their variant
        uid = str(m["To"]).split("@")[0]
        assert m["Subject"].split()[0] == assign(c, uid)


def test_a_rerun_of_the_same_run_sends_nothing_twice(eng, sink):
    eng.endpoints.upsert(people(5))
    eng.templates.save("t", "Hi", "<p>hi</p>")
    eng.campaigns.create({"campaign_id": "once", "template": "t"})
    assert eng.campaigns.send("once", run=0)["delivered"] == 5
    again = eng.campaigns.send("once", run=0)
    assert again.get("duplicate") == 5 and "delivered" not in again
    assert sink.mailbox.count() == 5


def test_scheduled_and_recurring_campaigns_run_when_due(eng, sink):
    eng.endpoints.upsert(people(3))
    eng.templates.save("t", "Hi", "<p>hi</p>")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    eng.campaigns.create({"campaign_id": "later", "template": "t", "schedule": {"type": "scheduled", "at": later}})
    eng.campaigns.create({"campaign_id": "every", "template": "t", "schedule": {"type": "recurring", "every_s": 3600}})
    eng.store.execute("UPDATE campaigns SET next_run_at=0 WHERE campaign_id='every'")
    assert [r["campaign_id"] for r in eng.campaigns.run_due()] == ["every"]
    assert eng.campaigns.run_due() == []  # next run an hour away
    eng.store.execute("UPDATE campaigns SET next_run_at=0 WHERE campaign_id='every'")
    assert eng.campaigns.run_due()[0]["run"] == 1
    assert sorted(sent_to(sink)) == sorted([f"u{i}@example.org" for i in range(3)] * 2)
    status = {c["campaign_id"]: c["status"] for c in eng.campaigns.list()}
    assert status == {"later": "scheduled", "every": "scheduled"}


def test_segment_rules_pick_the_audience(eng, sink):
    eng.endpoints.upsert([{**p, "plan": "pro" if i % 3 == 0 else "basic", "spend": float(i)} for i, p in enumerate(people(9))])
    eng.templates.save("t", "Hi", "<p>hi</p>")
    eng.campaigns.create({"campaign_id": "pro", "template": "t",
                          "segment": {"all": [{"attr": "plan", "op": "eq", "value": "pro"}, {"attr": "spend", "op": "gt", "value": 0}]}})
    assert eng.campaigns.send("pro")["audience"] == 2
    assert sorted(sent_to(sink)) == ["u3@example.org", "u6@example.org"]


def test_bad_campaigns_are_refused_with_what_was_wrong(eng):
    eng.templates.save("t", "Hi", "<p>hi</p>")
    with pytest.raises(CampaignError, match="give either 'template' or a list of 'variants'"):
        eng.campaigns.create({"campaign_id": "x"})
    with pytest.raises(CampaignError, match="needs 'every_s'"):
        eng.campaigns.create({"campaign_id": "x", "template": "t", "schedule": {"type": "recurring"}})
    with pytest.raises(Exception, match="unknown template 'nope'"):
        eng.campaigns.create({"campaign_id": "x", "template": "nope"})
    with pytest.raises(CampaignError, match="unknown campaign 'zzz'"):
        eng.campaigns.send("zzz")
