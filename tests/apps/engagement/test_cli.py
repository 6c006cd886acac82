"""``laketown engagement ...``: the commands in-process, and one real subprocess for the exit
code and the one-line error of the root CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from laketown.apps.engagement.cli import app


@pytest.fixture
def cli(ws, monkeypatch):
    monkeypatch.setenv("LAKETOWN__WORKSPACE", str(ws.path))
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    return run


def test_import_template_campaign_journey_and_kpis(cli, sink, tmp_path):
    csv = tmp_path / "u.csv"
    csv.write_text("user_id,email,given_name\nx1,x1@example.org,Xia\nx2,x2@example.org,Yves\n")
    html = tmp_path / "t.html"
    html.write_text("<p>Hello {{ given_name }}</p>")
    assert json.loads(cli("endpoints", "import", str(csv)))["imported"] == 2
    cli("template", "save", "hi", "--subject", "Hi {{ given_name }}", "--html", str(html))
    assert json.loads(cli("template", "preview", "hi", "--user", "x1"))["subject"] == "Hi Xia"
    out = json.loads(cli("campaign", "create", '{"campaign_id": "cli", "template": "hi"}'))
    assert out["result"]["delivered"] == 2
    assert sorted(m["Subject"] for m in sink.mailbox.messages()) == ["Hi Xia", "Hi Yves"]
    spec = tmp_path / "j.json"
    spec.write_text(json.dumps({"journey_id": "j", "trigger": "signup", "start": "s",
                                "steps": {"s": {"type": "send", "template": "hi", "next": "e"}, "e": {"type": "exit"}}}))
    cli("journey", "create", str(spec))
    assert json.loads(cli("event", "x2", "signup"))["journeys"] == ["j"]
    assert sink.mailbox.count() == 3
    rows = [json.loads(line) for line in cli("kpis").splitlines()]
    assert rows[0]["campaign_id"] == "cli" and rows[0]["delivered"] == 2 and rows[0]["delivery_rate"] == 1.0


@pytest.mark.timeout(60)
def test_bad_input_exits_2_with_one_line(ws):
    env = {**os.environ, "LAKETOWN__WORKSPACE": str(ws.path)}
    proc = subprocess.run([sys.executable, "-m", "laketown", "engagement", "campaign", "create",
                           '{"campaign_id": "b", "template": "nope"}'], env=env, capture_output=True, text=True, timeout=50, check=False)
    assert proc.returncode == 2
    assert "unknown template 'nope'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
