"""The worker keeps saved dynamic segments up to date as events arrive (through the segment
engine's incremental re-check), so a campaign to that segment reaches the new members."""

from __future__ import annotations

from laketown.apps.engagement.segments import SegmentEngine
from tests.apps.engagement.conftest import people, sent_to


def test_events_move_users_into_a_saved_segment_at_the_next_tick(eng, sink):
    eng.endpoints.upsert(people(6))
    engine = SegmentEngine(eng.ws, endpoints=eng.endpoints.to_arrow)
    rule = {"all": [{"event": "purchased", "op": "count_gte", "value": 2, "within_days": 7}]}
    assert engine.save("buyers", rule)["size"] == 0
    for uid in ("u1", "u1", "u4"):
        eng.ingest(uid, "purchased")
    assert eng.tick()["segments_changed"] == 1
    assert engine.members("buyers")["user_id"].to_pylist() == ["u1"]
    eng.ingest("u4", "purchased")
    eng.tick()
    assert sorted(engine.members("buyers")["user_id"].to_pylist()) == ["u1", "u4"]
    eng.templates.save("thanks", "Thanks", "<p>thanks</p>")
    eng.campaigns.create({"campaign_id": "thanks", "template": "thanks", "segment": "buyers"})
    assert eng.campaigns.send("thanks")["delivered"] == 2
    assert sorted(sent_to(sink)) == ["u1@example.org", "u4@example.org"]
