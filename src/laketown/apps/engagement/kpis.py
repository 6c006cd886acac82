"""KPIs in SQL over ``raw.engagement_events``: per campaign, per journey step and per day -
delivery, open, click-through, conversion and unsubscribe rates (opens, clicks, conversions
and unsubscribes count users, once per message, over messages delivered)."""

from __future__ import annotations

from typing import Any

from laketown.apps.engagement.events import EVENTS_TABLE
from laketown.errors import LaketownError

#: one row per message with what happened to it
MESSAGES_SQL = f"""
SELECT campaign_id, journey_id, step_id,
       coalesce(json_extract_string(properties, '$.message_id'), event_id) AS message_id,
       min(ts) FILTER (WHERE event_type = 'send') AS sent_at,
       bool_or(event_type = 'send') AS sent, bool_or(event_type = 'delivered') AS delivered,
       bool_or(event_type = 'bounce') AS bounced, bool_or(event_type = 'open') AS opened,
       bool_or(event_type = 'click') AS clicked, bool_or(event_type = 'conversion') AS converted,
       bool_or(event_type = 'unsubscribe') AS unsubscribed
FROM {EVENTS_TABLE}
WHERE event_type IN ('send', 'delivered', 'bounce', 'open', 'click', 'conversion', 'unsubscribe')
GROUP BY ALL
"""

RATES = """
count(*) FILTER (WHERE sent) AS sent,
count(*) FILTER (WHERE delivered) AS delivered,
count(*) FILTER (WHERE bounced) AS bounced,
count(*) FILTER (WHERE opened) AS opened,
count(*) FILTER (WHERE clicked) AS clicked,
count(*) FILTER (WHERE converted) AS converted,
count(*) FILTER (WHERE unsubscribed) AS unsubscribed,
round(count(*) FILTER (WHERE delivered) / nullif(count(*) FILTER (WHERE sent), 0), 4) AS delivery_rate,
round(count(*) FILTER (WHERE opened) / nullif(count(*) FILTER (WHERE delivered), 0), 4) AS open_rate,
round(count(*) FILTER (WHERE clicked) / nullif(count(*) FILTER (WHERE delivered), 0), 4) AS click_through_rate,
round(count(*) FILTER (WHERE converted) / nullif(count(*) FILTER (WHERE delivered), 0), 4) AS conversion_rate,
round(count(*) FILTER (WHERE unsubscribed) / nullif(count(*) FILTER (WHERE delivered), 0), 4) AS unsubscribe_rate
"""

QUERIES = {
    "campaign": f"SELECT campaign_id, {RATES} FROM ({MESSAGES_SQL}) m WHERE campaign_id IS NOT NULL "
                "GROUP BY campaign_id ORDER BY campaign_id",
    "journey_step": f"SELECT journey_id, step_id, {RATES} FROM ({MESSAGES_SQL}) m WHERE journey_id IS NOT NULL "
                    "GROUP BY journey_id, step_id ORDER BY journey_id, step_id",
    "day": f"SELECT CAST(date_trunc('day', sent_at) AS DATE) AS day, {RATES} FROM ({MESSAGES_SQL}) m "
           "WHERE sent_at IS NOT NULL GROUP BY 1 ORDER BY 1",
    "hour": f"SELECT date_trunc('hour', sent_at) AS hour, {RATES} FROM ({MESSAGES_SQL}) m "
            "WHERE sent_at IS NOT NULL GROUP BY 1 ORDER BY 1",
}


def kpis(ws: Any, by: str = "campaign", principal: str | None = None) -> list[dict[str, Any]]:
    """KPI rows grouped ``by`` campaign, journey_step, day or hour ([] before any event)."""
    if by not in QUERIES:
        raise LaketownError(f"KPIs by {by!r}: choose one of {', '.join(QUERIES)}")
    if not ws.lake.exists(EVENTS_TABLE):
        return []
    return ws.sql(QUERIES[by], principal=principal).to_pylist()
