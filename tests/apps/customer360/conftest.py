"""Fixtures of the Customer 360 tests: small generated sources and a child-process helper."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def start_child(*args: str) -> subprocess.Popen:
    """``python -m tests.apps.customer360.<module> args`` with this checkout's code first."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_ready_then_kill(proc: subprocess.Popen, timeout_s: float = 60) -> None:
    """Wait for the child's READY line, then SIGKILL it."""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout=timeout_s):
            proc.kill()
            raise AssertionError(f"child never got ready: {proc.stderr.read()[-2000:] if proc.poll() is not None else ''}")
        line = proc.stdout.readline()
        assert line.strip() == "READY", f"child said {line!r}; stderr: {proc.stderr.read()[-2000:] if proc.poll() is not None else ''}"
    finally:
        sel.close()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()


@pytest.fixture
def contacts():
    """CRM rows as an export would hold them."""
    from laketown.apps.customer360.generator import generate

    rows = generate(1000, seed=3, bad_share=0.0).crm
    assert len(rows) >= 300
    return rows
