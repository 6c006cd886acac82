"""DuckDB over the lake: every catalog table is a view ``zone.table`` at its latest snapshot.

One in-memory DuckDB database per workspace holds the views. Before each query the views are
synced with the catalog's current metadata locations (one cheap catalog query), so a commit
made by another process is visible to the next query. User SQL runs on a cursor of a
database whose external access is off, limited to the warehouse, and locked.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import pyarrow as pa

from laketown.errors import SqlError
from laketown.sql import extensions, guard

if TYPE_CHECKING:
    from laketown.config import Settings
    from laketown.lake import Lake


class QueryPolicy(Protocol):
    """Hook the governance layer plugs in: may refuse or rewrite a statement for a principal."""

    def authorize(self, principal: str, sql: str) -> str: ...


@dataclass
class QueryResult:
    table: pa.Table
    truncated: bool
    elapsed_s: float
    principal: str
    statements: list[str] = field(default_factory=list)

    def to_arrow(self) -> pa.Table:
        return self.table


def _local_dir(uri: str) -> str:
    return uri.removeprefix("file://").rstrip("/") + "/"


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


class SqlEngine:
    """Governed, read-only DuckDB SQL over the lake's tables."""

    def __init__(self, lake: Lake, settings: Settings):
        self.lake = lake
        self.settings = settings
        self.policy: QueryPolicy | None = None
        self._lock = threading.Lock()
        self._views: dict[tuple[str, str], str] = {}
        config: dict[str, Any] = extensions.connection_config()
        if settings.sql.threads:
            config["threads"] = str(settings.sql.threads)
        if settings.sql.memory_limit:
            config["memory_limit"] = settings.sql.memory_limit
        self._db = duckdb.connect(":memory:", config=config)
        root = settings.data_root
        extensions.load(self._db, "avro", "iceberg")
        if root.startswith("s3://"):
            extensions.load(self._db, "httpfs")
            self._db.execute(self._s3_secret())
        from laketown.lake import ZONES

        for zone in ZONES:
            self._db.execute(f"CREATE SCHEMA IF NOT EXISTS {zone}")
        allowed = root.rstrip("/") + "/" if root.startswith("s3://") else _local_dir(root)
        self._db.execute(f"SET allowed_directories = [{_quote(allowed)}]")
        self._db.execute("SET enable_external_access = false")
        self._db.execute("SET lock_configuration = true")

    def _s3_secret(self) -> str:
        st = self.settings.storage
        parts = ["TYPE s3", f"REGION {_quote(st.s3_region)}"]
        if st.s3_access_key_id:
            parts.append(f"KEY_ID {_quote(st.s3_access_key_id)}")
        if st.s3_secret_access_key:
            parts.append(f"SECRET {_quote(st.s3_secret_access_key.get_secret_value())}")
        if st.s3_endpoint:
            scheme, _, host = st.s3_endpoint.partition("://")
            parts.append(f"ENDPOINT {_quote(host or scheme)}")
            parts.append(f"USE_SSL {'true' if scheme == 'https' else 'false'}")
        if st.s3_path_style:
            parts.append("URL_STYLE 'path'")
        return f"CREATE OR REPLACE SECRET laketown_s3 ({', '.join(parts)})"

    # -- views -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Point every view at its table's current metadata; add and drop views as needed."""
        current = self.lake.metadata_locations()
        with self._lock:
            con = self._db.cursor()
            try:
                present = {
                    (s, n)
                    for s, n in con.execute(
                        "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
                    ).fetchall()
                }
                for key in list(self._views):
                    if key not in current:
                        con.execute(f'DROP VIEW IF EXISTS {key[0]}."{key[1]}"')
                        del self._views[key]
                for key, location in current.items():
                    if self._views.get(key) == location and key in present:
                        continue
                    zone, name = key
                    con.execute(
                        f'CREATE OR REPLACE VIEW {zone}."{name}" AS '
                        f"SELECT * FROM iceberg_scan({_quote(location)})"
                    )
                    self._views[key] = location
            finally:
                con.close()

    # -- queries ---------------------------------------------------------------------------
    def query(
        self,
        sql: str,
        params: list[Any] | dict[str, Any] | None = None,
        principal: str | None = None,
        max_rows: int | None = None,
        timeout_s: float | None = None,
    ) -> QueryResult:
        """Run read-only SQL as ``principal``. ``max_rows`` caps the rows returned (``None``: all;
        the server and CLI pass ``sql.max_rows``); ``timeout_s`` defaults to ``sql.timeout_s``."""
        principal = principal or self.settings.sql.principal
        timeout_s = timeout_s or self.settings.sql.timeout_s
        self.refresh()
        con = self._db.cursor()
        start = time.perf_counter()
        statements = guard.check(con, sql)
        if self.policy is not None:
            statements = [self.policy.authorize(principal, s) for s in statements]
        timer = threading.Timer(timeout_s, con.interrupt)
        timer.start()
        try:
            for text in statements[:-1]:
                con.execute(text, params)
            con.execute(statements[-1], params)
            if max_rows is None:
                table = con.to_arrow_table()
                rows = table.num_rows
                truncated = False
            else:
                reader = con.to_arrow_reader(min(max_rows + 1, 100_000))
                batches, rows = [], 0
                for batch in reader:
                    batches.append(batch)
                    rows += batch.num_rows
                    if rows > max_rows:
                        break
                table = pa.Table.from_batches(batches, schema=reader.schema).slice(0, max_rows)
                truncated = rows > max_rows
        except duckdb.InterruptException:
            raise SqlError(
                f"query stopped after the time limit of {timeout_s:g} s; narrow it or raise sql.timeout_s"
            ) from None
        except duckdb.PermissionException as exc:
            raise SqlError(f"not allowed: {exc}") from None
        except duckdb.CatalogException as exc:
            names = ", ".join(f"{z}.{n}" for z, n in sorted(self._views)) or "none yet"
            raise SqlError(f"{exc}\nlake tables: {names}") from None
        except duckdb.Error as exc:
            raise SqlError(str(exc)) from None
        finally:
            timer.cancel()
            con.close()
        return QueryResult(table, truncated, time.perf_counter() - start, principal, statements)

    def close(self) -> None:
        self._db.close()
