"""Campaigns: one message to an audience, immediately, at a time, or every N seconds, with a
holdout group and A/B variants assigned deterministically (a hash of campaign and user, so a
user lands in the same group on every run and every machine)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from laketown.apps.engagement import audience
from laketown.apps.engagement.sender import Sender, SendRequest, SendResult
from laketown.apps.engagement.store import now
from laketown.errors import LaketownError

ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class CampaignError(LaketownError):
    """A campaign definition is invalid or names something that does not exist."""


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    template: str
    weight: float = Field(1.0, gt=0)


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = "immediate"  # immediate | scheduled | recurring
    at: dt.datetime | None = None  # scheduled: first run (UTC if no offset)
    every_s: float | None = Field(None, gt=0)  # recurring: the period

    @model_validator(mode="after")
    def _check(self) -> Schedule:
        if self.type not in ("immediate", "scheduled", "recurring"):
            raise ValueError(f"schedule type {self.type!r} is not immediate, scheduled or recurring")
        if self.type == "scheduled" and self.at is None:
            raise ValueError("a scheduled campaign needs 'at' (an ISO time)")
        if self.type == "recurring" and self.every_s is None:
            raise ValueError("a recurring campaign needs 'every_s' (seconds between runs)")
        return self


class Campaign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    campaign_id: str
    template: str | None = None
    variants: list[Variant] = []
    holdout_pct: float = Field(0.0, ge=0, le=100)
    segment: str | dict[str, Any] | None = None  # saved segment name, rule JSON, or everyone
    channel: str = "email"
    schedule: Schedule = Schedule()
    conversion_event: str = "purchased"

    @model_validator(mode="after")
    def _check(self) -> Campaign:
        if not ID.match(self.campaign_id):
            raise ValueError(f"campaign_id {self.campaign_id!r} may hold letters, digits, '_', '.', '-' (1-64)")
        if (self.template is None) == (not self.variants):
            raise ValueError("give either 'template' or a list of 'variants'")
        if self.channel not in ("email", "webhook"):
            raise ValueError(f"channel {self.channel!r} is not email or webhook")
        return self

    def first_run_at(self) -> float:
        if self.schedule.type == "scheduled" and self.schedule.at is not None:
            at = self.schedule.at if self.schedule.at.tzinfo else self.schedule.at.replace(tzinfo=dt.UTC)
            return at.timestamp()
        return now()


def bucket(*parts: str) -> float:
    """A stable number in [0, 1) for the parts."""
    return int.from_bytes(hashlib.sha256(":".join(parts).encode()).digest()[:8], "big") / 2**64


def assign(campaign: Campaign, user_id: str) -> str:
    """``holdout`` or a variant name (``default`` for a single template)."""
    if bucket(campaign.campaign_id, "holdout", user_id) < campaign.holdout_pct / 100:
        return "holdout"
    if not campaign.variants:
        return "default"
    total = sum(v.weight for v in campaign.variants)
    u, acc = bucket(campaign.campaign_id, "variant", user_id) * total, 0.0
    for v in campaign.variants:
        acc += v.weight
        if u < acc:
            return v.name
    return campaign.variants[-1].name


def validate_spec(model: type[BaseModel], spec: dict[str, Any], what: str, error: type[LaketownError]) -> Any:
    """``spec`` as ``model``; the first problem raised as ``error`` naming the spec and the field."""
    try:
        return model.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or what
        raise error(f"{what} {spec.get(what + '_id')!r}: {where}: {err['msg']}") from None


def parse(spec: dict[str, Any]) -> Campaign:
    return validate_spec(Campaign, spec, "campaign", CampaignError)


class Campaigns:
    def __init__(self, sender: Sender):
        self.sender, self.store, self.ws = sender, sender.store, sender.ws

    def create(self, spec: dict[str, Any]) -> Campaign:
        c = parse(spec)
        for name in [c.template] if c.template else [v.template for v in c.variants]:
            self.sender.templates.get(name)  # unknown template: error now, not at send time
        if self.store.one("SELECT 1 FROM campaigns WHERE campaign_id=?", (c.campaign_id,)):
            raise CampaignError(f"campaign {c.campaign_id!r} already exists; pick another campaign_id")
        status = "scheduled" if c.schedule.type != "immediate" else "draft"
        self.store.execute("INSERT INTO campaigns VALUES (?,?,?,?,0,?)",
                           (c.campaign_id, c.model_dump_json(), status,
                            c.first_run_at() if c.schedule.type != "immediate" else None, now()))
        return c

    def get(self, campaign_id: str) -> tuple[Campaign, dict[str, Any]]:
        row = self.store.one("SELECT * FROM campaigns WHERE campaign_id=?", (campaign_id,))
        if row is None:
            known = ", ".join(r["campaign_id"] for r in self.store.query("SELECT campaign_id FROM campaigns")) or "none"
            raise CampaignError(f"unknown campaign {campaign_id!r}; campaigns: {known}")
        return parse(json.loads(row["spec"])), dict(row)

    def list(self) -> list[dict[str, Any]]:
        out = []
        for r in self.store.query("SELECT * FROM campaigns ORDER BY created_at"):
            counts = {s["status"]: s["n"] for s in self.store.query(
                "SELECT status, count(*) AS n FROM outbox WHERE campaign_id=? GROUP BY status", (r["campaign_id"],))}
            out.append({"campaign_id": r["campaign_id"], "status": r["status"], "runs": r["runs"],
                        "next_run_at": r["next_run_at"], "spec": json.loads(r["spec"]), "outbox": counts})
        return out

    def send(self, campaign_id: str, run: int | None = None, on_progress: Any = None) -> dict[str, Any]:
        """Run the campaign once now (again for a recurring one); a re-run of the same run
        number sends only what the earlier, interrupted attempt did not. ``on_progress(done,
        total)`` is called after each chunk."""
        c, row = self.get(campaign_id)
        run = row["runs"] if run is None else run
        self.store.execute("UPDATE campaigns SET status='running', next_run_at=coalesce(next_run_at, ?) WHERE campaign_id=?",
                           (now(), campaign_id))
        endpoints = self.sender.endpoints.to_arrow()
        users = audience.members(self.ws, c.segment, endpoints)
        templates = {v.name: v.template for v in c.variants} or {"default": c.template}
        requests, groups = [], {"holdout": 0}
        for uid in users:
            group = assign(c, uid)
            groups[group] = groups.get(group, 0) + 1
            if group == "holdout":
                continue
            requests.append(SendRequest(key=f"c:{c.campaign_id}:{run}:{uid}", user_id=uid, template=templates[group],
                                        channel=c.channel, campaign_id=c.campaign_id, variant=group))
        results = self.sender.send_batch(requests, on_progress=on_progress)
        if c.schedule.type == "recurring":
            status, nxt = "scheduled", now() + float(c.schedule.every_s or 0)
        else:
            status, nxt = "done", None
        self.store.execute("UPDATE campaigns SET status=?, next_run_at=?, runs=? WHERE campaign_id=?",
                           (status, nxt, run + 1, campaign_id))
        return {"campaign_id": campaign_id, "run": run, "audience": len(users), "groups": groups, **summarize(results)}

    def run_due(self) -> list[dict[str, Any]]:
        """Every scheduled or recurring campaign whose time has come, and runs left unfinished
        by a crash (status ``running``)."""
        rows = self.store.query("SELECT campaign_id FROM campaigns WHERE status IN ('scheduled','running') "
                                "AND next_run_at <= ?", (now(),))
        return [self.send(r["campaign_id"]) for r in rows]


def summarize(results: list[SendResult]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
    return out
