"""The adversarial suite: an analyst whose view of the lake is masked, row-filtered and limited
tries to see more, however the query is written. Every query either is refused or returns only
what the analyst may see — zero leaks — and every refusal is in the audit."""

from __future__ import annotations

import pytest

from laketown.errors import SqlError
from laketown.sql import AccessDeniedError
from tests.governance.conftest import CARDS, EMAILS, PRICE, SALARIES, SECRET, US_AMOUNT

FORBIDDEN = [*EMAILS, *CARDS, *(repr(s) for s in SALARIES), "USONLY", SECRET, repr(PRICE), repr(US_AMOUNT),
             "iceberg_scan", "metadata.json", "region = 'EU'", ".parquet"]


def assert_no_leak(table) -> None:
    text = repr(table.to_pylist()) + repr(table.column_names)
    leaked = [token for token in FORBIDDEN if token in text]
    assert not leaked, f"leaked {leaked}: {text[:500]}"


def run(ws, query, **fmt):
    return ws.sql(query.format(**fmt), principal="analyst")


def paths(ws):
    secrets = ws.table("clean.secrets")
    data = secrets.iceberg.inspect.files().column("file_path")[0].as_py()
    return {"meta": secrets.metadata_location, "data": data,
            "warehouse": ws.settings.warehouse.removeprefix("file://")}


# -- masked columns reach the analyst masked, however they are selected ----------------------
MASKED_QUERIES = [
    "SELECT * FROM raw.customers",
    "WITH c AS (SELECT * FROM raw.customers) SELECT email, card, salary FROM c",
    "SELECT email FROM raw.customers UNION SELECT card FROM raw.customers",
    "SELECT email FROM raw.customers UNION ALL SELECT CAST(salary AS VARCHAR) FROM raw.customers",
    "SELECT * FROM (SELECT email, card FROM raw.customers) s",
    "SELECT c.email, c.card, o.amount FROM raw.customers c JOIN raw.orders o ON o.customer_id = c.id",
    "SELECT min(email), max(email), string_agg(email, ','), max(card), max(salary) FROM raw.customers",
    "SELECT email, row_number() OVER (ORDER BY email) AS r, first_value(card) OVER (), lag(email) OVER () FROM raw.customers",
    "SELECT list(email), list(card), list(salary) FROM raw.customers",
    "SELECT struct_pack(e := email, c := card) FROM raw.customers",
    "SELECT to_json(c) FROM raw.customers c",
    "SELECT COLUMNS('.*') FROM raw.customers",
    "SELECT * EXCLUDE (id) FROM raw.customers",
    "SELECT (SELECT email FROM raw.customers ORDER BY id LIMIT 1) AS e",
    "SELECT * FROM raw.customers WHERE id IN (SELECT customer_id FROM raw.orders)",
    "SELECT email, count(*) FROM raw.customers GROUP BY ALL",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT r.n, c.email FROM r, raw.customers c",
    "SELECT upper(email), reverse(card), substr(email, 1, 64) FROM raw.customers",
    "SUMMARIZE raw.customers",
    "SELECT * FROM raw.customers a NATURAL JOIN raw.customers b",
    "SELECT email FROM raw.customers INTERSECT SELECT email FROM raw.customers",
    "SELECT histogram(card) FROM raw.customers",
]


@pytest.mark.parametrize("query", MASKED_QUERIES)
def test_masked_columns_stay_masked(governed, query):
    assert_no_leak(run(governed, query))


def test_masks_have_the_promised_shape(governed):
    rows = run(governed, "SELECT id, email, card, salary FROM raw.customers ORDER BY id").to_pylist()
    assert [r["card"] for r in rows] == ["****1111", "****0004", "****0009"]
    assert all(len(r["email"]) == 32 and r["salary"] is None for r in rows)
    assert governed.sql("SELECT email FROM raw.customers ORDER BY id").column("email")[0].as_py() == EMAILS[0]


@pytest.mark.parametrize("query", [
    "SELECT count(*) AS n FROM raw.customers WHERE email = 'alice.secret@corp.example'",
    "SELECT count(*) AS n FROM raw.customers WHERE email LIKE '%corp%'",
    "SELECT count(*) AS n FROM raw.customers WHERE card = '4111111111111111'",
    "SELECT count(*) AS n FROM raw.customers WHERE salary > 0",
])
def test_predicates_on_masked_columns_see_the_masked_value(governed, query):
    assert run(governed, query).column("n")[0].as_py() == 0


