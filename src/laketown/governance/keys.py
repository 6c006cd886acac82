"""API keys: random tokens shown once, stored as SHA-256 digests, scoped to one principal.

A key reads ``ltk_<key id>_<secret>``. The key id (public, 12 hex digits) finds the row; the
secret (32 random bytes) is compared by digest in constant time. Keys expire and can be
revoked; neither the secret nor its digest is ever logged or returned after creation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from laketown.governance.errors import AuthenticationError, GovernanceError
from laketown.governance.principals import Principals
from laketown.governance.store import Store, iso, now

PREFIX = "ltk_"
_KEY = re.compile(r"^ltk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    """The public key id of a well-formed key (safe to log), else None."""
    m = _KEY.match(key or "")
    return m.group(1) if m else None


class ApiKeys:
    """Create, list, revoke and check API keys."""

    def __init__(self, store: Store, principals: Principals):
        self.store = store
        self.principals = principals

    def create(self, principal: str, name: str = "", expires_in: timedelta | None = timedelta(days=90),
               expires_at: datetime | None = None) -> str:
        """A new key for ``principal``; the returned string is the only copy of the secret.
        ``expires_in=None`` (and no ``expires_at``) makes a key that does not expire."""
        p = self.principals.get(principal)
        if p["kind"] == "role":
            raise GovernanceError(f"{principal!r} is a role; keys belong to users or services")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        expiry = expires_at or (now() + expires_in if expires_in is not None else None)
        self.store.execute(
            "INSERT INTO api_keys (key_id, principal, name, secret_sha256, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            [key_id, principal, name, _digest(secret), iso(now()), iso(expiry)],
        )
        return f"{PREFIX}{key_id}_{secret}"

    def revoke(self, key_or_id: str) -> None:
        """Revoke a key given whole or by its key id; takes effect on the next request."""
        key_id = key_id_of(key_or_id) or key_or_id
        n = self.store.execute("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ?",
                               [iso(now()), key_id])
        if not n:
            raise GovernanceError(f"unknown API key id {key_id!r}; `laketown gov key list` shows the ids")

    def list(self, principal: str | None = None) -> list[dict[str, Any]]:
        """Key ids with owner, name, creation, expiry and revocation (never secrets)."""
        sql = "SELECT key_id, principal, name, created_at, expires_at, revoked_at FROM api_keys"
        params: list[Any] = []
        if principal:
            sql += " WHERE principal = ?"
            params.append(principal)
        return [dict(r) for r in self.store.rows(sql + " ORDER BY created_at", params)]

    def authenticate(self, key: str | None) -> str:
        """The principal a key belongs to; :class:`AuthenticationError` if the key is missing,
        malformed, unknown, wrong, revoked, expired, or its principal disabled. The message
        never contains the secret."""
        if not key:
            raise AuthenticationError("no API key given; send 'Authorization: Bearer ltk_...'")
        m = _KEY.match(key)
        if not m:
            raise AuthenticationError("malformed API key; keys look like ltk_<12 hex>_<43 characters>")
        key_id, secret = m.groups()
        rows = self.store.rows("SELECT * FROM api_keys WHERE key_id = ?", [key_id])
        expected = rows[0]["secret_sha256"] if rows else _digest("")
        ok = hmac.compare_digest(_digest(secret), expected)
        if not rows or not ok:
            raise AuthenticationError(f"unknown or wrong API key (key id {key_id})")
        row = rows[0]
        if row["revoked_at"]:
            raise AuthenticationError(f"API key {key_id} was revoked at {row['revoked_at']}; create a new one")
        if row["expires_at"] and datetime.fromisoformat(row["expires_at"]) <= now():
            raise AuthenticationError(f"API key {key_id} expired at {row['expires_at']}; create a new one")
        principal = self.principals.get(row["principal"]) if self.principals.exists(row["principal"]) else None
        if principal is None or principal["disabled"]:
            raise AuthenticationError(f"API key {key_id} belongs to a disabled or removed principal")
        return principal["name"]
