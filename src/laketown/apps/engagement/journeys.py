"""Journeys: event-triggered flows of activities - send, wait, yes/no split, random split,
holdout, exit (Pinpoint's journey activities).

Each user's place in a journey is a row in the operational store, moved one activity at a
time in its own transaction. A send's idempotency key is (journey, entry time, step, user): a
process killed anywhere re-runs the step after a restart and the outbox refuses a second
send, or the crash recovery (``Sender.recover``) settles a send that was in flight.

Example::

    {"journey_id": "cart", "trigger": "cart_abandoned", "start": "wait",
     "steps": {"wait": {"type": "wait", "seconds": 1800, "next": "check"},
               "check": {"type": "split", "condition": {"event": "purchased"}, "yes": "end", "no": "remind"},
               "remind": {"type": "send", "template": "cart_reminder", "next": "end"},
               "end": {"type": "exit"}}}
"""

from __future__ import annotations

import json
import threading
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from laketown.apps.engagement import audience
from laketown.apps.engagement.campaigns import ID, bucket, validate_spec
from laketown.apps.engagement.sender import Sender, SendRequest
from laketown.apps.engagement.store import now
from laketown.errors import LaketownError


class JourneyError(LaketownError):
    """A journey definition is invalid or names something that does not exist."""


class Branch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float = Field(gt=0)
    next: str


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["send", "wait", "split", "random_split", "holdout", "exit"]
    next: str | None = None
    template: str | None = None  # send
    channel: str = "email"  # send
    seconds: float | None = Field(None, ge=0)  # wait
    condition: dict[str, Any] | None = None  # split: {"event": TYPE} since entry, or an attribute rule
    yes: str | None = None
    no: str | None = None
    branches: list[Branch] = []  # random_split
    pct: float = Field(0.0, ge=0, le=100)  # holdout: share of users that leave here


class Journey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    journey_id: str
    trigger: str
    start: str
    steps: dict[str, Step]
    reentry: bool = False

    @model_validator(mode="after")
    def _check(self) -> Journey:
        if not ID.match(self.journey_id):
            raise ValueError(f"journey_id {self.journey_id!r} may hold letters, digits, '_', '.', '-' (1-64)")
        if self.start not in self.steps:
            raise ValueError(f"start step {self.start!r} is not one of the steps: {', '.join(self.steps)}")
        for sid, s in self.steps.items():
            need = {"send": ["next", "template"], "wait": ["next", "seconds"], "split": ["condition", "yes", "no"],
                    "holdout": ["next"], "random_split": [], "exit": []}[s.type]
            for attr in need:
                if getattr(s, attr) is None:
                    raise ValueError(f"step {sid!r} ({s.type}) needs {attr!r}")
            if s.type == "random_split" and not s.branches:
                raise ValueError(f"step {sid!r} (random_split) needs 'branches'")
            targets = [s.next, s.yes, s.no] + [b.next for b in s.branches]
            for t in targets:
                if t is not None and t not in self.steps:
                    raise ValueError(f"step {sid!r} leads to {t!r}, which is not a step")
        return self


def parse(spec: dict[str, Any]) -> Journey:
    return validate_spec(Journey, spec, "journey", JourneyError)


