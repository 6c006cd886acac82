"""Who may get a message now: consent and unsubscribes, the frequency cap across campaigns and
journeys, and quiet hours in the user's own timezone."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from laketown.apps.engagement.settings import EngagementSettings
from laketown.errors import ConfigError


def _hhmm(value: str, what: str) -> dt.time:
    try:
        h, m = value.split(":")
        return dt.time(int(h), int(m))
    except ValueError:
        raise ConfigError(f"{what} {value!r} is not a time of day; write it as HH:MM, e.g. '22:00'") from None


def quiet_until(settings: EngagementSettings, timezone: str, at: float) -> float | None:
    """When the user's quiet hours end (Unix seconds) if ``at`` falls inside them, else None."""
    if not settings.quiet_start or not settings.quiet_end:
        return None
    start, end = _hhmm(settings.quiet_start, "quiet_start"), _hhmm(settings.quiet_end, "quiet_end")
    tz = ZoneInfo(timezone or settings.default_timezone)
    local = dt.datetime.fromtimestamp(at, tz)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date() if t < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(end_day, end, tzinfo=tz).timestamp()


def block_reason(endpoint: dict[str, Any] | None, channel: str) -> str | None:
    """Why this endpoint must not receive on ``channel`` (None: it may)."""
    if endpoint is None:
        return "unknown user"
    if endpoint["unsubscribed"]:
        return "unsubscribed"
    if not endpoint["opt_in"]:
        return "no consent"
    if channel == "email" and not endpoint.get("email"):
        return "no email address"
    if channel == "webhook" and not endpoint.get("webhook_url"):
        return "no webhook url"
    return None


def over_cap(store: Any, settings: EngagementSettings, user_id: str, at: float) -> bool:
    """True when the user already got ``frequency_cap`` messages within the window."""
    if settings.frequency_cap <= 0:
        return False
    row = store.one("SELECT count(*) AS n FROM outbox WHERE user_id=? AND status IN ('sending','sent','unknown') "
                    "AND created_at > ?", (user_id, at - settings.frequency_window_s))
    return row["n"] >= settings.frequency_cap
