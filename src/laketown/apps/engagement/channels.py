"""Channels: email over SMTP (the workspace's sink by default, any relay with STARTTLS and
auth by config) and webhooks. Each channel has a rate limit and retries transient failures
(SMTP 4xx, lost connections, HTTP 429/5xx) with exponential backoff; a permanent failure
(SMTP 5xx, HTTP 4xx) or running out of attempts is a bounce."""

from __future__ import annotations

import json
import smtplib
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any

from laketown.apps.engagement.settings import EngagementSettings
from laketown.errors import LaketownError


class ChannelError(LaketownError):
    """A channel is misconfigured (no SMTP server to talk to, bad relay settings)."""


@dataclass
class Delivery:
    """What became of one message: ``delivered`` or ``bounced`` (with the last error)."""

    status: str
    attempts: int
    error: str | None = None
    permanent: bool = False


class RateLimiter:
    """A token bucket: ``rate`` per second with a burst of one second's worth (0 = unlimited)."""

    def __init__(self, rate: float):
        self.rate = float(rate)
        self.tokens = max(self.rate, 1.0)
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        if self.rate <= 0:
            return
        with self.lock:
            while True:
                t = time.monotonic()
                self.tokens = min(max(self.rate, 1.0), self.tokens + (t - self.last) * self.rate)
                self.last = t
                if self.tokens >= 1 - 1e-9:  # float sums of slices of a second fall short by ulps
                    self.tokens = max(0.0, self.tokens - 1)
                    return
                time.sleep((1 - self.tokens) / self.rate)


class _Transient(Exception):
    pass


class _Permanent(Exception):
    pass


def with_retries(attempt_once: Any, settings: EngagementSettings, limiter: RateLimiter) -> Delivery:
    """Call ``attempt_once()`` until it succeeds, fails permanently, or attempts run out."""
    error = None
    for attempt in range(1, max(1, settings.max_attempts) + 1):
        limiter.acquire()
        try:
            attempt_once()
            return Delivery("delivered", attempt)
        except _Permanent as exc:
            return Delivery("bounced", attempt, str(exc), permanent=True)
        except _Transient as exc:
            error = str(exc)
            if attempt < settings.max_attempts:
                time.sleep(settings.retry_backoff_s * 2 ** (attempt - 1))
    return Delivery("bounced", max(1, settings.max_attempts), error, permanent=False)


