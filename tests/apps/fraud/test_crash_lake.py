"""A `kill -9` of the scoring service loses no accepted transaction from the lake: every scored
transaction is in the stream before the API answers (at-least-once), and the sink de-duplicates
by transaction id on its way into curated.fraud_scored_transactions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime

import pytest

from laketown.apps.fraud.feed import http_post, recent_pairs
from laketown.apps.fraud.signing import load_keys, sign
from tests.servers import free_port

SCORE = "/api/fraud/score"


def _wait_health(url, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.communicate()[1][-2000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("server did not answer /health")


def _children(pid):
    """Direct children of ``pid`` (from /proc)."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            out += [int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
        except OSError:
            pass
    return out


def _all_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if os.path.exists(f"/proc/{p}") and "zombie" not in _state(p)]
        time.sleep(0.2)
    for p in alive:  # they are ours: end them so the test leaves nothing behind, then fail
        os.kill(p, signal.SIGKILL)
    return not alive


def _state(pid):
    try:
        return open(f"/proc/{pid}/status").read().lower()
    except OSError:
        return "zombie"


@pytest.mark.crash
def test_kill_9_of_the_scoring_service_loses_no_accepted_transaction(trained_ws):
    ws = trained_ws
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(ws.path / "crash-serve.log", "wb")  # noqa: SIM115 - a file, not a pipe: children inherit it
    proc = subprocess.Popen([sys.executable, "-m", "laketown", "-w", str(ws.path), "serve", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    children: list[int] = []
    try:
        _wait_health(url, proc)
        keys = load_keys(ws)
        key_id = "default" if "default" in keys else next(iter(keys))
        post = http_post(url)
        pairs = recent_pairs(ws)
        accepted = []
        for i in range(400):
            pick = pairs[i % len(pairs)]
            tx = {"transaction_id": f"crash-{i}", "timestamp": datetime.now(UTC).isoformat(),
                  "amount": float(pick["tx_amount"]), "customer_id": pick["customer_id"],
                  "terminal_id": pick["terminal_id"]}
            body = json.dumps(tx).encode()
            if post(SCORE, body, {**sign("POST", SCORE, body, key_id, keys[key_id]),
                                  "content-type": "application/json"}) == 200:
                accepted.append(tx["transaction_id"])
            if len(accepted) == 150:
                children = _children(proc.pid)
                os.kill(proc.pid, signal.SIGKILL)  # mid-flow, with records still in the sink's buffer
                break
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        log.close()
    assert len(accepted) == 150
    # the server's helpers (its sink, its case writer) end by themselves once it is gone
    assert _all_gone(children, timeout=30), f"orphans left: {children}"
    drain = subprocess.run([sys.executable, "-m", "laketown", "-w", str(ws.path), "sink", "start", "fraud_scored",
                            "curated.fraud_scored_transactions", "--key", "transaction_id", "--idle-exit", "3"],
                           capture_output=True, text=True, timeout=120)
    assert drain.returncode == 0, drain.stderr
    got = ws.sql("SELECT transaction_id FROM curated.fraud_scored_transactions "
                 "WHERE transaction_id LIKE 'crash-%'").column("transaction_id").to_pylist()
    assert len(got) == len(set(got))  # no duplicate
    assert set(accepted) <= set(got)  # nothing accepted is lost
