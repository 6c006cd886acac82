"""A live feed of signed scoring requests for the demo: transactions drawn from the recent
simulated customers and terminals, stamped now, posted to ``/api/fraud/score`` at a fixed rate.
Every few dozen payments one is a large-amount fraud, so the review queue fills."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from laketown.apps.fraud.signing import sign

PATH = "/api/fraud/score"


def recent_pairs(ws: Any, table: str = "raw.fraud_transactions", limit: int = 5000) -> list[dict[str, Any]]:
    """Recent (customer, terminal, amount) triples to draw the feed from."""
    sql = (f"SELECT customer_id, terminal_id, tx_amount FROM {table} "
           f"ORDER BY tx_datetime DESC LIMIT {int(limit)}")
    return ws.sql(sql).to_pylist() if ws.lake.exists(table) else []


Post = Callable[[str, bytes, dict[str, str]], int]


def http_post(base_url: str) -> Post:
    """``post(path, body, headers) -> status`` over one keep-alive connection (standard library)."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(base_url)
    state: dict[str, Any] = {}

    def post(path: str, body: bytes, headers: dict[str, str]) -> int:
        conn = state.get("conn") or http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
        state["conn"] = conn
        try:
            conn.request("POST", path, body, headers)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        except (OSError, http.client.HTTPException):
            conn.close()
            state.pop("conn", None)
            return 0

    return post


def run_feed(base_url: str, key_id: str, secret: str, pairs: list[dict[str, Any]], rate: float = 5.0,
             stop: threading.Event | None = None, seed: int = 0, max_requests: int | None = None,
             post: Post | None = None) -> int:
    """Post signed transactions at ``rate`` per second until ``stop`` is set (or ``max_requests``
    are sent); returns how many were accepted."""
    if not pairs:
        return 0
    stop = stop or threading.Event()
    post = post or http_post(base_url)
    rng = np.random.default_rng(seed)
    accepted = sent = 0
    while not stop.is_set() and (max_requests is None or sent < max_requests):
        pick = pairs[int(rng.integers(len(pairs)))]
        amount = float(pick["tx_amount"]) * (5 if rng.uniform() < 0.03 else 1)
        tx = {"transaction_id": f"feed-{seed}-{sent}-{int(time.time() * 1000)}",
              "timestamp": datetime.now(UTC).isoformat(), "amount": round(amount, 2),
              "customer_id": pick["customer_id"], "terminal_id": pick["terminal_id"]}
        body = json.dumps(tx).encode()
        headers = {**sign("POST", PATH, body, key_id, secret), "content-type": "application/json"}
        accepted += post(PATH, body, headers) == 200
        sent += 1
        stop.wait(1.0 / rate)
    return accepted


def live_feed(ws: Any, base_url: str, stop: threading.Event) -> None:
    """The demo's live feed: waits for the server, then posts signed transactions until ``stop``."""
    import urllib.request

    from laketown.apps.fraud.signing import load_keys

    while not stop.is_set():
        try:
            with urllib.request.urlopen(base_url.rstrip("/") + "/health", timeout=2):
                break
        except OSError:
            stop.wait(0.5)
    keys = load_keys(ws)
    key_id = "default" if "default" in keys else next(iter(keys))
    run_feed(base_url, key_id, keys[key_id], recent_pairs(ws), rate=5.0, stop=stop)