# -- row filters hold under joins and aggregates ---------------------------------------------
ROW_QUERIES = {
    "SELECT count(*) AS n FROM raw.customers": [{"n": 3}],
    "SELECT region, count(*) AS n FROM raw.customers GROUP BY region": [{"region": "EU", "n": 3}],
    "SELECT sum(amount) AS s FROM raw.orders": [{"s": 120.0}],
    "SELECT count(*) AS n FROM raw.orders WHERE region = 'US'": [{"n": 0}],
    "SELECT count(*) AS n FROM raw.customers WHERE region <> 'EU' OR true": [{"n": 3}],
    "SELECT count(*) AS n FROM raw.orders o JOIN raw.customers c ON c.id = o.customer_id": [{"n": 6}],
    "SELECT count(*) AS n FROM raw.customers c LEFT JOIN raw.orders o ON c.id = o.customer_id WHERE o.order_id IS NULL": [{"n": 0}],
    "SELECT max(cnt) AS n FROM (SELECT count(*) OVER () AS cnt FROM raw.orders)": [{"n": 6}],
    "SELECT count(DISTINCT customer_id) AS n FROM raw.orders": [{"n": 3}],
    "SELECT max(amount) AS m FROM raw.orders": [{"m": 30.0}],
}


@pytest.mark.parametrize("query", sorted(ROW_QUERIES))
def test_row_filters_hold_under_joins_and_aggregates(governed, query):
    out = run(governed, query)
    assert_no_leak(out)
    assert out.to_pylist() == ROW_QUERIES[query]


# -- tables and columns the analyst may not read do not exist for it -------------------------
HIDDEN = [
    "SELECT * FROM clean.secrets",
    "SELECT * FROM raw.customers, clean.secrets",
    "WITH s AS (SELECT * FROM clean.secrets) SELECT 1",
    "SELECT (SELECT count(*) FROM clean.secrets)",
    "SELECT * FROM memory.clean.secrets",
    'SELECT * FROM "clean"."secrets"',
    "SELECT * FROM CLEAN.SECRETS",
    "SELECT * FROM curated.governance_audit",
    "SELECT price FROM clean.products",
    "DESCRIBE clean.secrets",
    "SELECT 1; SELECT * FROM clean.secrets",
    "SELECT * FROM raw.customers WHERE EXISTS (SELECT 1 FROM clean.secrets WHERE secret LIKE 'TOP%')",
]


@pytest.mark.parametrize("query", HIDDEN)
def test_hidden_tables_and_columns_are_refused(governed, query):
    with pytest.raises(SqlError):
        run(governed, query)


def test_missing_and_hidden_tables_get_the_same_message(governed):
    with pytest.raises(AccessDeniedError) as hidden:
        run(governed, "SELECT * FROM clean.secrets")
    with pytest.raises(SqlError) as missing:
        run(governed, "SELECT * FROM clean.nothing_here")
    assert str(hidden.value).replace("clean.secrets", "X") == str(missing.value).replace("clean.nothing_here", "X")
    assert "secrets" not in str(missing.value)


def test_column_grant_shows_only_granted_columns(governed):
    out = run(governed, "SELECT * FROM clean.products ORDER BY sku")
    assert out.column_names == ["sku", "name"]
    assert_no_leak(out)


# -- catalog views and functions show only what the analyst may read -------------------------
@pytest.mark.parametrize("query", [
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM information_schema.columns",
    "SELECT * FROM information_schema.schemata",
    "SHOW ALL TABLES",
    "SHOW TABLES",
    "DESCRIBE raw.customers",
])
def test_catalog_views_list_only_visible_tables(governed, query):
    out = run(governed, query)
    assert_no_leak(out)
    text = repr(out.to_pylist())
    assert "secrets" not in text and "governance_audit" not in text and "price" not in text


