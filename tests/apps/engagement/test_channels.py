"""SMTP failures against a real aiosmtpd server that answers 4xx/5xx, and webhooks against a
real HTTP server: transient failures are retried with backoff, then recorded as bounces."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from laketown.apps.engagement.events import EVENTS_TABLE, deliver
from laketown.apps.engagement.service import Engagement
from laketown.apps.engagement.smtp_sink import Mailbox, SmtpSink
from tests.apps.engagement.conftest import FAST


class Picky:
    """451 forever for soft@, 550 for hard@, 451 twice then accepted for flaky@."""

    def __init__(self, mailbox: Mailbox):
        self.mailbox, self.tries = mailbox, Counter()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.tries[address] += 1
        user = address.split("@")[0]
        if user == "soft" or (user == "flaky" and self.tries[address] <= 2):
            return "451 4.3.0 try again later"
        if user == "hard":
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.mailbox.store(envelope.mail_from, envelope.rcpt_tos, envelope.original_content or envelope.content)
        return "250 accepted"


@pytest.fixture
def picky(ws, tmp_path):
    mailbox = Mailbox(tmp_path / "picky")
    handler = Picky(mailbox)
    server = SmtpSink(tmp_path / "picky", handler=handler).start()
    yield server, handler
    server.stop()


def test_smtp_failures_are_retried_then_recorded_as_bounces(ws, picky):
    server, handler = picky
    eng = Engagement(ws, smtp_mode="relay", smtp_port=server.port, max_attempts=3, **FAST)
    try:
        eng.endpoints.upsert([{"user_id": u, "email": f"{u}@example.org"} for u in ("soft", "hard", "flaky", "fine")])
        eng.templates.save("t", "Hi {{ user.user_id }}", "<p>hi</p>")
        eng.campaigns.create({"campaign_id": "c", "template": "t"})
        out = eng.campaigns.send("c")
        assert out == {**out, "delivered": 2, "bounced": 2}
        assert handler.tries == {"soft@example.org": 3, "hard@example.org": 1, "flaky@example.org": 3,
                                 "fine@example.org": 1}
        rows = {r["user_id"]: r for r in eng.store.query("SELECT * FROM outbox")}
        assert rows["soft"]["status"] == "bounced" and rows["soft"]["attempts"] == 3 and "451" in rows["soft"]["error"]
        assert rows["hard"]["status"] == "bounced" and rows["hard"]["attempts"] == 1 and "550" in rows["hard"]["error"]
        assert rows["flaky"]["status"] == "sent" and rows["flaky"]["attempts"] == 3
        assert sorted(str(m["To"]) for m in server.mailbox.messages()) == ["fine@example.org", "flaky@example.org"]
        deliver(ws)
        bounces = ws.sql(f"SELECT user_id, properties FROM {EVENTS_TABLE} WHERE event_type = 'bounce' ORDER BY user_id")
        assert bounces["user_id"].to_pylist() == ["hard", "soft"]
        props = [json.loads(p) for p in bounces["properties"].to_pylist()]
        assert [p["permanent"] for p in props] == [True, False] and [p["attempts"] for p in props] == [1, 3]
    finally:
        eng.close()


def test_a_dead_smtp_server_is_a_bounce_after_retries(ws, picky):
    server, _ = picky
    port = server.port
    server.stop()
    eng = Engagement(ws, smtp_mode="relay", smtp_port=port, max_attempts=2, **FAST)
    try:
        eng.endpoints.upsert([{"user_id": "a", "email": "a@example.org"}])
        eng.templates.save("t", "Hi", "<p>hi</p>")
        eng.campaigns.create({"campaign_id": "c", "template": "t"})
        assert eng.campaigns.send("c")["bounced"] == 1
        row = eng.store.one("SELECT * FROM outbox")
        assert row["attempts"] == 2 and "connection" in row["error"]
    finally:
        eng.close()


def test_webhooks_are_signed_and_retried(ws, sink):
    got: list[tuple[bytes, dict]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((body, dict(self.headers)))
            self.send_response(503 if len(got) == 1 else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    eng = Engagement(ws, **FAST)
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
        eng.endpoints.upsert([{"user_id": "w", "webhook_url": url, "given_name": "Wanda"}])
        eng.templates.save("t", "Hi {{ given_name }}", "<p>hi</p>")
        eng.campaigns.create({"campaign_id": "wh", "template": "t", "channel": "webhook"})
        assert eng.campaigns.send("wh")["delivered"] == 1
        assert len(got) == 2 and got[0][0] == got[1][0]
        body, headers = got[1]
        assert json.loads(body)["subject"] == "Hi Wanda"
        key = bytes.fromhex((ws.path / "engagement" / "tracking.key").read_text())
        assert headers["X-Laketown-Signature"] == "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        assert headers["Idempotency-Key"] == json.loads(body)["message_id"]
    finally:
        eng.close()
        httpd.shutdown()


def test_rate_limit_paces_sends_after_a_one_second_burst(monkeypatch):
    """On a fake clock: 10/s lets 10 through at once, then one every 0.1 s."""
    from laketown.apps.engagement import channels

    clock = {"t": 100.0}
    monkeypatch.setattr(channels.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(channels.time, "sleep", lambda s: clock.__setitem__("t", clock["t"] + s))
    limiter = channels.RateLimiter(10)
    stamps = []
    for _ in range(25):
        limiter.acquire()
        stamps.append(clock["t"] - 100.0)
    assert stamps[:10] == [0.0] * 10
    assert stamps[-1] == pytest.approx(1.5, abs=1e-6)
    assert all(b - a == pytest.approx(0.1, abs=1e-6) for a, b in itertools.pairwise(stamps[10:]))
    unlimited = channels.RateLimiter(0)
    for _ in range(100):
        unlimited.acquire()
    assert clock["t"] - 100.0 == pytest.approx(1.5, abs=1e-6)


@pytest.fixture
def tls_relay(tmp_path):
    """An aiosmtpd relay that requires STARTTLS (a self-signed certificate for 127.0.0.1) and
    AUTH as mailer/s3cret."""
    import ssl
    import subprocess

    from aiosmtpd.smtp import AuthResult

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append(auth_data.login)
        ok = auth_data.login == b"mailer" and auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    relay = SmtpSink(tmp_path / "relay", tls_context=ctx, require_starttls=True, authenticator=authenticator,
                     auth_required=True).start()
    yield relay, cert, logins
    relay.stop()


def test_relay_with_starttls_and_auth(ws, tls_relay, monkeypatch):
    from laketown.apps.engagement.channels import ChannelError

    relay, cert, logins = tls_relay
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
    conf = {"smtp_mode": "relay", "smtp_port": relay.port, "smtp_starttls": True, "smtp_ca_file": str(cert),
            "smtp_username": "mailer", "smtp_password_env": "TEST_SMTP_PASSWORD", **FAST}
    eng = Engagement(ws, **conf)
    try:
        eng.endpoints.upsert([{"user_id": "a", "email": "a@example.org"}, {"user_id": "b", "email": "b@example.org"}])
        eng.templates.save("t", "Over TLS", "<p>hi</p>")
        eng.campaigns.create({"campaign_id": "tls", "template": "t"})
        assert eng.campaigns.send("tls")["delivered"] == 2
        assert sorted(str(m["To"]) for m in relay.mailbox.messages()) == ["a@example.org", "b@example.org"]
        assert logins == [b"mailer"]  # one connection, reused
    finally:
        eng.close()
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    eng = Engagement(ws, **conf)
    try:
        eng.campaigns.create({"campaign_id": "tls2", "template": "t"})
        with pytest.raises(ChannelError, match="refused the login of 'mailer'"):
            eng.campaigns.send("tls2")
        assert eng.store.one("SELECT count(*) AS n FROM outbox WHERE campaign_id='tls2'")["n"] == 0
    finally:
        eng.close()
    eng = Engagement(ws, **{**conf, "smtp_ca_file": None})  # the self-signed certificate is not trusted
    try:
        eng.campaigns.create({"campaign_id": "tls3", "template": "t"})
        with pytest.raises(ChannelError, match="TLS with SMTP relay .* failed"):
            eng.campaigns.send("tls3")
    finally:
        eng.close()
