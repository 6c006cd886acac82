"""The engagement API in the real app (with an API key): endpoints, templates, preview and test
send, campaigns, app events into journeys and conversions, KPIs, segment preview."""

from __future__ import annotations

import warnings

from laketown.apps.engagement.events import deliver
from laketown.server import create_app
from tests.apps.engagement.conftest import people

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_api_end_to_end(ws, sink):
    from laketown.apps.engagement.console import mount

    app = create_app(ws)
    mount(app, ws)
    key = ws.governance.create_api_key("admin", "tests")
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as c:
            users = [{**p, "plan": "pro" if i < 2 else "basic"} for i, p in enumerate(people(5))]
            assert c.post("/api/engagement/endpoints", json=users).json() == {"upserted": 5}
            bad = c.post("/api/engagement/endpoints", json=[{"user_id": "z", "timezone": "Nowhere/Town"}])
            assert bad.status_code == 400 and "unknown timezone 'Nowhere/Town'" in bad.json()["detail"]
            c.post("/api/engagement/templates", json={"name": "t", "subject": "Hi {{ given_name }}",
                                                      "html": "<p>{{ given_name }} on {{ plan }}</p>"}).raise_for_status()
            prev = c.post("/api/engagement/templates/t/preview", json={"user_id": "u1"}).json()
            assert prev["subject"] == "Hi Name1" and prev["html"] == "<p>Name1 on pro</p>"
            assert sink.mailbox.count() == 0  # a preview sends nothing
            assert c.post("/api/engagement/templates/t/test-send", json={"user_id": "u2"}).json()["status"] == "delivered"
            assert sink.mailbox.wait_for(1, 5) == 1

            seg = c.post("/api/engagement/segments/preview", json={"all": [{"attr": "plan", "op": "eq", "value": "pro"}]})
            assert seg.json()["size"] == 2 and sorted(seg.json()["sample"]) == ["u0", "u1"]
            made = c.post("/api/engagement/campaigns", json={"campaign_id": "pro", "template": "t",
                                                             "segment": {"all": [{"attr": "plan", "op": "eq", "value": "pro"}]}})
            assert made.json()["result"]["delivered"] == 2

            c.post("/api/engagement/journeys", json={
                "journey_id": "j", "trigger": "browse", "start": "s",
                "steps": {"s": {"type": "send", "template": "t", "next": "e"}, "e": {"type": "exit"}}}).raise_for_status()
            out = c.post("/api/engagement/events", json={"user_id": "u3", "event_type": "browse", "page": "/x"}).json()
            assert out["journeys"] == ["j"] and out["conversion"] is False
            assert c.post("/api/engagement/events", json={"user_id": "u0", "event_type": "purchased"}).json()["conversion"]
            assert sink.mailbox.wait_for(4, 5) == 4
            assert c.post("/api/engagement/events", json={"event_type": "x"}).status_code == 400

            deliver(ws)
            kpi = {r["campaign_id"]: r for r in c.get("/api/engagement/kpis?by=campaign").json()}
            assert kpi["pro"]["delivered"] == 2 and kpi["pro"]["conversion_rate"] == 0.5
            steps = c.get("/api/engagement/kpis?by=journey_step").json()
            assert [(r["journey_id"], r["step_id"], r["sent"]) for r in steps] == [("j", "s", 1)]
            assert c.get("/api/engagement/kpis?by=week").status_code == 400
            listed = c.get("/api/engagement/journeys").json()[0]
            assert {s["step_id"]: s["reached"] for s in listed["steps"]} == {"s": 1, "e": 1}
            assert len(c.get("/api/engagement/mailbox").json()) == 4
    finally:
        app.state.engagement.close()