@pytest.mark.parametrize("query", [
    "SELECT * FROM duckdb_tables()",
    "SELECT * FROM duckdb_views()",
    "SELECT * FROM duckdb_columns()",
    "SELECT * FROM duckdb_functions()",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM duckdb_databases()",
    "SELECT * FROM information_schema.views",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM pg_catalog.pg_views",
    "SELECT * FROM system.main.duckdb_views",
    "SELECT * FROM duckdb_views",
    "WITH a AS (SELECT * FROM duckdb_views), duckdb_views AS (SELECT 1) SELECT * FROM a",
    "SELECT * FROM pragma_table_info('clean.secrets')",
    "PRAGMA show_tables",
    "CALL duckdb_views()",
    "SELECT current_setting('allowed_directories')",
    "SELECT getenv('HOME')",
    "EXPLAIN SELECT * FROM raw.customers",
    "EXPLAIN ANALYZE SELECT * FROM raw.customers",
    "PIVOT raw.customers ON region USING count(*)",
    "SELECT * FROM raw.customers AT (VERSION => 1)",
])
def test_catalog_internals_are_refused(governed, query):
    with pytest.raises(AccessDeniedError):
        run(governed, query)


# -- no file, database or setting escapes ----------------------------------------------------
@pytest.mark.parametrize("query", [
    "SELECT * FROM iceberg_scan('{meta}')",
    "SELECT * FROM ICEBERG_SCAN ('{meta}')",
    "SELECT * FROM iceberg_metadata('{meta}')",
    "SELECT * FROM read_parquet('{data}')",
    "SELECT * FROM read_parquet(['{data}'])",
    "SELECT * FROM parquet_scan('{data}')",
    "SELECT * FROM '{data}'",
    "SELECT * FROM \"{data}\"",
    "SELECT * FROM read_text('{meta}')",
    "SELECT * FROM read_blob('{meta}')",
    "SELECT * FROM glob('{warehouse}/*')",
    "SELECT * FROM query('SELECT * FROM clean.secrets')",
    "SELECT * FROM query_table('clean.secrets')",
    "ATTACH '{warehouse}/x.db' AS x",
    "ATTACH ':memory:' AS x",
    "DETACH memory",
    "USE clean",
    "COPY (SELECT * FROM raw.customers) TO '{warehouse}/leak.csv'",
    "COPY raw.customers TO '/tmp/laketown-leak.parquet'",
    "EXPORT DATABASE '/tmp/laketown-leak'",
    "SET enable_external_access = true",
    "RESET allowed_directories",
    "SET lock_configuration = false",
    "SET allowed_directories = ['/']",
    "SET python_enable_replacements = true",
    "INSTALL httpfs",
    "LOAD iceberg",
    "CREATE VIEW raw.x AS SELECT * FROM clean.secrets",
    "CREATE MACRO m() AS TABLE SELECT * FROM clean.secrets",
    "CREATE TEMP TABLE t AS SELECT * FROM raw.customers",
    "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "DROP VIEW raw.customers",
    "INSERT INTO raw.orders VALUES (1, 1, 1.0, 'EU')",
    "CHECKPOINT",
    "VACUUM",
])
def test_file_database_and_setting_escapes_are_refused(governed, query):
    with pytest.raises(SqlError, match="not allowed"):
        run(governed, query, **paths(governed))
    assert governed.sql("SELECT count(*) AS n FROM raw.customers").column("n")[0].as_py() == 6  # admin unaffected


def test_a_principal_without_grants_sees_no_table(governed):
    assert governed.sql_engine.visible_tables("nobody") == []
    with pytest.raises(SqlError):
        governed.sql("SELECT * FROM raw.customers", principal="nobody")
    out = governed.sql("SELECT * FROM information_schema.tables", principal="nobody")
    assert out.num_rows == 0


def test_unknown_principal_is_refused(governed):
    with pytest.raises(AccessDeniedError, match="unknown principal"):
        governed.sql("SELECT 1", principal="mallory")


def test_denials_appear_in_the_audit(governed):
    with pytest.raises(AccessDeniedError):
        run(governed, "SELECT * FROM duckdb_views() -- audit me")
    events = governed.governance.audit_events(principal="analyst", outcome="denied").to_pylist()
    assert any("audit me" in e["statement"] and e["kind"] == "query" for e in events)
    ok = governed.governance.audit_events(principal="analyst", outcome="ok", table="raw.customers").to_pylist()
    assert ok and all(e["rows"] is not None for e in ok)


def test_only_admins_read_the_audit(governed):
    with pytest.raises(AccessDeniedError, match="admins only"):
        governed.governance.audit_events(as_principal="analyst")
    assert governed.governance.audit_events(as_principal="admin").num_rows > 0
    with pytest.raises(SqlError):
        run(governed, "SELECT count(*) FROM curated.governance_audit")
    assert governed.sql("SELECT count(*) AS n FROM curated.governance_audit").column("n")[0].as_py() > 0
