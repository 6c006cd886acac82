"""The CLI, run as a user runs it: a real process with a workspace folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run(ws, *args, input=None, check=True):  # noqa: A002
    env = {**os.environ, "LAKETOWN__WORKSPACE": str(ws)}
    out = subprocess.run([sys.executable, "-m", "laketown", *args], capture_output=True, text=True,
                         env=env, input=input, timeout=300)
    if check and out.returncode != 0:
        raise AssertionError(f"laketown {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory):
    ws = tmp_path_factory.mktemp("cli") / "ws"
    out = run(ws, "demo", "--no-serve")
    summary = json.loads(out.stdout[out.stdout.index("{"):])
    return ws, summary


def test_demo_builds_raw_and_curated_tables(demo_ws):
    _, summary = demo_ws
    assert summary["sample"]["raw.sample_orders"] == 100_000
    assert summary["sample"]["curated.sample_daily_revenue"] > 0
    assert "curated.sample_daily_revenue" in summary["tables"]


def test_sql_formats(demo_ws):
    ws, _ = demo_ws
    q = "SELECT country, count(*) AS n FROM raw.sample_orders GROUP BY 1 ORDER BY 1 LIMIT 2"
    csv = run(ws, "sql", q, "--format", "csv").stdout.splitlines()
    assert csv[0] == '"country","n"' and len(csv) == 3
    rows = [json.loads(line) for line in run(ws, "sql", q, "-f", "json").stdout.splitlines()]
    assert [r["country"] for r in rows] == ["DE", "FR"]
    table = run(ws, "sql", q).stdout
    assert "country" in table and "DE" in table


def test_sql_from_stdin(demo_ws):
    ws, _ = demo_ws
    out = run(ws, "sql", "-", "-f", "csv", input="SELECT 42 AS answer").stdout
    assert out.splitlines() == ['"answer"', "42"]


def test_tables_and_table_show(demo_ws):
    ws, _ = demo_ws
    assert "raw.sample_orders" in run(ws, "tables").stdout
    show = run(ws, "table", "show", "raw.sample_orders", "--rows", "2").stdout
    assert "month(ordered_at)" in show and "unit_price" in show and "append" in show


def test_errors_are_one_clear_line_and_exit_2(demo_ws):
    ws, _ = demo_ws
    out = run(ws, "sql", "SELECT * FROM read_csv('/etc/passwd')", check=False)
    assert out.returncode == 2
    assert "error:" in out.stderr and "read_csv" in out.stderr and "Traceback" not in out.stderr
    out = run(ws, "table", "show", "raw.nope", check=False)
    assert out.returncode == 2 and "tables in raw: " in out.stderr and " sample_orders" in out.stderr


def test_init_creates_workspace_and_config(tmp_path):
    run(tmp_path / "fresh", "init")
    assert (tmp_path / "fresh" / "laketown.toml").is_file()
    assert (tmp_path / "fresh" / "catalog.db").is_file()


def test_help_explains_commands(tmp_path):
    out = run(tmp_path, "--help").stdout
    for cmd in ("demo", "serve", "sql", "tables", "table", "init"):
        assert cmd in out


def test_stream_to_table_with_sink_start(tmp_path):
    ws = tmp_path / "s"
    run(ws, "stream", "create", "events", "--partitions", "2")
    run(ws, "stream", "produce", "events", input='{"id": 1, "kind": "a"}\n{"id": 2, "kind": "b"}\nnot json\n')
    out = run(ws, "sink", "start", "events", "raw.events", "--idle-exit", "1", "--buffer-seconds", "0.2")
    assert "created raw.events" in out.stderr
    stats = json.loads(out.stdout[out.stdout.index("{"):])
    assert stats["records_written"] == 2 and stats["dead_letters"] == 1
    rows = run(ws, "sql", "SELECT id, kind FROM raw.events ORDER BY id", "-f", "csv").stdout.splitlines()
    assert rows == ['"id","kind"', '1,"a"', '2,"b"']
    # a second run finds nothing new: exactly once
    out = run(ws, "sink", "start", "events", "raw.events", "--idle-exit", "0.5")
    assert json.loads(out.stdout[out.stdout.index("{"):])["records_written"] == 0
