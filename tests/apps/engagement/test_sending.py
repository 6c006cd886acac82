"""Campaign sending end to end against the real SMTP sink: personalization, unsubscribes,
consent, frequency caps and quiet hours."""

from __future__ import annotations

import datetime as dt

from laketown.apps.engagement.sender import SendRequest
from laketown.apps.engagement.simulate import tracking_links
from tests.apps.engagement.conftest import people, sent_to


def test_every_sent_message_arrives_with_its_personalization(eng, sink):
    users = people(12)
    users[3].pop("given_name")  # falls back to the template's default
    users[5]["given_name"] = "<b>Zoe</b>"  # escaped in HTML, plain in the subject
    eng.endpoints.upsert(users)
    eng.templates.save("hello", "Hello {{ given_name }}", "<p>Dear {{ given_name }} from {{ city }}</p>",
                       text="Dear {{ given_name }}", defaults={"given_name": "friend", "city": "Lyon"})
    eng.campaigns.create({"campaign_id": "hello1", "template": "hello"})
    result = eng.campaigns.send("hello1")
    assert result["delivered"] == 12
    assert sink.mailbox.wait_for(12, 10) == 12
    by_to = {str(m["To"]): m for m in sink.mailbox.messages()}
    assert len(by_to) == 12
    for u in users:
        msg = by_to[u["email"]]
        name = u.get("given_name", "friend")
        assert msg["Subject"] == f"Hello {name}"
        html = msg.get_body(("html",)).get_content()
        if name.startswith("<"):
            assert "&lt;b&gt;Zoe&lt;/b&gt;" in html and "<b>Zoe" not in html
        else:
            assert f"Dear {name} from Lyon" in html
        assert msg.get_body(("plain",)).get_content().strip() == f"Dear {name}"
        assert {link["kind"] for link in tracking_links(msg)} >= {"open"}
        assert msg["List-Unsubscribe"]


def test_unsubscribed_users_never_receive(eng, sink):
    eng.endpoints.upsert(people(10))
    eng.endpoints.upsert([{"user_id": "u1", "unsubscribed": True}, {"user_id": "u2", "opt_in": False}])
    eng.templates.save("t", "News", '<p>News <a href="{{ unsubscribe_url }}">leave</a></p>')
    eng.campaigns.create({"campaign_id": "news", "template": "t", "schedule": {"type": "recurring", "every_s": 3600}})
    first = eng.campaigns.send("news")
    assert first["delivered"] == 8 and first["suppressed"] == 2
    sink.mailbox.wait_for(8, 10)
    # u5 unsubscribes through the link of the message they got: the next run skips them
    msg = next(m for m in sink.mailbox.messages() if str(m["To"]) == "u5@example.org")
    link = next(x for x in tracking_links(msg) if x["kind"] == "unsubscribe")
    assert eng.unsubscribe(link["m"], link["s"]) == "u5"
    second = eng.campaigns.send("news")
    assert second["delivered"] == 7
    # and a message queued before the unsubscribe is not sent after it
    eng.endpoints.unsubscribe("u7")
    res = eng.sender.send(SendRequest(key="late:u7", user_id="u7", template="t"))
    assert res.status == "suppressed" and res.reason == "unsubscribed"
    received = sent_to(sink)
    assert len(received) == 15
    assert "u1@example.org" not in received and "u2@example.org" not in received
    assert received.count("u5@example.org") == 1 and received.count("u7@example.org") == 2


def test_frequency_cap_counts_messages_across_campaigns(ws, sink):
    from laketown.apps.engagement.service import Engagement
    from tests.apps.engagement.conftest import FAST

    eng = Engagement(ws, frequency_cap=2, frequency_window_s=3600, **FAST)
    try:
        eng.endpoints.upsert(people(4))
        eng.templates.save("t", "Hi", "<p>hi</p>")
        outcomes = []
        for i in range(3):
            eng.campaigns.create({"campaign_id": f"c{i}", "template": "t"})
            outcomes.append(eng.campaigns.send(f"c{i}"))
        assert [o.get("delivered", 0) for o in outcomes] == [4, 4, 0]
        assert outcomes[2]["capped"] == 4
        assert sorted(sent_to(sink)) == sorted([f"u{i}@example.org" for i in range(4)] * 2)
    finally:
        eng.close()


def test_quiet_hours_hold_messages_in_the_users_timezone(ws, sink):
    from laketown.apps.engagement.service import Engagement
    from tests.apps.engagement.conftest import FAST

    h = dt.datetime.now(dt.UTC).hour
    # quiet for two hours from now in UTC; it is three hours earlier in Etc/GMT+3 (UTC-3)
    eng = Engagement(ws, quiet_start=f"{h:02d}:00", quiet_end=f"{(h + 2) % 24:02d}:00", **FAST)
    try:
        eng.endpoints.upsert([{"user_id": "night", "email": "night@example.org", "timezone": "UTC"},
                              {"user_id": "day", "email": "day@example.org", "timezone": "Etc/GMT+3"}])
        eng.templates.save("t", "Hi", "<p>hi</p>")
        eng.campaigns.create({"campaign_id": "q", "template": "t"})
        out = eng.campaigns.send("q")
        assert out["delivered"] == 1 and out["deferred"] == 1
        assert sent_to(sink) == ["day@example.org"]
        row = eng.store.one("SELECT due_at FROM outbox WHERE user_id='night'")
        end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=2)
        assert abs(row["due_at"] - end.timestamp()) < 1
        assert eng.sender.dispatch_deferred() == []  # not due yet: still held
        # the quiet hours end: the worker sends the held message, once
        eng.store.execute("UPDATE outbox SET due_at=0 WHERE user_id='night'")
        eng.settings.quiet_start = ""
        assert [r.status for r in eng.sender.dispatch_deferred()] == ["delivered"]
        assert eng.sender.dispatch_deferred() == []
        assert sorted(sent_to(sink)) == ["day@example.org", "night@example.org"]
    finally:
        eng.close()
