"""A workspace with the engagement app, its SMTP sink (a real aiosmtpd server on 127.0.0.1) and
a few endpoints. Retries back off in milliseconds so that failure tests stay quick."""

from __future__ import annotations

import pytest

import laketown
from laketown.apps.engagement.service import Engagement
from laketown.apps.engagement.smtp_sink import start_sink

FAST = {"retry_backoff_s": 0.01, "email_rate_per_s": 0, "tick_s": 0.05}


@pytest.fixture
def ws(tmp_path):
    workspace = laketown.connect(tmp_path / "ws")
    yield workspace
    workspace.close()


@pytest.fixture
def sink(ws):
    s = start_sink(ws)
    yield s
    s.stop()


@pytest.fixture
def eng(ws, sink):
    e = Engagement(ws, **FAST)
    yield e
    e.close()


def people(n: int, **extra) -> list[dict]:
    return [{"user_id": f"u{i}", "email": f"u{i}@example.org", "given_name": f"Name{i}", "timezone": "UTC", **extra}
            for i in range(n)]


def sent_to(sink) -> list[str]:
    return [str(m["To"]) for m in sink.mailbox.messages()]
