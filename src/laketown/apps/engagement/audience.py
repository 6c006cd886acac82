"""Who a campaign targets: every endpoint, a saved segment, or a rule, through the segment
engine (``segments.SegmentEngine``). Until that module is there, attribute rules are evaluated
here in plain Python (no events, no models) so campaigns work on their own; journeys' yes/no
splits on attributes use the same per-user check."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from laketown.errors import LaketownError


class AudienceError(LaketownError):
    """A campaign's segment cannot be evaluated."""


def _engine(ws: Any) -> Any | None:
    try:
        from laketown.apps.engagement.segments import SegmentEngine
    except ImportError:
        return None
    return SegmentEngine(ws)


def members(ws: Any, segment: str | dict[str, Any] | None, endpoints: pa.Table) -> list[str]:
    """User ids of the audience: all endpoints (None), a saved segment (its name) or a rule."""
    if segment is None:
        return endpoints.column("user_id").to_pylist()
    engine = _engine(ws)
    if isinstance(segment, str):
        if engine is None:
            raise AudienceError(f"saved segment {segment!r} needs the segment engine (segments.py), which is not installed")
        known = set(endpoints.column("user_id").to_pylist())  # a saved segment may hold non-endpoints
        return [u for u in map(str, engine.members(segment).column("user_id").to_pylist()) if u in known]
    if engine is not None:
        # events (raw.engagement_events) and model scores come from the lake by default
        return [str(u) for u in engine.evaluate(segment, endpoints).column("user_id").to_pylist()]
    rows = endpoints.to_pylist()
    return [r["user_id"] for r in rows if matches(segment, r)]


def matches(rule: dict[str, Any], row: dict[str, Any]) -> bool:
    """Attribute-only evaluation of the rule JSON for one endpoint row."""
    if "all" in rule:
        return all(matches(r, row) for r in rule["all"])
    if "any" in rule:
        return any(matches(r, row) for r in rule["any"])
    if "not" in rule:
        return not matches(rule["not"], row)
    if "attr" not in rule:
        raise AudienceError(f"condition {rule!r} needs the segment engine (segments.py); only attribute rules work without it")
    v, op, want = row.get(rule["attr"]), rule.get("op", "eq"), rule.get("value")
    if op == "exists":
        return v is not None
    if v is None:
        return op == "ne"
    try:
        return {"eq": lambda: v == want, "ne": lambda: v != want, "lt": lambda: v < want, "lte": lambda: v <= want,
                "gt": lambda: v > want, "gte": lambda: v >= want, "in": lambda: v in want,
                "contains": lambda: str(want) in str(v)}[op]()
    except KeyError:
        raise AudienceError(f"unknown op {op!r} in {rule!r}; ops: eq ne lt lte gt gte in contains exists") from None
    except TypeError:
        return False
