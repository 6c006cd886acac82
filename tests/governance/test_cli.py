"""``laketown gov`` drives the same Python API."""

from __future__ import annotations

import pyarrow as pa
from typer.testing import CliRunner

import laketown
from laketown import cli as root
from laketown.governance.cli import app


def invoke(ws_path, *args):
    root._state.update(workspace=ws_path, config=None)
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_cli_round_trip(tmp_path):
    path = tmp_path / "ws"
    with laketown.connect(path) as ws:
        ws.lake.write("raw.users", pa.table({"id": [1, 2], "email": ["a@x.io", "b@x.io"], "region": ["EU", "US"]}))
    assert invoke(path, "principal", "create", "bob").exit_code == 0
    assert invoke(path, "grant", "bob", "raw.users").exit_code == 0
    assert invoke(path, "mask", "raw.users.email", "redact").exit_code == 0
    assert invoke(path, "row-filter", "raw.users", "bob", "region = 'EU'").exit_code == 0
    assert invoke(path, "tag", "raw.users.email", "pii=email").exit_code == 0
    out = invoke(path, "key", "create", "bob", "--days", "1")
    key = out.output.strip().splitlines()[-1]
    assert key.startswith("ltk_")
    assert "bob" in invoke(path, "principal", "list").output
    assert "raw.users" in invoke(path, "policies").output
    assert "email" in invoke(path, "classify", "raw.users").output
    assert "raw.users" in invoke(path, "search", "email").output
    with laketown.connect(path) as ws:
        assert ws.governance.authenticate(key) == "bob"
        assert ws.sql("SELECT email FROM raw.users", principal="bob").to_pylist() == [{"email": "[REDACTED]"}]
    assert invoke(path, "key", "revoke", key.split("_")[1]).exit_code == 0
    assert "grant select on raw.users to bob" in invoke(path, "audit", "--kind", "policy", "-f", "json").output
