"""HMAC-SHA256 request signing for the scoring API.

A client signs ``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nSHA256(BODY)`` with its secret key and sends
the key id, timestamp (Unix seconds), nonce and hex signature as headers. The server accepts a
timestamp within :data:`WINDOW_S` of its clock and each nonce once within that window, so a
captured request cannot be replayed. Secrets are never logged or returned.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

WINDOW_S = 300
HEADER_KEY = "x-laketown-key-id"
HEADER_TIMESTAMP = "x-laketown-timestamp"
HEADER_NONCE = "x-laketown-nonce"
HEADER_SIGNATURE = "x-laketown-signature"
_MAX_NONCES = 1_000_000


class SignatureError(Exception):
    """A request's signature is missing, expired, replayed or wrong; ``reason`` says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def canonical(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The string that is signed."""
    return "\n".join([method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def sign(method: str, path: str, body: bytes, key_id: str, secret: str,
         timestamp: float | None = None, nonce: str | None = None) -> dict[str, str]:
    """The headers that sign one request (``path`` without host, with the query string if any,
    e.g. ``/api/fraud/score`` or ``/api/fraud/cases?status=open``)."""
    ts = str(int(time.time() if timestamp is None else timestamp))
    nonce = nonce or secrets.token_hex(16)
    mac = hmac.new(secret.encode(), canonical(method, path, ts, nonce, body), hashlib.sha256).hexdigest()
    return {HEADER_KEY: key_id, HEADER_TIMESTAMP: ts, HEADER_NONCE: nonce, HEADER_SIGNATURE: mac}


def load_keys(ws: Any) -> dict[str, str]:
    """The API keys of a workspace (``<workspace>/fraud/api_keys.json``, readable by its owner
    only); a first key ``default`` with a random secret is created when there is none."""
    path = Path(ws.path) / "fraud" / "api_keys.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"default": secrets.token_urlsafe(32)}, fh)
    return {str(k): str(v) for k, v in json.loads(path.read_text()).items()}


class Verifier:
    """Checks signed requests against a key ring; remembers nonces for the time window."""

    def __init__(self, keys: dict[str, str], window_s: int = WINDOW_S, clock: Any = time.time):
        self.keys = dict(keys)
        self.window_s = window_s
        self.clock = clock
        self._nonces: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, method: str, path: str, headers: Any, body: bytes) -> str:
        """Return the key id of a valid request; raise :class:`SignatureError` otherwise."""
        key_id = headers.get(HEADER_KEY)
        ts = headers.get(HEADER_TIMESTAMP)
        nonce = headers.get(HEADER_NONCE)
        signature = headers.get(HEADER_SIGNATURE)
        if not (key_id and ts and nonce and signature):
            missing = [h for h, v in ((HEADER_KEY, key_id), (HEADER_TIMESTAMP, ts), (HEADER_NONCE, nonce),
                                      (HEADER_SIGNATURE, signature)) if not v]
            raise SignatureError(f"unsigned request: missing header(s) {', '.join(missing)}")
        secret = self.keys.get(key_id)
        if secret is None:
            raise SignatureError(f"unknown key id {key_id!r}")
        try:
            sent = int(ts)
        except ValueError:
            raise SignatureError(f"timestamp {ts!r} is not Unix seconds") from None
        now = self.clock()
        if abs(now - sent) > self.window_s:
            raise SignatureError(f"expired: timestamp is {int(now - sent)} s from the server clock (window ±{self.window_s} s)")
        if len(nonce) > 128:
            raise SignatureError("nonce is longer than 128 characters")
        expected = hmac.new(secret.encode(), canonical(method, path, ts, nonce, body), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise SignatureError("bad signature: the body, path, timestamp or nonce was changed, or the key is wrong")
        with self._lock:
            cutoff = now - self.window_s
            while self._nonces and (next(iter(self._nonces.values())) < cutoff or len(self._nonces) > _MAX_NONCES):
                self._nonces.popitem(last=False)
            seen = f"{key_id}:{nonce}"
            if seen in self._nonces:
                raise SignatureError("replayed: this nonce was already used")
            self._nonces[seen] = now
        return key_id
