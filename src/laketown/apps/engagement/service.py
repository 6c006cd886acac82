"""The engagement service: one object over a workspace that the API, the CLI, the demo and
user code share (``Engagement(ws)``), and the worker thread that runs due journey steps,
scheduled campaigns and messages held back by quiet hours."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from typing import Any

from laketown.apps.engagement.campaigns import Campaigns
from laketown.apps.engagement.events import EventLog, event
from laketown.apps.engagement.journeys import Journeys
from laketown.apps.engagement.sender import Sender
from laketown.apps.engagement.settings import EngagementSettings, app_dir, load
from laketown.apps.engagement.store import Store, now
from laketown.errors import LaketownError

ATTRIBUTION_S = 7 * 86_400
log = logging.getLogger("laketown.engagement")


class TrackingError(LaketownError):
    """A tracking link was altered or names an unknown message (HTTP 400)."""


class Engagement:
    def __init__(self, ws: Any, settings: EngagementSettings | None = None, **overrides: Any):
        self.ws = ws
        self.settings = settings or load(ws, **overrides)
        self.store = Store(ws)
        self.events = EventLog(ws)
        self.sender = Sender(ws, self.settings, self.store, self.events)
        self.endpoints = self.sender.endpoints
        self.templates = self.sender.templates
        self.campaigns = Campaigns(self.sender)
        self.journeys = Journeys(self.sender)
        self.signer = self.sender.signer
        self._pending_events: list[dict[str, Any]] = []
        self._pending_lock = threading.Lock()
        self.events.listeners.append(self._remember)
        self._segments: Any = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock_fd: int | None = None

    # -- app events ------------------------------------------------------------------------
    def ingest(self, user_id: str, event_type: str, advance: bool = True, **properties: Any) -> dict[str, Any]:
        """An event from the customer's app (``cart_abandoned``, ``purchased`` ...): to the
        events stream, into the journeys it triggers, and a ``conversion`` for the message that
        led to it when a campaign counts this event type as its conversion."""
        evs = [event(user_id, event_type, **properties)]
        conv = self._attribute(user_id, event_type)
        if conv is not None:
            evs.append(conv)
        self.events.emit(evs)
        entered = self.journeys.on_event(user_id, event_type, advance=advance)
        return {"event_id": evs[0]["event_id"], "journeys": entered, "conversion": conv is not None}

    def _attribute(self, user_id: str, event_type: str) -> dict[str, Any] | None:
        row = self.store.one(
            "SELECT o.* FROM outbox o LEFT JOIN campaigns c ON c.campaign_id = o.campaign_id "
            "WHERE o.user_id=? AND o.status='sent' AND o.sent_at > ? "
            "AND (json_extract(c.spec, '$.conversion_event') = ? OR (o.journey_id IS NOT NULL AND ? = 'purchased')) "
            "ORDER BY o.sent_at DESC LIMIT 1", (user_id, now() - ATTRIBUTION_S, event_type, event_type))
        if row is None:
            return None
        return event(user_id, "conversion", event_id=f"{row['message_id']}:conversion", campaign_id=row["campaign_id"],
                     journey_id=row["journey_id"], step_id=row["step_id"], message_id=row["message_id"],
                     conversion_event=event_type)

    # -- segments kept up to date ----------------------------------------------------------
    def _remember(self, events: list[dict[str, Any]]) -> None:
        with self._pending_lock:
            self._pending_events.extend(events)
            del self._pending_events[:-100_000]  # a worker that never ticks must not grow without bound

    def refresh_segments(self) -> dict[str, Any]:
        """Re-check the saved dynamic segments for the users whose events arrived since the
        last call (``SegmentEngine.apply_events``); {} without the segment engine."""
        with self._pending_lock:
            events, self._pending_events = self._pending_events, []
        if not events:
            return {}
        if self._segments is None:
            try:
                from laketown.apps.engagement.segments import SegmentEngine
            except ImportError:
                return {}
            self._segments = SegmentEngine(self.ws, endpoints=self.endpoints.to_arrow)
        import datetime as dt

        import pyarrow as pa

        from laketown.apps.engagement.events import EVENTS_SCHEMA

        rows = [{**e, "ts": dt.datetime.fromisoformat(e["ts"])} for e in events]
        return self._segments.apply_events(pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA))

    # -- tracking --------------------------------------------------------------------------
    def _message(self, token: str) -> Any:
        row = self.store.one("SELECT * FROM outbox WHERE message_id=?", (token,))
        if row is None:
            raise TrackingError(f"unknown message {token!r}")
        return row

    def _track(self, row: Any, kind: str, **props: Any) -> None:
        self.events.emit([event(row["user_id"], kind, campaign_id=row["campaign_id"], journey_id=row["journey_id"],
                                step_id=row["step_id"], message_id=row["message_id"], **props)])

    def track_open(self, token: str, signature: str | None) -> None:
        if not self.signer.verify(signature, "open", token):
            raise TrackingError("open pixel signature does not match")
        self._track(self._message(token), "open")

    def track_click(self, token: str, target: str, signature: str | None) -> str:
        """The verified target of a click link (raises :class:`TrackingError` for any change)."""
        from laketown.apps.engagement.tracking import safe_target

        if not self.signer.verify(signature, "click", token, target) or not safe_target(target):
            raise TrackingError("click link signature does not match its target")
        self._track(self._message(token), "click", url=target)
        return target

    def unsubscribe(self, token: str, signature: str | None) -> str:
        if not self.signer.verify(signature, "unsubscribe", token):
            raise TrackingError("unsubscribe link signature does not match")
        row = self._message(token)
        self.endpoints.unsubscribe(row["user_id"])
        self._track(row, "unsubscribe")
        return row["user_id"]

    # -- the worker ------------------------------------------------------------------------
    def tick(self) -> dict[str, int]:
        """One round of due work."""
        advanced = self.journeys.run_due()
        ran = len(self.campaigns.run_due())
        deferred = len(self.sender.dispatch_deferred())
        changed = len(self.refresh_segments())
        return {"journey_users": advanced, "campaign_runs": ran, "deferred_sent": deferred, "segments_changed": changed}

    def acquire_worker_lock(self) -> bool:
        """One worker per workspace (it alone settles interrupted sends)."""
        fd = os.open(app_dir(self.ws) / "worker.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def run_worker(self, stop: threading.Event | None = None, max_seconds: float | None = None,
                   until_idle: bool = False) -> dict[str, Any]:
        """Recover interrupted sends, then tick until stopped (or idle with ``until_idle``:
        no active journey users and nothing scheduled)."""
        if self._lock_fd is None and not self.acquire_worker_lock():
            raise LaketownError("another engagement worker runs on this workspace; stop it first")
        stop = stop or self._stop
        recovered = self.sender.recover()
        deadline = None if max_seconds is None else now() + max_seconds
        totals = {"journey_users": 0, "campaign_runs": 0, "deferred_sent": 0, "segments_changed": 0}
        while not stop.is_set():
            try:
                got = self.tick()
            except LaketownError as exc:  # e.g. no SMTP server yet: say so, keep the worker alive
                log.warning("engagement worker: %s", exc)
                got = {}
            for k, v in got.items():
                totals[k] += v
            if deadline is not None and now() >= deadline:
                break
            if until_idle and not any(got.values()) and self.idle():
                break
            stop.wait(self.settings.tick_s)
        return {"recovered": recovered, **totals}

    def idle(self) -> bool:
        busy = self.store.one(
            "SELECT (SELECT count(*) FROM journey_state WHERE status='active') + "
            "(SELECT count(*) FROM outbox WHERE status IN ('deferred','sending')) + "
            "(SELECT count(*) FROM campaigns WHERE status IN ('scheduled','running')) AS n")
        return busy["n"] == 0

    def start_worker(self) -> bool:
        """Run the worker in a daemon thread if no other process runs one."""
        if self._worker is not None or not self.acquire_worker_lock():
            return False
        self._worker = threading.Thread(target=self.run_worker, name="engagement-worker", daemon=True)
        self._worker.start()
        return True

    def close(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=10)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self.sender.close()
        self.events.close()
        self.store.close()
