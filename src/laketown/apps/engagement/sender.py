"""Sending with an outbox: every message has an idempotency key (campaign run + user, or
journey entry + step + user) and is recorded as ``sending`` - durably, before it leaves - under
a Message-ID derived from that key. A key already in the outbox is never sent again. After a
crash between the send and its record, :meth:`Sender.recover` looks the Message-ID up in the
workspace's SMTP sink: found means sent; not found means it never left and may be sent again.
With a relay (which cannot be asked) an interrupted message is marked ``unknown`` and not resent:
at most once."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from typing import Any

from laketown.apps.engagement import policy
from laketown.apps.engagement.channels import (
    Delivery,
    EmailChannel,
    WebhookChannel,
    email_channel,
)
from laketown.apps.engagement.endpoints import Endpoints
from laketown.apps.engagement.events import EventLog, event
from laketown.apps.engagement.settings import EngagementSettings, load
from laketown.apps.engagement.store import Store, now
from laketown.apps.engagement.templates_store import (
    TemplateError,
    Templates,
    fetch_recommendations,
    render,
    wants_recommendations,
)
from laketown.apps.engagement.tracking import Signer, load_key

DOMAIN = "laketown.local"


def token_for(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def message_id_for(token: str) -> str:
    return f"<{token}@{DOMAIN}>"


@dataclass
class SendRequest:
    key: str
    user_id: str
    template: str
    channel: str = "email"
    campaign_id: str | None = None
    journey_id: str | None = None
    step_id: str | None = None
    variant: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SendResult:
    key: str
    user_id: str
    status: str  # delivered | bounced | suppressed | deferred | capped | duplicate | failed
    reason: str | None = None
    due_at: float | None = None


class Sender:
    """Renders, checks policies and sends through the channels; one per process."""

    def __init__(self, ws: Any, settings: EngagementSettings | None = None, store: Store | None = None,
                 events: EventLog | None = None):
        self.ws = ws
        self.settings = settings or load(ws)
        self.store = store or Store(ws)
        self.endpoints = Endpoints(self.store)
        self.templates = Templates(self.store)
        self.events = events or EventLog(ws)
        server = ws.settings.server
        self.signer = Signer(load_key(ws), self.settings.public_url or f"http://{server.host}:{server.port}")
        self._email: EmailChannel | None = None
        self.webhook = WebhookChannel(self.settings, self.signer.sign_body)

    @property
    def email(self) -> EmailChannel:
        if self._email is None:
            self._email = email_channel(self.ws, self.settings)
        return self._email

    # -- building --------------------------------------------------------------------------
    def compose(self, req: SendRequest, endpoint: dict[str, Any]) -> tuple[Message | dict[str, Any], str]:
        """The message for one request (sandboxed template, tracking links, unsubscribe link)."""
        tpl = self.templates.get(req.template)
        token = token_for(req.key)
        extra = {"unsubscribe_url": self.signer.unsubscribe_url(token), **req.extra}
        if wants_recommendations(tpl) and "recommendations" not in extra:
            key_env = self.settings.recs_api_key_env
            extra["recommendations"] = fetch_recommendations(
                self.settings.recs_url, req.user_id, os.environ.get(key_env) if key_env else None)
        out = render(tpl, endpoint, extra)
        html = self.signer.track_html(out.html, token)
        if req.channel == "webhook":
            return {"message_id": token, "user_id": req.user_id, "subject": out.subject, "html": html,
                    "text": out.text, "campaign_id": req.campaign_id, "journey_id": req.journey_id,
                    "step_id": req.step_id}, token
        # compat32 MIME classes: headers are stored, not re-parsed (several times cheaper per
        # message than EmailMessage's header registry, which matters at campaign sizes)
        msg = MIMEMultipart("alternative")
        msg["From"] = self.settings.sender
        msg["To"] = endpoint["email"]
        msg["Subject"] = out.subject if out.subject.isascii() else Header(out.subject, "utf-8").encode()
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = message_id_for(token)
        msg["List-Unsubscribe"] = f"<{self.signer.unsubscribe_url(token)}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.attach(MIMEText(out.text or _strip_tags(out.html), "plain", "utf-8"))
        msg.attach(MIMEText(html, "html", "utf-8"))
        return msg, token

    # -- sending ---------------------------------------------------------------------------
    def send(self, req: SendRequest) -> SendResult:
        return self.send_batch([req])[0]

    def send_batch(self, requests: list[SendRequest], chunk: int = 100,
                   on_progress: Any = None) -> list[SendResult]:
        """Send many. Each chunk is recorded as ``sending`` in one transaction, sent, then
        recorded as sent/bounced in one more; the next chunk is rendered and recorded while
        the current one is on the wire."""
        if len(requests) <= chunk:
            results, ready = self._prepare(requests)
            results.update(self._finish(self._deliver(ready)))
            if on_progress is not None:
                on_progress(len(requests), len(requests))
            return [results[r.key] for r in requests]
        from concurrent.futures import ThreadPoolExecutor

        results = {}
        with ThreadPoolExecutor(1, thread_name_prefix="engagement-send") as pool:
            pending = None
            for i in range(0, len(requests), chunk):
                early, ready = self._prepare(requests[i:i + chunk])
                results.update(early)
                if pending is not None:
                    results.update(self._finish(pending.result()))
                if on_progress is not None:
                    on_progress(min(i, len(requests)), len(requests))
                pending = pool.submit(self._deliver, ready)
            if pending is not None:
                results.update(self._finish(pending.result()))
            if on_progress is not None:
                on_progress(len(requests), len(requests))
        return [results[r.key] for r in requests]

    def _prepare(self, requests: list[SendRequest]) -> tuple[dict[str, SendResult], list[tuple[SendRequest, Any, str]]]:
        """Policies, rendering and the durable ``sending`` records of one chunk."""
        if any(r.channel == "email" for r in requests):
            self.email.check()  # a misconfigured relay fails here, before anything is recorded
        results: dict[str, SendResult] = {}
        ready: list[tuple[SendRequest, Any, str]] = []
        t = now()
        pid = os.getpid()
        with self.store.tx() as db:
            for req in requests:
                row = db.execute("SELECT status FROM outbox WHERE key=?", (req.key,)).fetchone()
                if row is not None and row["status"] != "deferred":
                    results[req.key] = SendResult(req.key, req.user_id, "duplicate", row["status"])
                    continue
                endpoint = self.endpoints.get(req.user_id)
                reason = policy.block_reason(endpoint, req.channel)
                if reason is None:
                    due = policy.quiet_until(self.settings, endpoint["timezone"], t)
                    if due is not None:
                        db.execute("INSERT OR REPLACE INTO outbox (key, message_id, user_id, channel, campaign_id, "
                                   "journey_id, step_id, variant, template, status, created_at, due_at, request) "
                                   "VALUES (?,?,?,?,?,?,?,?,?,'deferred',?,?,?)",
                                   (req.key, token_for(req.key), req.user_id, req.channel, req.campaign_id,
                                    req.journey_id, req.step_id, req.variant, req.template, t, due,
                                    json.dumps(asdict(req), default=str)))
                        results[req.key] = SendResult(req.key, req.user_id, "deferred", "quiet hours", due)
                        continue
                    if policy.over_cap(self.store, self.settings, req.user_id, t):
                        reason = "frequency cap"
                if reason is not None:
                    if row is not None:
                        db.execute("DELETE FROM outbox WHERE key=?", (req.key,))
                    status = "capped" if reason == "frequency cap" else "suppressed"
                    results[req.key] = SendResult(req.key, req.user_id, status, reason)
                    continue
                try:
                    message, token = self.compose(req, endpoint)
                except TemplateError as exc:
                    results[req.key] = SendResult(req.key, req.user_id, "failed", str(exc))
                    continue
                db.execute("INSERT OR REPLACE INTO outbox (key, message_id, user_id, channel, campaign_id, journey_id, "
                           "step_id, variant, template, status, attempts, created_at, owner) "
                           "VALUES (?,?,?,?,?,?,?,?,?,'sending',0,?,?)",
                           (req.key, token, req.user_id, req.channel, req.campaign_id, req.journey_id, req.step_id,
                            req.variant, req.template, t, pid))
                ready.append((req, message, token))
        return results, ready

    def _deliver(self, ready: list[tuple[SendRequest, Any, str]]) -> list[tuple[SendRequest, str, Delivery]]:
        done = []
        for req, message, token in ready:
            if req.channel == "webhook":
                delivery = self.webhook.send(self.endpoints.get(req.user_id)["webhook_url"], message, token)
            else:
                delivery = self.email.send(message)
            if self.settings.pause_after_send_s:
                time.sleep(self.settings.pause_after_send_s)
            done.append((req, token, delivery))
        return done

    def _finish(self, done: list[tuple[SendRequest, str, Delivery]]) -> dict[str, SendResult]:
        if done:
            self._record(done)
        return {req.key: SendResult(req.key, req.user_id, d.status, d.error) for req, _, d in done}

    def _record(self, done: list[tuple[SendRequest, str, Delivery]]) -> None:
        t = now()
        evs = []
        with self.store.tx() as db:
            for req, token, d in done:
                db.execute("UPDATE outbox SET status=?, attempts=?, error=?, sent_at=? WHERE key=?",
                           ("sent" if d.status == "delivered" else "bounced", d.attempts, d.error, t, req.key))
        for req, token, d in done:
            ids = {"campaign_id": req.campaign_id, "journey_id": req.journey_id, "step_id": req.step_id}
            evs.append(event(req.user_id, "send", event_id=f"{token}:send", channel=req.channel,
                             variant=req.variant, message_id=token, **ids))
            if d.status == "delivered":
                evs.append(event(req.user_id, "delivered", event_id=f"{token}:delivered", attempts=d.attempts,
                                 message_id=token, **ids))
            else:
                evs.append(event(req.user_id, "bounce", event_id=f"{token}:bounce", attempts=d.attempts,
                                 error=d.error, permanent=d.permanent, message_id=token, **ids))
        self.events.emit(evs)

    def dispatch_deferred(self) -> list[SendResult]:
        """Send the messages held back by quiet hours whose time has come."""
        rows = self.store.query("SELECT request FROM outbox WHERE status='deferred' AND due_at <= ? LIMIT 1000", (now(),))
        return self.send_batch([SendRequest(**json.loads(r["request"])) for r in rows]) if rows else []

    def recover(self) -> dict[str, int]:
        """Settle ``sending`` records left by a dead process (see the module docstring)."""
        from laketown.apps.engagement.smtp_sink import Mailbox, mailbox_dir

        counts = {"sent": 0, "resend": 0, "unknown": 0}
        rows = self.store.query("SELECT * FROM outbox WHERE status='sending'")
        mailbox = Mailbox(mailbox_dir(self.ws))
        evs = []
        for r in rows:
            if r["owner"] and r["owner"] != os.getpid() and _alive(r["owner"]):
                continue
            if r["channel"] == "email" and self.settings.smtp_mode == "sink":
                if mailbox.has(message_id_for(r["message_id"])):
                    self.store.execute("UPDATE outbox SET status='sent', attempts=1, sent_at=? WHERE key=?", (now(), r["key"]))
                    ids = {"campaign_id": r["campaign_id"], "journey_id": r["journey_id"], "step_id": r["step_id"]}
                    evs += [event(r["user_id"], "send", event_id=f"{r['message_id']}:send", recovered=True, **ids),
                            event(r["user_id"], "delivered", event_id=f"{r['message_id']}:delivered", recovered=True, **ids)]
                    counts["sent"] += 1
                else:
                    self.store.execute("DELETE FROM outbox WHERE key=?", (r["key"],))
                    counts["resend"] += 1
            elif r["channel"] == "webhook":  # receivers de-duplicate by the Idempotency-Key header
                self.store.execute("DELETE FROM outbox WHERE key=?", (r["key"],))
                counts["resend"] += 1
            else:
                self.store.execute("UPDATE outbox SET status='unknown', error=? WHERE key=?",
                                   ("interrupted during the send; not resent to avoid a double send", r["key"]))
                counts["unknown"] += 1
        self.events.emit(evs)
        return counts

    def close(self) -> None:
        if self._email is not None:
            self._email.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _strip_tags(html: str) -> str:
    import re

    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
