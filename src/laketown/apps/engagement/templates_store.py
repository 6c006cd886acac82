"""Message templates: Jinja2 in a sandbox, personalization variables with defaults, and
recommendations from the recommendations app's HTTP API when it answers.

Variables: every attribute of the endpoint at the top level (``{{ given_name }}``), falling back
to the template's ``defaults``; ``user`` (the endpoint), ``recommendations`` (a list of
``{"item_id", "score"}``), ``unsubscribe_url``. The sandbox refuses attribute escapes such as
``{{ ''.__class__.__mro__ }}``: rendering fails with :class:`TemplateError`."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from laketown.apps.engagement.store import Store, now
from laketown.errors import LaketownError


class TemplateError(LaketownError):
    """A template does not parse, does not exist, or tried something the sandbox forbids."""


@dataclass
class Rendered:
    subject: str
    html: str
    text: str


@lru_cache(maxsize=2)
def _env(html: bool) -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(autoescape=html, trim_blocks=True, lstrip_blocks=True)


def _compile(source: str, html: bool, what: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return _compiled(source, html)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{what} does not parse: {exc.message} (line {exc.lineno})") from None


@lru_cache(maxsize=256)
def _compiled(source: str, html: bool) -> Any:
    return _env(html).from_string(source)


class Templates:
    def __init__(self, store: Store):
        self.store = store

    def save(self, name: str, subject: str, html: str, text: str | None = None,
             defaults: dict[str, Any] | None = None) -> None:
        for source, is_html, what in ((subject, False, "subject"), (html, True, "html"), (text or "", False, "text")):
            _compile(source, is_html, f"template {name!r} {what}")
        self.store.execute("INSERT OR REPLACE INTO templates VALUES (?,?,?,?,?,?)",
                           (name, subject, html, text, json.dumps(defaults or {}), now()))

    def get(self, name: str) -> dict[str, Any]:
        row = self.store.one("SELECT * FROM templates WHERE name=?", (name,))
        if row is None:
            known = ", ".join(r["name"] for r in self.store.query("SELECT name FROM templates")) or "none"
            raise TemplateError(f"unknown template {name!r}; templates: {known}")
        return {"name": row["name"], "subject": row["subject"], "html": row["html"], "text": row["text"],
                "defaults": json.loads(row["defaults"])}

    def list(self) -> list[dict[str, Any]]:
        return [self.get(r["name"]) for r in self.store.query("SELECT name FROM templates ORDER BY name")]


def context(template: dict[str, Any], endpoint: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    attrs = {k: v for k, v in endpoint.get("attributes", {}).items() if v is not None}
    user = {"user_id": endpoint["user_id"], "email": endpoint.get("email"), "timezone": endpoint.get("timezone"), **attrs}
    return {**template.get("defaults", {}), **attrs, "user": user, **(extra or {})}


def render(template: dict[str, Any], endpoint: dict[str, Any], extra: dict[str, Any] | None = None) -> Rendered:
    """Render subject, HTML and text for one endpoint, in the sandbox."""
    from jinja2.exceptions import SecurityError
    from jinja2.exceptions import TemplateError as JinjaError

    ctx = context(template, endpoint, extra)
    name = template.get("name", "?")
    try:
        subject = _compile(template["subject"], False, f"template {name!r} subject").render(ctx)
        html = _compile(template["html"], True, f"template {name!r} html").render(ctx)
        text = _compile(template.get("text") or "", False, f"template {name!r} text").render(ctx)
    except SecurityError as exc:
        raise TemplateError(f"template {name!r} was stopped by the sandbox: {exc}; "
                            "templates may use variables and filters, not Python internals") from None
    except JinjaError as exc:
        raise TemplateError(f"template {name!r} failed for user {endpoint['user_id']!r}: {exc}") from None
    return Rendered(" ".join(subject.split()), html, text)


def wants_recommendations(template: dict[str, Any]) -> bool:
    return any("recommendations" in (template.get(k) or "") for k in ("subject", "html", "text"))


def fetch_recommendations(base_url: str | None, user_id: str, api_key: str | None = None,
                          n: int = 3, timeout_s: float = 1.0) -> list[dict[str, Any]]:
    """Top-``n`` items from ``GET {base_url}/api/recs/users/{id}``; [] when the API is not there."""
    if not base_url:
        return []
    from urllib.parse import quote

    req = urllib.request.Request(f"{base_url.rstrip('/')}/api/recs/users/{quote(user_id, safe='')}?n={n}")
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            body = json.loads(resp.read())
    except (OSError, ValueError):
        return []
    items = body.get("itemList") or body.get("items") or body.get("recommendations") or []
    out = []
    for it in items[:n]:
        if isinstance(it, dict):
            out.append({"item_id": str(it.get("itemId") or it.get("item_id")), "score": it.get("score")})
        else:
            out.append({"item_id": str(it), "score": None})
    return out