class EmailChannel:
    """SMTP with one reused connection (reopened when the server drops it)."""

    name = "email"

    def __init__(self, settings: EngagementSettings, host: str, port: int):
        if not port:
            raise ChannelError("no SMTP server: start the sink (`laketown engagement smtp-sink serve`) "
                               "or set smtp_mode='relay' with smtp_host/smtp_port in engagement.toml")
        self.settings, self.host, self.port = settings, host, port
        self.limiter = RateLimiter(settings.email_rate_per_s)
        self.conn: smtplib.SMTP | None = None
        self.lock = threading.Lock()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        conn = smtplib.SMTP(self.host, self.port, timeout=s.smtp_timeout_s)
        try:
            if s.smtp_starttls:
                import ssl

                conn.starttls(context=ssl.create_default_context(cafile=s.smtp_ca_file))
            if s.smtp_username:
                password = s.smtp_password()
                if password is None:
                    raise ChannelError(f"smtp_username is set but the variable {s.smtp_password_env!r} that should "
                                       "hold the password is empty; export it or set smtp_password_env")
                conn.ehlo_or_helo_if_needed()
                if "PLAIN" in conn.esmtp_features.get("auth", "").upper().split():
                    # one mechanism, one answer: login() would go on to LOGIN after a refusal
                    conn.user, conn.password = s.smtp_username, password
                    conn.auth("PLAIN", conn.auth_plain)
                else:
                    conn.login(s.smtp_username, password)
        except BaseException:
            conn.close()
            raise
        return conn

    def check(self) -> None:
        """Open the connection now; a relay that refuses our TLS or credentials is a
        :class:`ChannelError` before any message is recorded (an unreachable server is not:
        each message retries and bounces on its own)."""
        import ssl

        with self.lock:
            if self.conn is not None:
                return
            try:
                self.conn = self._connect()
            except smtplib.SMTPAuthenticationError as exc:
                raise ChannelError(f"SMTP relay {self.host}:{self.port} refused the login of "
                                   f"{self.settings.smtp_username!r} ({exc.smtp_code}); check the user and "
                                   f"the password in ${self.settings.smtp_password_env}") from None
            except smtplib.SMTPNotSupportedError as exc:
                raise ChannelError(f"SMTP relay {self.host}:{self.port}: {exc}; set smtp_starttls "
                                   "(most relays allow AUTH only after STARTTLS)") from None
            except ssl.SSLError as exc:
                raise ChannelError(f"TLS with SMTP relay {self.host}:{self.port} failed: {exc.reason or exc}; "
                                   "for a private CA set smtp_ca_file") from None
            except (smtplib.SMTPException, OSError):
                pass

    def _send_once(self, msg: Message) -> None:
        try:
            if self.conn is None:
                self.conn = self._connect()
            refused = self.conn.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            self._reset()
            code, text = next(iter(exc.recipients.values()))
            raise (_Transient if 400 <= code < 500 else _Permanent)(f"{code} {_text(text)}") from None
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise (_Transient if 400 <= exc.smtp_code < 500 else _Permanent)(f"{exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self.close()
            raise _Transient(f"connection to {self.host}:{self.port} failed: {exc}") from None
        if refused:  # only some recipients refused: we send one recipient per message
            code, text = next(iter(refused.values()))
            raise (_Transient if 400 <= code < 500 else _Permanent)(f"{code} {_text(text)}")

    def _reset(self) -> None:
        try:
            if self.conn is not None:
                self.conn.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def send(self, msg: Message) -> Delivery:
        with self.lock:
            return with_retries(lambda: self._send_once(msg), self.settings, self.limiter)

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class WebhookChannel:
    """POSTs the rendered message as JSON, signed with the workspace's tracking key
    (``X-Laketown-Signature: sha256=<hex>`` over the body)."""

    name = "webhook"

    def __init__(self, settings: EngagementSettings, sign: Any):
        self.settings, self.sign = settings, sign
        self.limiter = RateLimiter(settings.webhook_rate_per_s)

    def _post_once(self, url: str, body: bytes, key: str) -> None:
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": key,
            "X-Laketown-Signature": "sha256=" + self.sign(body)})
        try:
            with urllib.request.urlopen(req, timeout=self.settings.smtp_timeout_s) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            transient = exc.code == 429 or exc.code >= 500
            raise (_Transient if transient else _Permanent)(f"HTTP {exc.code} from {url}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise _Transient(f"webhook {url} unreachable: {exc}") from None

    def send(self, url: str, payload: dict[str, Any], key: str) -> Delivery:
        body = json.dumps(payload, default=str).encode()
        return with_retries(lambda: self._post_once(url, body, key), self.settings, self.limiter)


_OWN_SINKS: dict[str, Any] = {}


def email_channel(ws: Any, settings: EngagementSettings) -> EmailChannel:
    """The configured SMTP channel: the relay, or the workspace's sink - the one another process
    runs (``laketown engagement smtp-sink serve``), else one started in this process."""
    host, port = settings.smtp_host, settings.smtp_port
    if settings.smtp_mode == "sink" and not port:
        from laketown.apps.engagement.smtp_sink import running_sink, start_sink

        found = running_sink(ws)
        if found is None:
            key = str(ws.path)
            if key not in _OWN_SINKS:
                _OWN_SINKS[key] = start_sink(ws)
            found = (_OWN_SINKS[key].host, _OWN_SINKS[key].port)
        host, port = found
    return EmailChannel(settings, host, port)
