"""SQL over every catalog/storage combination: reads, freshness across processes, lock-down."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

from laketown.errors import SqlError


def _settings_json(ws) -> str:
    data = ws.settings.model_dump(mode="json")
    sec = ws.settings.storage.s3_secret_access_key
    data["storage"]["s3_secret_access_key"] = sec.get_secret_value() if sec else None
    return json.dumps(data)


def test_sql_reads_tables(lake_ws):
    lake_ws.lake.write("raw.m", pa.table({"k": ["a", "b", "a"], "v": [1, 2, 3]}))
    out = lake_ws.sql("SELECT k, sum(v) AS s FROM raw.m GROUP BY k ORDER BY k").to_pylist()
    assert out == [{"k": "a", "s": 4}, {"k": "b", "s": 2}]


def test_commit_by_another_process_is_seen_by_next_query(lake_ws):
    lake_ws.lake.write("raw.fresh", {"x": [1]})
    assert lake_ws.sql("SELECT count(*) AS n FROM raw.fresh").column("n")[0].as_py() == 1
    script = textwrap.dedent(
        """
        import json, sys, laketown
        from laketown.config import Settings
        ws = laketown.connect(Settings.model_validate(json.loads(sys.stdin.read())))
        ws.table("raw.fresh").append({"x": [2, 3]})
        """
    )
    subprocess.run([sys.executable, "-c", script], input=_settings_json(lake_ws), text=True, check=True, timeout=120)
    assert lake_ws.sql("SELECT sum(x) AS s FROM raw.fresh").column("s")[0].as_py() == 6


@pytest.mark.parametrize("query", ["SELECT * FROM read_csv('/etc/passwd')",
                                   "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
                                   "ATTACH 'warehouse' AS x (TYPE iceberg, ENDPOINT 'http://127.0.0.1:1')"])
def test_file_and_catalog_access_refused(lake_ws, query):
    with pytest.raises(SqlError, match="not allowed"):
        lake_ws.sql(query)


def test_connection_reads_only_the_data_root(lake_ws):
    import duckdb

    lake_ws.sql("SELECT 1")
    con = lake_ws.sql_engine._db.cursor()
    with pytest.raises(duckdb.PermissionException):
        con.execute("SELECT * FROM read_text('/etc/hostname')")
