"""Journeys: the cart-abandonment flow, splits and holdouts, and a worker killed with kill -9
mid-flow that resumes without sending anything twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from laketown.apps.engagement.journeys import JourneyError
from laketown.apps.engagement.service import Engagement
from tests.apps.engagement.conftest import FAST, people

CART = {
    "journey_id": "cart", "trigger": "cart_abandoned", "start": "wait",
    "steps": {"wait": {"type": "wait", "seconds": 0.3, "next": "check"},
              "check": {"type": "split", "condition": {"event": "purchased"}, "yes": "end", "no": "remind"},
              "remind": {"type": "send", "template": "remind", "next": "end"},
              "end": {"type": "exit"}},
}


def test_cart_abandoned_then_purchase_exits_else_a_reminder(eng, sink):
    eng.endpoints.upsert(people(6))
    eng.templates.save("remind", "Your cart, {{ given_name }}", "<p>come back</p>")
    eng.journeys.create(CART)
    for i in range(6):
        assert eng.ingest(f"u{i}", "cart_abandoned")["journeys"] == ["cart"]
    eng.ingest("u1", "purchased")
    eng.ingest("u4", "purchased")
    assert sink.mailbox.count() == 0  # still waiting
    eng.ingest("u0", "cart_abandoned")  # already in the journey: not entered twice
    out = eng.run_worker(until_idle=True, max_seconds=10)
    assert out["journey_users"] == 6
    assert sorted(str(m["To"]) for m in sink.mailbox.messages()) == [f"u{i}@example.org" for i in (0, 2, 3, 5)]
    assert {m["Subject"] for m in sink.mailbox.messages()} == {f"Your cart, Name{i}" for i in (0, 2, 3, 5)}
    counts = {s["step_id"]: s for s in eng.journeys.step_counts("cart")}
    assert counts["check"]["reached"] == 6 and counts["remind"]["sent"] == 4 and counts["end"]["reached"] == 6


def test_random_split_and_holdout_are_deterministic(eng, sink):
    eng.endpoints.upsert(people(200))
    eng.templates.save("a", "A", "<p>a</p>")
    eng.templates.save("b", "B", "<p>b</p>")
    eng.journeys.create({"journey_id": "ab", "trigger": "signup", "start": "hold", "steps": {
        "hold": {"type": "holdout", "pct": 20, "next": "split"},
        "split": {"type": "random_split", "branches": [{"weight": 1, "next": "a"}, {"weight": 3, "next": "b"}]},
        "a": {"type": "send", "template": "a", "next": "end"},
        "b": {"type": "send", "template": "b", "next": "end"},
        "end": {"type": "exit"}}})
    for i in range(200):
        eng.ingest(f"u{i}", "signup")
    subjects = Counter(m["Subject"] for m in sink.mailbox.messages())
    held = eng.store.one("SELECT count(*) AS n FROM journey_state WHERE status='held_out'")["n"]
    assert held + subjects["A"] + subjects["B"] == 200
    assert 20 <= held <= 60 and subjects["B"] > 2 * subjects["A"] > 0
    # the same users land in the same branches when asked again
    from laketown.apps.engagement.campaigns import bucket
    again = sum(bucket("ab", "hold", f"u{i}") < 0.2 for i in range(200))
    assert again == held


def test_invalid_journeys_are_refused_with_the_step(eng):
    eng.templates.save("t", "s", "<p></p>")
    with pytest.raises(JourneyError, match="step 'w' leads to 'nowhere'"):
        eng.journeys.create({"journey_id": "x", "trigger": "e", "start": "w",
                             "steps": {"w": {"type": "wait", "seconds": 1, "next": "nowhere"}}})
    with pytest.raises(JourneyError, match="needs 'template'"):
        eng.journeys.create({"journey_id": "x", "trigger": "e", "start": "s",
                             "steps": {"s": {"type": "send", "next": "s"}}})


WELCOME = {
    "journey_id": "welcome", "trigger": "signup", "start": "hello",
    "steps": {"hello": {"type": "send", "template": "hello", "next": "wait"},
              "wait": {"type": "wait", "seconds": 0.5, "next": "tips"},
              "tips": {"type": "send", "template": "tips", "next": "end"},
              "end": {"type": "exit"}},
}


def _worker(ws_path: Path, pause: float) -> subprocess.Popen:
    env = {**os.environ, "LAKETOWN__WORKSPACE": str(ws_path), "LAKETOWN_ENGAGEMENT__PAUSE_AFTER_SEND_S": str(pause),
           "LAKETOWN_ENGAGEMENT__TICK_S": "0.05"}
    return subprocess.Popen([sys.executable, "-m", "laketown", "engagement", "worker", "--until-idle", "--max-seconds", "60"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.timeout(90)
def test_journey_worker_killed_mid_flow_resumes_without_double_send(ws, sink):
    n = 12
    eng = Engagement(ws, **FAST)
    eng.endpoints.upsert(people(n))
    eng.templates.save("hello", "Welcome {{ given_name }}", "<p>hi</p>")
    eng.templates.save("tips", "Tips for {{ given_name }}", "<p>tips</p>")
    eng.journeys.create(WELCOME)
    for i in range(n):
        eng.ingest(f"u{i}", "signup", advance=False)  # the worker process runs the steps
    eng.close()

    # a slow worker (it pauses after each send, before recording it) killed right after a send
    first = _worker(ws.path, pause=0.5)
    try:
        assert sink.mailbox.wait_for(4, 30) >= 4, first.stderr.read().decode() if first.poll() is not None else "slow"
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.wait(10)
    assert first.returncode == -signal.SIGKILL
    at_kill = sink.mailbox.count()
    assert at_kill < 2 * n

    second = _worker(ws.path, pause=0.0)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()[-2000:]
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["recovered"]["sent"] >= 1  # the send in flight at the kill was found at the sink

    messages = sink.mailbox.messages()
    pairs = Counter((str(m["To"]), m["Subject"].split()[0]) for m in messages)
    assert len(messages) == 2 * n
    assert set(pairs.values()) == {1}
    assert {to for to, _ in pairs} == {f"u{i}@example.org" for i in range(n)}
    assert len({m["Message-ID"] for m in messages}) == 2 * n
    eng = Engagement(ws, **FAST)
    try:
        assert eng.store.one("SELECT count(*) AS n FROM outbox WHERE status='sent'")["n"] == 2 * n
        assert eng.store.one("SELECT count(*) AS n FROM journey_state WHERE status='done'")["n"] == n
    finally:
        eng.close()
