"""``laketown stream ...`` commands on the embedded backend."""

from __future__ import annotations

from typer.testing import CliRunner

from laketown.streams.cli import app

runner = CliRunner()


def run(tmp_path, *args: str, input: str | None = None):
    return runner.invoke(app, ["--workspace", str(tmp_path / "ws"), *args], input=input)


def test_create_produce_consume_lag_round_trip(tmp_path):
    assert run(tmp_path, "create", "clicks", "--partitions", "2").exit_code == 0
    listed = run(tmp_path, "list")
    assert "clicks" in listed.output
    result = run(
        tmp_path, "produce", "clicks", "--key-field", "user", input='{"user":"u1","n":1}\n{"user":"u2","n":2}\n'
    )
    assert result.exit_code == 0, result.output
    assert "produced 2 record(s)" in result.output
    assert run(tmp_path, "produce", "clicks", "plain text", "--key", "k").exit_code == 0
    lag = run(tmp_path, "lag", "clicks", "--group", "g")
    assert lag.exit_code == 0 and "total" in lag.output and " 3 " in lag.output
    consumed = run(tmp_path, "consume", "clicks", "--group", "g", "--max", "10")
    assert consumed.exit_code == 0, consumed.output
    assert '"user":"u1"' in consumed.output and "plain text" in consumed.output
    assert "3 record(s)" in consumed.output
    after = run(tmp_path, "consume", "clicks", "--group", "g")
    assert "0 record(s)" in after.output, "the group committed what it printed"


def test_errors_name_the_problem(tmp_path):
    missing = run(tmp_path, "consume", "nope")
    assert missing.exit_code == 1 and "unknown stream 'nope'" in missing.output
    run(tmp_path, "create", "s")
    bad = run(tmp_path, "produce", "s", "--key-field", "id", input="not json\n")
    assert bad.exit_code == 1 and "not JSON" in bad.output
