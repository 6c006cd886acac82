"""The tracking endpoints in the real app: no API key needed, signed links only; any altered
link gets 400 and never a redirect elsewhere."""

from __future__ import annotations

import warnings
from urllib.parse import urlencode

import pytest

from laketown.apps.engagement.events import EVENTS_TABLE, deliver
from laketown.apps.engagement.simulate import tracking_links
from laketown.server import create_app
from tests.apps.engagement.conftest import people

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One app for the module (tests that change state use users of their own)."""
    import laketown
    from laketown.apps.engagement.console import mount
    from laketown.apps.engagement.smtp_sink import start_sink

    ws = laketown.connect(tmp_path_factory.mktemp("tracking") / "ws")
    sink = start_sink(ws)
    app = create_app(ws)
    mount(app, ws)
    eng = app.state.engagement
    eng.endpoints.upsert(people(3))
    eng.templates.save("t", "Hi", '<p><a href="https://shop.example.com/a?x=1">shop</a> '
                                  '<a href="{{ unsubscribe_url }}">leave</a></p>')
    eng.campaigns.create({"campaign_id": "c", "template": "t"})
    eng.campaigns.send("c")
    with TestClient(app, follow_redirects=False) as c:
        c.eng = eng
        yield c, sink, ws
    eng.close()
    sink.stop()
    ws.close()


@pytest.fixture
def client(served):
    return served[0]


@pytest.fixture
def sink(served):
    return served[1]


@pytest.fixture
def ws(served):
    return served[2]


def _links(sink, to="u0@example.org"):
    msg = next(m for m in sink.mailbox.messages() if str(m["To"]) == to)
    return {link["kind"]: link for link in tracking_links(msg)}


def _url(kind, **q):
    return f"/api/engagement/t/{kind}?" + urlencode(q)


def test_signed_links_work_without_an_api_key(client, sink, ws):
    links = _links(sink)
    assert client.get("/api/engagement/campaigns").status_code == 401  # the rest of the API needs a key
    pixel = client.get(_url("open", m=links["open"]["m"], s=links["open"]["s"]))
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    click = links["click"]
    resp = client.get(_url("click", m=click["m"], u=click["u"], s=click["s"]))
    assert resp.status_code == 302 and resp.headers["location"] == "https://shop.example.com/a?x=1"
    deliver(ws)
    got = ws.sql(f"SELECT user_id, event_type, campaign_id FROM {EVENTS_TABLE} WHERE event_type IN ('open', 'click') "
                 "ORDER BY event_type").to_pylist()
    assert got == [{"user_id": "u0", "event_type": "click", "campaign_id": "c"},
                   {"user_id": "u0", "event_type": "open", "campaign_id": "c"}]


@pytest.mark.parametrize("change", ["target", "signature", "message", "no signature", "other message's signature"])
def test_tampered_links_get_400_and_no_redirect(client, sink, change):
    click, other = _links(sink)["click"], _links(sink, "u1@example.org")["click"]
    q = {"m": click["m"], "u": click["u"], "s": click["s"]}
    if change == "target":
        q["u"] = "https://evil.example.net/phish"
    elif change == "signature":
        q["s"] = q["s"][:-2] + ("AA" if not q["s"].endswith("AA") else "BB")
    elif change == "message":
        q["m"] = other["m"]
    elif change == "no signature":
        q.pop("s")
    else:
        q["s"] = other["s"]
    resp = client.get(_url("click", **q))
    assert resp.status_code == 400
    assert "location" not in resp.headers and "evil" not in resp.text


def test_unsubscribe_link_takes_effect_at_once_and_cannot_be_forged(client, sink):
    unsub = _links(sink)["unsubscribe"]
    forged = client.post(_url("unsubscribe", m=_links(sink, "u1@example.org")["unsubscribe"]["m"], s=unsub["s"]))
    assert forged.status_code == 400
    assert client.post(_url("unsubscribe", m=unsub["m"], s=unsub["s"])).status_code == 200
    assert client.eng.endpoints.get("u0")["unsubscribed"] and not client.eng.endpoints.get("u1")["unsubscribed"]
    before = sink.mailbox.count()
    client.eng.campaigns.create({"campaign_id": "c2", "template": "t"})
    assert client.eng.campaigns.send("c2")["delivered"] == 2
    assert sink.mailbox.wait_for(before + 2, 5) == before + 2
    assert "u0@example.org" not in [str(m["To"]) for m in sink.mailbox.messages()[before:]]
