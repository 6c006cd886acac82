"""The engagement step of ``laketown demo``: endpoints, a campaign with A/B variants and a
holdout, and a cart-abandonment journey, all delivered to the local SMTP sink; simulated opens
and clicks through the signed links; the churn model (when its module is installed); events to
``raw.engagement_events`` and the KPIs over them."""

from __future__ import annotations

import json
import random
import time
from typing import Any

from laketown.apps.engagement import simulate
from laketown.apps.engagement.events import deliver
from laketown.apps.engagement.kpis import kpis
from laketown.apps.engagement.settings import app_dir

WELCOME_HTML = """<html><body><p>Hi {{ given_name }},</p>
<p>Spring is here in {{ city }}: {{ offer }} on your {{ plan }} plan.</p>
{% if recommendations %}<ul>{% for r in recommendations %}<li>{{ r.item_id }}</li>{% endfor %}</ul>{% endif %}
<p><a href="https://shop.example.com/spring?plan={{ plan }}">See the offers</a></p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""
REMINDER_HTML = """<html><body><p>{{ given_name }}, you left something in your cart.</p>
<p><a href="https://shop.example.com/cart">Back to your cart</a></p></body></html>"""

CART_JOURNEY = {
    "journey_id": "cart_abandonment", "trigger": "cart_abandoned", "start": "holdout",
    "steps": {
        "holdout": {"type": "holdout", "pct": 10, "next": "wait"},
        "wait": {"type": "wait", "seconds": 1.0, "next": "purchased"},
        "purchased": {"type": "split", "condition": {"event": "purchased"}, "yes": "end", "no": "remind"},
        "remind": {"type": "send", "template": "cart_reminder", "next": "end"},
        "end": {"type": "exit"},
    },
}


RETENTION_HTML = """<html><body><p>We would hate to see you go.</p>
<p>Here is a month on us: <a href="https://shop.example.com/stay">keep your plan</a>.</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""


def churn_loop(eng: Any, progress: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Train and score the churn model (its own module), then a retention campaign to the
    refreshed ``churn_risk`` segment: the scored customers become endpoints of the demo."""
    try:
        from laketown.apps.engagement.churn import train_and_score
    except ImportError:
        return {"note": "churn model not installed (laketown.apps.engagement.churn)"}, None
    ws = eng.ws
    churn = train_and_score(ws, progress=progress)
    (app_dir(ws) / "churn_metrics.json").write_text(json.dumps(churn, default=str))
    try:
        from laketown.apps.engagement.segments import SegmentEngine

        members = SegmentEngine(ws).members("churn_risk").column("user_id").to_pylist()
    except Exception as exc:  # noqa: BLE001 - the demo reports what it could not do and goes on
        return churn, {"skipped": f"no churn_risk segment: {exc}"}
    eng.endpoints.upsert([{"user_id": str(u), "email": f"{str(u).lower()}@telco.example.com", "source": "telco"}
                          for u in members])
    eng.templates.save("retention", "A month on us", RETENTION_HTML)
    cid = f"retention_{int(time.time())}"
    eng.campaigns.create({"campaign_id": cid, "template": "retention", "segment": "churn_risk"})
    return churn, eng.campaigns.send(cid)


def demo_step(ws: Any, progress: Any, n_users: int = 300) -> dict[str, Any]:
    from laketown.apps.engagement.service import Engagement
    from laketown.apps.engagement.smtp_sink import Mailbox, mailbox_dir

    task = progress.add_task("customer engagement", total=5)
    t0 = time.perf_counter()
    eng = Engagement(ws, email_rate_per_s=0, tick_s=0.05)
    try:
        eng.endpoints.upsert(simulate.endpoints(n_users, seed=7))
        c360 = eng.endpoints.import_c360(ws)
        eng.endpoints.export_to_lake(ws)
        eng.templates.save("spring_a", "{{ given_name }}, spring offers inside", WELCOME_HTML, defaults={"offer": "10 % off"})
        eng.templates.save("spring_b", "Spring in {{ city }}: {{ offer }}", WELCOME_HTML, defaults={"offer": "15 % off"})
        eng.templates.save("cart_reminder", "Your cart is waiting, {{ given_name | default('friend') }}", REMINDER_HTML)
        progress.advance(task)

        box = Mailbox(mailbox_dir(ws))
        before = box.count()
        campaign_id = f"spring_sale_{int(time.time())}"
        eng.campaigns.create({"campaign_id": campaign_id, "holdout_pct": 10,
                              "variants": [{"name": "A", "template": "spring_a"}, {"name": "B", "template": "spring_b"}]})
        result = eng.campaigns.send(campaign_id)
        progress.advance(task)

        if not any(j["journey_id"] == CART_JOURNEY["journey_id"] for j in eng.journeys.list()):
            eng.journeys.create(CART_JOURNEY)
        rng = random.Random(1)
        carts = rng.sample(range(n_users), n_users // 5)
        for i in carts:
            eng.ingest(f"U{i:05d}", "cart_abandoned")
        for i in carts[: len(carts) // 3]:
            eng.ingest(f"U{i:05d}", "purchased")
        eng.run_worker(until_idle=True, max_seconds=20)
        progress.advance(task)

        new_messages = box.messages()[before:]
        engaged = simulate.engage(eng, new_messages, seed=3)
        unsubscribed = 0
        for msg in rng.sample(new_messages, min(len(new_messages), n_users // 50)):  # a few leave, by their link
            for link in simulate.tracking_links(msg):
                if link["kind"] == "unsubscribe":
                    eng.unsubscribe(link["m"], link.get("s"))
                    unsubscribed += 1
        progress.advance(task)

        churn, retention = churn_loop(eng, progress)
        written = deliver(ws)
        progress.advance(task)
        by_campaign = {r["campaign_id"]: r for r in kpis(ws, "campaign")}
        return {
            "endpoints": eng.endpoints.count(), "c360_imported": c360, "campaign": result,
            "journey_steps": {s["step_id"]: s["reached"] for s in eng.journeys.step_counts("cart_abandonment")},
            "messages_at_sink": box.count() - before, **engaged, "unsubscribed": unsubscribed, "events_to_lake": written,
            "kpis": {k: by_campaign.get(campaign_id, {}).get(k) for k in
                     ("delivery_rate", "open_rate", "click_through_rate", "conversion_rate")},
            "churn": churn, "retention_campaign": retention, "wall_s": round(time.perf_counter() - t0, 2),
        }
    finally:
        eng.close()
