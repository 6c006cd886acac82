"""Synthetic endpoints and engagement behaviour for the demo, tests and benchmarks: users with
names, cities, timezones and plans; opens and clicks made by following the real signed links
in the messages the SMTP sink received."""

from __future__ import annotations

import random
import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

GIVEN = ["Ada", "Ben", "Chloe", "Dev", "Elif", "Femi", "Greta", "Hugo", "Ines", "Jun", "Kofi", "Lena", "Mateo", "Nia"]
CITIES = [("Paris", "Europe/Paris"), ("Lagos", "Africa/Lagos"), ("Tokyo", "Asia/Tokyo"),
          ("Austin", "America/Chicago"), ("Lima", "America/Lima"), ("Oslo", "Europe/Oslo")]
PLANS = ["basic", "plus", "pro"]
LINK = re.compile(r'(?:href|src)="([^"]+/api/engagement/t/[^"]+)"')


def endpoints(n: int, seed: int = 0, domain: str = "example.com") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        city, tz = CITIES[rng.randrange(len(CITIES))]
        out.append({"user_id": f"U{i:05d}", "email": f"user{i}@{domain}", "timezone": tz,
                    "given_name": GIVEN[i % len(GIVEN)], "city": city, "plan": rng.choice(PLANS),
                    "tenure_months": float(rng.randint(1, 72)), "monthly_charges": round(rng.uniform(15, 120), 2)})
    return out


def tracking_links(message: Any) -> list[dict[str, str]]:
    """The tracking links of a stored message: kind (open, click, unsubscribe) and parameters."""
    body = message.get_body(("html",))
    html = body.get_content() if body is not None else ""
    out = []
    for url in LINK.findall(html):
        parts = urlsplit(unescape(url))
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        out.append({"kind": parts.path.rsplit("/", 1)[-1], **q})
    return out


def engage(eng: Any, messages: list[Any], open_p: float = 0.45, click_p: float = 0.35, seed: int = 0) -> dict[str, int]:
    """Recipients open (and some click) their messages through the signed links."""
    rng = random.Random(seed)
    counts = {"opens": 0, "clicks": 0}
    for msg in messages:
        links = tracking_links(msg)
        if rng.random() >= open_p:
            continue
        for link in links:
            if link["kind"] == "open":
                eng.track_open(link["m"], link.get("s"))
                counts["opens"] += 1
        clicks = [link for link in links if link["kind"] == "click"]
        if clicks and rng.random() < click_p:
            eng.track_click(clicks[0]["m"], clicks[0]["u"], clicks[0].get("s"))
            counts["clicks"] += 1
    return counts
