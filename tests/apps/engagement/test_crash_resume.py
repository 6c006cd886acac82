"""Crashes: a journey worker and a campaign sender killed with kill -9 (real subprocesses)
mid-flow; the next worker resumes and nothing is sent twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from laketown.apps.engagement.service import Engagement
from tests.apps.engagement.conftest import FAST, people

WELCOME = {
    "journey_id": "welcome", "trigger": "signup", "start": "hello",
    "steps": {"hello": {"type": "send", "template": "hello", "next": "wait"},
              "wait": {"type": "wait", "seconds": 0.2, "next": "tips"},
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
    n = 8
    eng = Engagement(ws, **FAST)
    eng.endpoints.upsert(people(n))
    eng.templates.save("hello", "Welcome {{ given_name }}", "<p>hi</p>")
    eng.templates.save("tips", "Tips for {{ given_name }}", "<p>tips</p>")
    eng.journeys.create(WELCOME)
    for i in range(n):
        eng.ingest(f"u{i}", "signup", advance=False)  # the worker process runs the steps
    eng.close()

    # a slow worker (it pauses after each send, before recording it) killed right after a send
    first = _worker(ws.path, pause=0.3)
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


@pytest.mark.timeout(90)
def test_campaign_killed_mid_send_is_finished_by_the_worker_without_double_send(ws, sink):
    n = 10
    eng = Engagement(ws, **FAST)
    eng.endpoints.upsert(people(n))
    eng.templates.save("hello", "Welcome {{ given_name }}", "<p>hi</p>")
    eng.campaigns.create({"campaign_id": "big", "template": "hello"})
    eng.close()
    env = {**os.environ, "LAKETOWN__WORKSPACE": str(ws.path), "LAKETOWN_ENGAGEMENT__PAUSE_AFTER_SEND_S": "0.3"}
    proc = subprocess.Popen([sys.executable, "-m", "laketown", "engagement", "campaign", "send", "big"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert sink.mailbox.wait_for(3, 30) >= 3, proc.stderr.read().decode() if proc.poll() is not None else "slow"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    assert sink.mailbox.count() < n
    second = _worker(ws.path, pause=0.0)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()[-2000:]
    assert json.loads(out.decode().strip().splitlines()[-1])["campaign_runs"] == 1
    to = Counter(str(m["To"]) for m in sink.mailbox.messages())
    assert to == Counter({f"u{i}@example.org": 1 for i in range(n)})
