"""The demo's live engagement traffic while ``laketown demo`` serves: app events posted to the
API (carts abandoned, some purchases) start journeys in the server's worker, and recipients
open and click the messages that reach the sink by requesting their signed tracking links over
HTTP."""

from __future__ import annotations

import email
import email.policy
import json
import random
import threading
import urllib.parse
import urllib.request
from typing import Any

from laketown.apps.engagement.simulate import tracking_links


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A click is counted by the 302 itself; the shop it points to is not visited."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _wait_for(base_url: str, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with urllib.request.urlopen(base_url.rstrip("/") + "/health", timeout=2):
                return
        except OSError:
            stop.wait(0.5)


def live_engagement(ws: Any, base_url: str, stop: threading.Event, every_s: float = 2.0) -> None:
    """Until ``stop``: one app event every ``every_s`` seconds, opens and clicks on new mail."""
    from laketown.apps.engagement.smtp_sink import Mailbox, mailbox_dir
    from laketown.apps.engagement.store import Store

    _wait_for(base_url, stop)
    base = base_url.rstrip("/")
    key = ws.governance.create_api_key("admin", "engagement live traffic")
    users = [r["user_id"] for r in Store(ws).query("SELECT user_id FROM endpoints WHERE email IS NOT NULL LIMIT 500")]
    opener = urllib.request.build_opener(_NoRedirect)
    box = Mailbox(mailbox_dir(ws))
    seen = {p.name for p in box.files()}
    rng = random.Random(42)
    while users and not stop.wait(every_s):
        user = rng.choice(users)
        kind = "cart_abandoned" if rng.random() < 0.7 else "purchased"
        req = urllib.request.Request(base + "/api/engagement/events", method="POST",
                                     data=json.dumps({"user_id": user, "event_type": kind}).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
        try:
            urllib.request.urlopen(req, timeout=5).read()
        except OSError:
            continue
        for path in box.files():
            if path.name in seen:
                continue
            seen.add(path.name)
            if rng.random() > 0.5:
                continue
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for link in tracking_links(msg):
                if link["kind"] == "unsubscribe" or (link["kind"] == "click" and rng.random() > 0.4):
                    continue
                url = f"{base}/api/engagement/t/{link['kind']}?" + urllib.parse.urlencode(
                    {k: v for k, v in link.items() if k != "kind"})
                try:
                    opener.open(url, timeout=5).read()
                except OSError:  # the 302 of a click lands here too: it was counted
                    pass
