"""Signed tracking links: the open pixel, click redirects and one-click unsubscribe.

A link carries the message token and an HMAC-SHA256 (the workspace's own key, in
``<workspace>/engagement/tracking.key``) over what it points to; a link whose token, target or
signature was changed gets 400 and is never redirected anywhere. Only http(s) targets are signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from laketown.apps.engagement.settings import app_dir

PREFIX = "/api/engagement/t/"
HREF = re.compile(r'href="(https?://[^"]+)"', re.IGNORECASE)
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def load_key(ws: Any) -> bytes:
    """The workspace's tracking key, created (mode 0600) on first use."""
    path: Path = app_dir(ws) / "tracking.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


class Signer:
    def __init__(self, key: bytes, base_url: str):
        self.key, self.base = key, base_url.rstrip("/")

    def sign(self, *parts: str) -> str:
        mac = hmac.new(self.key, "\x1f".join(parts).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def sign_body(self, body: bytes) -> str:
        return hmac.new(self.key, body, hashlib.sha256).hexdigest()

    def verify(self, signature: str | None, *parts: str) -> bool:
        return bool(signature) and hmac.compare_digest(self.sign(*parts), str(signature))

    def open_url(self, token: str) -> str:
        return f"{self.base}{PREFIX}open?" + urlencode({"m": token, "s": self.sign("open", token)})

    def click_url(self, token: str, target: str) -> str:
        return f"{self.base}{PREFIX}click?" + urlencode({"m": token, "u": target, "s": self.sign("click", token, target)})

    def unsubscribe_url(self, token: str) -> str:
        return f"{self.base}{PREFIX}unsubscribe?" + urlencode({"m": token, "s": self.sign("unsubscribe", token)})

    def track_html(self, html: str, token: str) -> str:
        """Every http(s) link through the click redirect, and the open pixel at the end."""
        def wrap(m: re.Match[str]) -> str:
            target = _unescape(m.group(1))
            if target.startswith(self.base + PREFIX):  # our own unsubscribe link stays as it is
                return m.group(0)
            return f'href="{_attr(self.click_url(token, target))}"'

        out = HREF.sub(wrap, html)
        pixel = f'<img src="{_attr(self.open_url(token))}" width="1" height="1" alt="">'
        return out.replace("</body>", pixel + "</body>") if "</body>" in out else out + pixel


def safe_target(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _attr(s: str) -> str:
    return s.replace("&", "&amp;").replace('"', "&quot;")


def _unescape(s: str) -> str:
    return s.replace("&amp;", "&")
