"""``laketown engagement ...`` from the command line (a real subprocess per command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run(ws_path, *args, check=True):
    env = {**os.environ, "LAKETOWN__WORKSPACE": str(ws_path)}
    proc = subprocess.run([sys.executable, "-m", "laketown", "engagement", *args], env=env,
                          capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.mark.timeout(120)
def test_import_template_campaign_and_kpis_from_the_cli(ws, sink, tmp_path):
    csv = tmp_path / "u.csv"
    csv.write_text("user_id,email,given_name\nx1,x1@example.org,Xia\nx2,x2@example.org,Yves\n")
    html = tmp_path / "t.html"
    html.write_text("<p>Hello {{ given_name }}</p>")
    assert json.loads(run(ws.path, "endpoints", "import", str(csv)).stdout)["imported"] == 2
    run(ws.path, "template", "save", "hi", "--subject", "Hi {{ given_name }}", "--html", str(html))
    out = json.loads(run(ws.path, "campaign", "create", '{"campaign_id": "cli", "template": "hi"}').stdout)
    assert out["result"]["delivered"] == 2
    assert sorted(m["Subject"] for m in sink.mailbox.messages()) == ["Hi Xia", "Hi Yves"]
    rows = [json.loads(line) for line in run(ws.path, "kpis").stdout.splitlines()]
    assert rows[0]["campaign_id"] == "cli" and rows[0]["delivered"] == 2 and rows[0]["delivery_rate"] == 1.0

    bad = run(ws.path, "campaign", "create", '{"campaign_id": "b", "template": "nope"}', check=False)
    assert bad.returncode == 2 and "unknown template 'nope'" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
