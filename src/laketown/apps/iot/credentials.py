"""Device secrets: generated once, stored only as salted PBKDF2-SHA512 hashes.

The hash is kept in mosquitto's own password-file format (``$7$<iterations>$<salt>$<hash>``),
so the same stored value is checked by the in-process broker and written, as is, into
mosquitto's password file: no plain secret is ever stored or needed again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 1000


def new_secret() -> str:
    """A fresh random device secret (shown to the caller once)."""
    return secrets.token_urlsafe(24)


def hash_secret(secret: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_secret(secret: str | bytes | None, stored: str | None) -> bool:
    """Whether ``secret`` matches the ``stored`` hash (constant-time compare)."""
    if not secret or not stored:
        return False
    if isinstance(secret, bytes):
        secret = secret.decode(errors="replace")
    try:
        _, scheme, iterations, salt, digest = stored.split("$")
        if scheme != "7":
            return False
        got = hashlib.pbkdf2_hmac("sha512", secret.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(base64.b64encode(got).decode(), digest)
