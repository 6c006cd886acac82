"""``serve()`` runs the real app with uvicorn, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import laketown


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_binds_loopback_from_settings_and_answers_health(tmp_path):
    ws_dir = tmp_path / "ws"
    with laketown.connect(ws_dir) as ws:
        ws.lake.write("raw.shop_sales", {"id": [1, 2]})
    port = _free_port()
    code = "import laketown, laketown.server as s; s.serve(laketown.connect())"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(laketown.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
        "LAKETOWN__WORKSPACE": str(ws_dir),
        "LAKETOWN__SERVER__PORT": str(port),
    }
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    body = json.load(resp)
                break
            except OSError:
                time.sleep(0.1)
        assert body == {"status": "ok", "workspace": str(ws_dir.resolve()), "tables": 1}, proc.poll()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert f"Uvicorn running on http://127.0.0.1:{port}" in err
