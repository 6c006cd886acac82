"""The engagement HTTP API.

``/api/engagement/t/...`` (open pixel, click redirect, unsubscribe) answers without an API key:
each link carries its own HMAC signature, and any altered link gets 400 and no redirect.
Everything else under ``/api/engagement`` needs an API key like the rest of ``/api``."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from laketown.apps.engagement.endpoints import to_arrow
from laketown.apps.engagement.service import Engagement, TrackingError
from laketown.apps.engagement.settings import app_dir
from laketown.apps.engagement.tracking import PIXEL, PREFIX
from laketown.server.auth import PrincipalDep

MAX_PAGE = 1000
JsonBody = Annotated[dict[str, Any], Body()]
JsonList = Annotated[list[dict[str, Any]], Body()]
OptionalBody = Annotated[dict[str, Any] | None, Body()]


def tracking_router(eng: Engagement) -> APIRouter:
    router = APIRouter(prefix=PREFIX.rstrip("/"), tags=["engagement tracking"])

    def bad(exc: TrackingError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @router.get("/open")
    def open_pixel(m: str = Query(..., max_length=64), s: str | None = Query(None, max_length=128)) -> Response:
        """The 1x1 open pixel; records an ``open`` event."""
        try:
            eng.track_open(m, s)
        except TrackingError as exc:
            return bad(exc)
        return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})

    @router.get("/click")
    def click(m: str = Query(..., max_length=64), u: str = Query(..., max_length=4000),
              s: str | None = Query(None, max_length=128)) -> Response:
        """Records a ``click`` and redirects to the signed target; 400 (no redirect) otherwise."""
        try:
            target = eng.track_click(m, u, s)
        except TrackingError as exc:
            return bad(exc)
        return RedirectResponse(target, status_code=302)

    @router.api_route("/unsubscribe", methods=["GET", "POST"])
    def unsubscribe(m: str = Query(..., max_length=64), s: str | None = Query(None, max_length=128)) -> Response:
        """One-click unsubscribe (RFC 8058 POST, or a click on the link); effective at once."""
        try:
            eng.unsubscribe(m, s)
        except TrackingError as exc:
            return bad(exc)
        return HTMLResponse("<!doctype html><title>Unsubscribed</title><p>You are unsubscribed. "
                            "You will not get any more messages from us.</p>")

    return router


def api_router(eng: Engagement) -> APIRouter:
    router = APIRouter(prefix="/api/engagement", tags=["engagement"])
    ws = eng.ws

    @router.get("/endpoints")
    def endpoints(principal: PrincipalDep, limit: int = Query(100, ge=1, le=MAX_PAGE)) -> dict[str, Any]:
        rows = eng.endpoints.all()
        return {"count": len(rows), "endpoints": rows[:limit]}

    @router.post("/endpoints")
    def upsert_endpoints(principal: PrincipalDep, rows: JsonList) -> dict[str, Any]:
        return {"upserted": eng.endpoints.upsert(rows)}

    @router.post("/endpoints/import-c360")
    def import_c360(principal: PrincipalDep) -> dict[str, Any]:
        return {"imported": eng.endpoints.import_c360(ws)}

    @router.post("/events")
    def ingest(principal: PrincipalDep, body: JsonBody) -> dict[str, Any]:
        """An app event ``{"user_id", "event_type", ...properties}``: journeys, conversions, lake."""
        from laketown.errors import LaketownError

        uid, etype = body.pop("user_id", None), body.pop("event_type", None)
        if not uid or not etype:
            raise LaketownError(f"an event needs 'user_id' and 'event_type'; got keys {sorted(body)}")
        return eng.ingest(str(uid), str(etype), **body)

    @router.get("/templates")
    def templates(principal: PrincipalDep) -> list[dict[str, Any]]:
        return eng.templates.list()

    @router.post("/templates")
    def save_template(principal: PrincipalDep, body: JsonBody) -> dict[str, Any]:
        eng.templates.save(body["name"], body["subject"], body["html"], body.get("text"), body.get("defaults"))
        return {"saved": body["name"]}

    @router.post("/templates/{name}/preview")
    def preview(name: str, principal: PrincipalDep, body: OptionalBody = None) -> dict[str, Any]:
        """Render for one endpoint (``user_id``) or for given attributes, without sending."""
        from laketown.apps.engagement.templates_store import render

        body = body or {}
        tpl = eng.templates.get(name)
        endpoint = eng.endpoints.get(body["user_id"]) if body.get("user_id") else None
        endpoint = endpoint or {"user_id": body.get("user_id", "preview"), "attributes": body.get("attributes", {})}
        out = render(tpl, endpoint, {"unsubscribe_url": "#unsubscribe", "recommendations": body.get("recommendations", [])})
        return {"subject": out.subject, "html": out.html, "text": out.text}

    @router.post("/templates/{name}/test-send")
    def test_send(name: str, principal: PrincipalDep, body: JsonBody) -> dict[str, Any]:
        """Send the template to one endpoint now (policies apply; a new key each time)."""
        import uuid

        from laketown.apps.engagement.sender import SendRequest

        res = eng.sender.send(SendRequest(key=f"test:{name}:{uuid.uuid4().hex}", user_id=body["user_id"], template=name))
        return res.__dict__

    @router.get("/campaigns")
    def campaigns(principal: PrincipalDep) -> list[dict[str, Any]]:
        return eng.campaigns.list()

    @router.post("/campaigns")
    def create_campaign(principal: PrincipalDep, spec: JsonBody) -> dict[str, Any]:
        c = eng.campaigns.create(spec)
        out: dict[str, Any] = {"created": c.campaign_id}
        if c.schedule.type == "immediate" and spec.get("send", True):
            out["result"] = eng.campaigns.send(c.campaign_id)
        return out

    @router.post("/campaigns/{campaign_id}/send")
    def send_campaign(campaign_id: str, principal: PrincipalDep) -> dict[str, Any]:
        return eng.campaigns.send(campaign_id)

    @router.get("/journeys")
    def journeys(principal: PrincipalDep) -> list[dict[str, Any]]:
        return eng.journeys.list()

    @router.post("/journeys")
    def create_journey(principal: PrincipalDep, spec: JsonBody) -> dict[str, Any]:
        return {"created": eng.journeys.create(spec).journey_id}

    @router.get("/kpis")
    def kpis(principal: PrincipalDep, by: str = "campaign") -> list[dict[str, Any]]:
        from laketown.apps.engagement.kpis import kpis as run

        return run(ws, by, principal=principal)

    @router.get("/churn")
    def churn(principal: PrincipalDep) -> dict[str, Any]:
        """The newest churn model's evaluation report (``engagement churn train`` or the demo)."""
        try:
            from laketown.apps.engagement.churn import latest_report
        except ImportError:
            latest_report = None
        report = latest_report(ws) if latest_report is not None else None
        if report:
            return report
        path = app_dir(ws) / "churn_metrics.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    @router.post("/segments/preview")
    def segment_preview(principal: PrincipalDep, rule: JsonBody) -> dict[str, Any]:
        """How many endpoints a rule selects now, and a few of them."""
        from laketown.apps.engagement.audience import members

        users = members(ws, rule, to_arrow(eng.endpoints.all()))
        return {"size": len(users), "sample": users[:10], "rule": rule}

    @router.post("/segments")
    def segment_save(principal: PrincipalDep, body: JsonBody) -> dict[str, Any]:
        from laketown.apps.engagement.audience import AudienceError, _engine

        engine = _engine(ws)
        if engine is None:
            raise AudienceError("saving segments needs the segment engine (segments.py), which is not installed")
        engine.save(body["name"], body["rule"])
        return {"saved": body["name"]}

    @router.get("/mailbox")
    def mailbox(principal: PrincipalDep, limit: int = Query(20, ge=1, le=200)) -> list[dict[str, Any]]:
        """The newest messages the workspace's SMTP sink received."""
        from laketown.apps.engagement.smtp_sink import Mailbox, mailbox_dir

        box = Mailbox(mailbox_dir(ws))
        out = []
        for p in box.files()[-limit:][::-1]:
            import email
            import email.policy

            msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            out.append({"to": str(msg["To"]), "subject": str(msg["Subject"]), "message_id": str(msg["Message-ID"]),
                        "date": str(msg["Date"])})
        return out

    return router
