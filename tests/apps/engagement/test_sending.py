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


def test_recommendations_come_from_the_recs_api_when_it_answers(ws, sink):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from laketown.apps.engagement.service import Engagement
    from tests.apps.engagement.conftest import FAST

    seen = []

    class Recs(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            user = self.path.split("/")[-1].split("?")[0]
            body = json.dumps({"user_id": user, "recommendations": [
                {"item_id": f"{user}-item{k}", "score": 1.0 / (k + 1)} for k in range(5)]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recs)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    html = "<ul>{% for r in recommendations %}<li>{{ r.item_id }}</li>{% else %}<li>bestsellers</li>{% endfor %}</ul>"
    for url, expect_items in ((f"http://127.0.0.1:{httpd.server_address[1]}", True), ("http://127.0.0.1:9", False)):
        eng = Engagement(ws, recs_url=url, recs_api_key_env="RECS_KEY_FOR_TEST", **FAST)
        try:
            eng.endpoints.upsert(people(2))
            eng.templates.save("recs", "For you", html)
            before = sink.mailbox.count()
            eng.campaigns.create({"campaign_id": f"r{int(expect_items)}", "template": "recs"})
            assert eng.campaigns.send(f"r{int(expect_items)}")["delivered"] == 2
            for m in sink.mailbox.messages()[before:]:
                body = m.get_body(("html",)).get_content()
                uid = str(m["To"]).split("@")[0]
                if expect_items:  # the top 3 of the user's own list
                    assert [f"{uid}-item{k}" in body for k in range(5)] == [True, True, True, False, False]
                else:  # the recs API is not there: the template's fallback, and the send still happens
                    assert "bestsellers" in body and "item" not in body
        finally:
            eng.close()
    httpd.shutdown()
    assert sorted(p.split("?")[0] for p, _ in seen) == ["/api/recs/users/u0", "/api/recs/users/u1"]
