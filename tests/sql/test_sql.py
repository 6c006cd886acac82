"""SQL over the lake: zone.table names, freshness across processes, limits, and the lock-down."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import pyarrow as pa
import pytest

from laketown.errors import SqlError


@pytest.fixture
def orders(ws):
    ws.lake.write("raw.orders", pa.table({"id": list(range(1, 101)), "country": ["FR", "DE"] * 50,
                                          "amount": [float(i) for i in range(1, 101)]}))
    return ws


def test_tables_are_queryable_as_zone_table(orders):
    out = orders.sql("SELECT country, count(*) AS n, sum(amount) AS s FROM raw.orders GROUP BY 1 ORDER BY 1")
    assert out.to_pylist() == [{"country": "DE", "n": 50, "s": 2550.0}, {"country": "FR", "n": 50, "s": 2500.0}]


def test_parameters_and_describe(orders):
    assert orders.sql("SELECT count(*) AS n FROM raw.orders WHERE amount > ?", [90]).column("n")[0].as_py() == 10
    cols = orders.sql("DESCRIBE raw.orders").column("column_name").to_pylist()
    assert cols == ["id", "country", "amount"]


def test_latest_snapshot_after_commit_by_another_process(orders, tmp_path):
    assert orders.sql("SELECT count(*) AS n FROM raw.orders").column("n")[0].as_py() == 100
    script = textwrap.dedent(
        f"""
        import laketown
        ws = laketown.connect({str(orders.path)!r})
        ws.table("raw.orders").append({{"id": [1000], "country": ["IT"], "amount": [1.0]}})
        ws.lake.write("curated.fresh", {{"x": [1, 2, 3]}})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert orders.sql("SELECT count(*) AS n FROM raw.orders").column("n")[0].as_py() == 101
    assert orders.sql("SELECT sum(x) AS s FROM curated.fresh").column("s")[0].as_py() == 6


def test_dropped_table_disappears(orders):
    orders.lake.write("clean.tmp", {"x": [1]})
    assert orders.sql("SELECT * FROM clean.tmp").num_rows == 1
    orders.lake.drop_table("clean.tmp")
    with pytest.raises(SqlError, match="tmp"):
        orders.sql("SELECT * FROM clean.tmp")


def test_unknown_table_error_lists_lake_tables(orders):
    with pytest.raises(SqlError, match=r"(?s)nope.*lake tables: raw.orders"):
        orders.sql("SELECT * FROM raw.nope")


def test_bad_sql_is_a_clear_error(orders):
    with pytest.raises(SqlError, match="syntax error"):
        orders.sql("SELEC * FROM raw.orders")


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM (SELECT 1) a, (SELECT * FROM glob('/etc/*')) b",
        "WITH x AS (SELECT * FROM read_parquet('/tmp/*.parquet')) SELECT * FROM x",
        "COPY (SELECT 1) TO '/tmp/laketown-leak.csv'",
        "SET enable_external_access = true",
        "RESET lock_configuration",
        "ATTACH '/tmp/x.db' AS x",
        "INSTALL httpfs",
        "LOAD httpfs",
        "CREATE TABLE raw.x AS SELECT 1",
    ],
)
def test_forbidden_statements_and_file_access(orders, query):
    with pytest.raises(SqlError, match="not allowed"):
        orders.sql(query)


def test_lock_holds_even_without_the_guard(orders):
    """The DuckDB connection itself is locked: files outside the warehouse stay unreadable."""
    con = orders.sql_engine._db.cursor()
    with pytest.raises(duckdb.PermissionException):
        con.execute("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(duckdb.Error, match="locked"):
        con.execute("SET enable_external_access = true")


def test_max_rows_truncates_and_says_so(orders):
    res = orders.query("SELECT * FROM raw.orders", max_rows=7)
    assert res.table.num_rows == 7 and res.truncated
    res = orders.query("SELECT * FROM raw.orders", max_rows=1000)
    assert res.table.num_rows == 100 and not res.truncated


def test_timeout_stops_a_long_query(orders):
    with pytest.raises(SqlError, match="time limit"):
        orders.sql("SELECT count(*) FROM range(10000000000) a, range(1000) b WHERE a.range * b.range = -1",
                   timeout_s=0.5)


def test_query_runs_as_a_principal(orders):
    assert orders.query("SELECT 1").principal == "admin"
    orders.governance.create_principal("analyst")
    assert orders.query("SELECT 1", principal="analyst").principal == "analyst"


def test_unknown_principal_is_refused(orders):
    with pytest.raises(SqlError, match="unknown principal 'ghost'"):
        orders.query("SELECT 1", principal="ghost")