class Journeys:
    """Definitions, entries (from events) and the advance of each user through the steps."""

    def __init__(self, sender: Sender):
        self.sender, self.store = sender, sender.store
        self._lock = threading.RLock()
        self._cache: dict[str, tuple[str, Journey]] = {}

    # -- definitions -----------------------------------------------------------------------
    def create(self, spec: dict[str, Any], replace: bool = False) -> Journey:
        j = parse(spec)
        for s in j.steps.values():
            if s.type == "send":
                self.sender.templates.get(s.template or "")
        if not replace and self.store.one("SELECT 1 FROM journeys WHERE journey_id=?", (j.journey_id,)):
            raise JourneyError(f"journey {j.journey_id!r} already exists; pick another journey_id or replace it")
        self.store.execute("INSERT OR REPLACE INTO journeys VALUES (?,?,1,?)", (j.journey_id, j.model_dump_json(), now()))
        return j

    def get(self, journey_id: str) -> Journey:
        row = self.store.one("SELECT spec FROM journeys WHERE journey_id=?", (journey_id,))
        if row is None:
            known = ", ".join(r["journey_id"] for r in self.store.query("SELECT journey_id FROM journeys")) or "none"
            raise JourneyError(f"unknown journey {journey_id!r}; journeys: {known}")
        cached = self._cache.get(journey_id)
        if cached is None or cached[0] != row["spec"]:
            cached = (row["spec"], Journey.model_validate_json(row["spec"]))
            self._cache[journey_id] = cached
        return cached[1]

    def active(self) -> list[Journey]:
        return [self.get(r["journey_id"]) for r in self.store.query("SELECT journey_id FROM journeys WHERE active=1")]

    def set_active(self, journey_id: str, active: bool) -> None:
        self.get(journey_id)
        self.store.execute("UPDATE journeys SET active=? WHERE journey_id=?", (int(active), journey_id))

    # -- events ----------------------------------------------------------------------------
    def on_event(self, user_id: str, event_type: str, ts: float | None = None, advance: bool = True) -> list[str]:
        """Record an app event; enter the user into every active journey it triggers (and, with
        ``advance``, run their first activities now). Returns the journeys entered."""
        ts = ts or now()
        entered = []
        with self.store.tx() as db:
            db.execute("INSERT INTO user_events VALUES (?,?,?)", (user_id, event_type, ts))
            for j in self.active():
                if j.trigger != event_type:
                    continue
                old = db.execute("SELECT status FROM journey_state WHERE journey_id=? AND user_id=?",
                                 (j.journey_id, user_id)).fetchone()
                if old is not None and (old["status"] == "active" or not j.reentry):
                    continue
                db.execute("INSERT OR REPLACE INTO journey_state VALUES (?,?,?, 'active', ?, ?, ?)",
                           (j.journey_id, user_id, j.start, ts, ts, ts))
                entered.append(j.journey_id)
        if advance:
            for jid in entered:
                self.advance(jid, user_id)
        return entered

    def run_due(self, limit: int = 500) -> int:
        """Advance every user whose next activity is due; returns how many were advanced."""
        rows = self.store.query("SELECT journey_id, user_id FROM journey_state WHERE status='active' AND due_at <= ? "
                                "ORDER BY due_at LIMIT ?", (now(), limit))
        for r in rows:
            self.advance(r["journey_id"], r["user_id"])
        return len(rows)

    # -- the state machine -----------------------------------------------------------------
    def advance(self, journey_id: str, user_id: str) -> str:
        """Run activities for one user until a wait, a deferral or the exit; returns the status."""
        with self._lock:
            j = self.get(journey_id)
            for _ in range(len(j.steps) * 4 + 4):
                st = self.store.one("SELECT * FROM journey_state WHERE journey_id=? AND user_id=?", (journey_id, user_id))
                if st is None or st["status"] != "active" or st["due_at"] > now():
                    return st["status"] if st else "absent"
                sid, step = st["step_id"], j.steps[st["step_id"]]
                self.store.execute("INSERT OR IGNORE INTO journey_visits VALUES (?,?,?,?)", (journey_id, sid, user_id, now()))
                nxt, due, status = self._run_step(j, sid, step, user_id, st)
                if status == "deferred":
                    self.store.execute("UPDATE journey_state SET due_at=?, updated_at=? WHERE journey_id=? AND user_id=?",
                                       (due, now(), journey_id, user_id))
                    return "deferred"
                self.store.execute("UPDATE journey_state SET step_id=?, status=?, due_at=?, updated_at=? "
                                   "WHERE journey_id=? AND user_id=?",
                                   (nxt or sid, status, due, now(), journey_id, user_id))
                if status != "active":
                    return status
            raise JourneyError(f"journey {journey_id!r} loops without a wait for user {user_id!r}; add a wait or an exit")

    def _run_step(self, j: Journey, sid: str, step: Step, user_id: str, st: Any) -> tuple[str | None, float, str]:
        t = now()
        if step.type == "exit":
            return sid, t, "done"
        if step.type == "wait":
            return step.next, t + float(step.seconds or 0), "active"
        if step.type == "send":
            key = f"j:{j.journey_id}:{st['entered_at']:.6f}:{sid}:{user_id}"
            res = self.sender.send(SendRequest(key=key, user_id=user_id, template=step.template or "",
                                               channel=step.channel, journey_id=j.journey_id, step_id=sid))
            if res.status == "deferred":
                return sid, float(res.due_at or t), "deferred"
            return step.next, t, "active"
        if step.type == "split":
            return (step.yes if self._holds(step.condition or {}, user_id, st["entered_at"]) else step.no), t, "active"
        if step.type == "random_split":
            total = sum(b.weight for b in step.branches)
            u, acc = bucket(j.journey_id, sid, user_id) * total, 0.0
            for b in step.branches:
                acc += b.weight
                if u < acc:
                    return b.next, t, "active"
            return step.branches[-1].next, t, "active"
        # holdout: a stable share of users leaves the journey here
        if bucket(j.journey_id, sid, user_id) < step.pct / 100:
            return sid, t, "held_out"
        return step.next, t, "active"

    def _holds(self, cond: dict[str, Any], user_id: str, since: float) -> bool:
        if "event" in cond:
            row = self.store.one("SELECT count(*) AS n FROM user_events WHERE user_id=? AND event_type=? AND ts >= ?",
                                 (user_id, cond["event"], since))
            return row["n"] >= int(cond.get("value", 1))
        endpoint = self.sender.endpoints.get(user_id)
        if endpoint is None:
            return False
        return audience.matches(cond, {**endpoint["attributes"], **{k: v for k, v in endpoint.items() if k != "attributes"}})

    # -- reporting -------------------------------------------------------------------------
    def step_counts(self, journey_id: str) -> list[dict[str, Any]]:
        """Per step: users who reached it, users there now, messages sent/bounced from it."""
        j = self.get(journey_id)
        visits = {r["step_id"]: r["n"] for r in self.store.query(
            "SELECT step_id, count(*) AS n FROM journey_visits WHERE journey_id=? GROUP BY step_id", (journey_id,))}
        current = {r["step_id"]: r["n"] for r in self.store.query(
            "SELECT step_id, count(*) AS n FROM journey_state WHERE journey_id=? AND status='active' GROUP BY step_id",
            (journey_id,))}
        sent = {(r["step_id"], r["status"]): r["n"] for r in self.store.query(
            "SELECT step_id, status, count(*) AS n FROM outbox WHERE journey_id=? GROUP BY step_id, status", (journey_id,))}
        return [{"step_id": sid, "type": s.type, "reached": visits.get(sid, 0), "waiting": current.get(sid, 0),
                 "sent": sent.get((sid, "sent"), 0), "bounced": sent.get((sid, "bounced"), 0)}
                for sid, s in j.steps.items()]

    def list(self) -> list[dict[str, Any]]:
        out = []
        for r in self.store.query("SELECT * FROM journeys ORDER BY created_at"):
            states = {s["status"]: s["n"] for s in self.store.query(
                "SELECT status, count(*) AS n FROM journey_state WHERE journey_id=? GROUP BY status", (r["journey_id"],))}
            out.append({"journey_id": r["journey_id"], "active": bool(r["active"]), "spec": json.loads(r["spec"]),
                        "users": states, "steps": self.step_counts(r["journey_id"])})
        return out
