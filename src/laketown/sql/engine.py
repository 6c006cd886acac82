"""DuckDB over the lake: every catalog table is a view ``zone.table`` at its latest snapshot.

Admins query one in-memory DuckDB database whose views read the tables whole. Every other
principal gets a database of its own (cached, rebuilt when the policies change) in which
only the tables it may read exist, each as a view with its column masks and row filter
applied. So ``SELECT *``, CTEs, joins, catalog views — however a query is written — can reach
only what the principal may see. Before each query the views are synced with the catalog's
current metadata locations (one cheap catalog query), so a commit made by another process is
visible to the next query. Every query, allowed or denied, is reported to the policy's audit.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import pyarrow as pa

from laketown.errors import SqlError
from laketown.sql import guard
from laketown.sql.database import ViewSet, open_locked, quote_literal
from laketown.sql.errors import AccessDeniedError

if TYPE_CHECKING:
    from laketown.config import Settings
    from laketown.lake import Lake

#: principals whose databases stay open at once; the least recently used one closes first
MAX_SESSIONS = 16


@dataclass
class QueryEvent:
    """What the audit records about one query."""

    principal: str
    statement: str
    tables: list[str]
    rows: int | None
    outcome: str  # ok | denied | error
    detail: str = ""
    elapsed_s: float = 0.0


class AccessPolicy(Protocol):
    """What the governance layer provides to the SQL engine."""

    def version(self) -> int:
        """A number that changes whenever a policy changes (in any process)."""

    def is_admin(self, principal: str) -> bool:
        """True for admins; raises :class:`AccessDeniedError` for an unknown or disabled principal."""

    def view_body(self, principal: str, table: str, source: str, columns: Sequence[tuple[str, str]]) -> str | None:
        """``SELECT ... FROM <source> [WHERE ...]`` for the principal's view of ``table`` (whose
        columns are ``(name, duckdb type)``), or None when the principal may not read it."""

    def record_query(self, event: QueryEvent) -> None:
        """Append one query to the audit."""


QueryPolicy = AccessPolicy  # the earlier name


@dataclass
class QueryResult:
    table: pa.Table
    truncated: bool
    elapsed_s: float
    principal: str
    statements: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)

    def to_arrow(self) -> pa.Table:
        return self.table


@dataclass
class _Session:
    """One governed principal's database."""

    db: duckdb.DuckDBPyConnection
    views: ViewSet
    reserved: set[str]


def _reserved_names(db: duckdb.DuckDBPyConnection) -> set[str]:
    rows = db.execute(
        "SELECT lower(view_name) FROM duckdb_views() UNION SELECT lower(table_name) FROM duckdb_tables()"
    ).fetchall()
    return {r[0] for r in rows}


class SqlEngine:
    """Governed, read-only DuckDB SQL over the lake's tables."""

    def __init__(self, lake: Lake, settings: Settings, policy: AccessPolicy | None = None):
        self.lake = lake
        self.settings = settings
        self.policy = policy
        self._lock = threading.RLock()
        self._db = open_locked(settings)
        self._base = ViewSet(self._db)
        self._locations: dict[tuple[str, str], str] = {}
        self._columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._sessions: OrderedDict[str, _Session] = OrderedDict()

    @property
    def _views(self) -> dict[tuple[str, str], str]:
        return self._locations

    # -- views -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Point every admin view at its table's current metadata; add and drop views as needed."""
        current = self.lake.metadata_locations()
        with self._lock:
            wanted = {key: f"SELECT * FROM iceberg_scan({quote_literal(loc)})" for key, loc in current.items()}
            changed = self._base.sync(wanted)
            self._locations = dict(current)
            con = self._db.cursor()
            try:
                for key in changed:
                    if key not in current:
                        self._columns.pop(key, None)
                        continue
                    self._columns[key] = con.execute(
                        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? "
                        "AND table_name = ? ORDER BY column_index",
                        [key[0], key[1]],
                    ).fetchall()
            finally:
                con.close()

    def _session(self, principal: str) -> _Session:
        """The principal's database with its views synced to the current tables and policies."""
        assert self.policy is not None
        with self._lock:
            session = self._sessions.get(principal)
            if session is None:
                db = open_locked(self.settings)
                session = _Session(db, ViewSet(db), _reserved_names(db))
                self._sessions[principal] = session
                while len(self._sessions) > MAX_SESSIONS:
                    # not closed here: a query of that principal may still be running on it;
                    # the database goes when its last cursor does
                    self._sessions.popitem(last=False)
            self._sessions.move_to_end(principal)
            wanted = {}
            for key, location in self._locations.items():
                source = f"iceberg_scan({quote_literal(location)})"
                body = self.policy.view_body(principal, f"{key[0]}.{key[1]}", source, self._columns.get(key, []))
                if body is not None:
                    wanted[key] = body
            session.views.sync(wanted)
            return session

    def visible_tables(self, principal: str | None = None) -> list[str]:
        """The ``zone.table`` names ``principal`` may read (every table for an admin)."""
        principal = principal or self.settings.sql.principal
        self.refresh()
        if self.policy is None or self.policy.is_admin(principal):
            return self._base.names()
        return self._session(principal).views.names()

    def internal_query(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """Trusted SQL written by Laketown itself (statistics, quality checks) on the admin
        database, unaudited. Never pass user text here; user SQL goes through :meth:`query`."""
        self.refresh()
        con = self._db.cursor()
        try:
            return con.execute(sql, params).to_arrow_table()
        except duckdb.Error as exc:
            raise SqlError(str(exc)) from None
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
        start = time.perf_counter()
        tables: list[str] = []
        try:
            result = self._run(sql, params, principal, max_rows, timeout_s or self.settings.sql.timeout_s, tables)
        except SqlError as exc:
            outcome = "denied" if isinstance(exc, AccessDeniedError) else "error"
            self._record(QueryEvent(principal, sql, tables, None, outcome, str(exc), time.perf_counter() - start))
            raise
        result.elapsed_s = time.perf_counter() - start
        self._record(QueryEvent(principal, sql, tables, result.table.num_rows, "ok", "", result.elapsed_s))
        return result

    def _record(self, event: QueryEvent) -> None:
        if self.policy is not None:
            self.policy.record_query(event)

    def _run(
        self, sql: str, params: Any, principal: str, max_rows: int | None, timeout_s: float, tables: list[str]
    ) -> QueryResult:
        admin = self.policy is None or self.policy.is_admin(principal)
        self.refresh()
        if admin:
            db, visible = self._db, self._base.names()
        else:
            session = self._session(principal)
            db, visible = session.db, session.views.names()
        con = db.cursor()
        try:
            statements = guard.check(con, sql)
            for st in statements:
                tables.extend(sorted(st.tables - set(tables)))
            if not admin:
                missing = guard.check_governed(statements, set(visible), session.reserved)
                if missing:
                    raise self._unknown(min(missing), principal, visible)
            return self._execute(con, statements, params, principal, max_rows, timeout_s, visible, admin)
        finally:
            con.close()

    def _unknown(self, name: str, principal: str, visible: list[str]) -> SqlError:
        """The same words whether the table is missing or hidden, so that names do not leak."""
        names = ", ".join(visible) or "none"
        message = f"unknown table {name!r}, or principal {principal!r} may not read it; tables it may read: {names}"
        exists = tuple(name.split(".", 1)) in self._locations
        return AccessDeniedError(message) if exists else SqlError(message)

    def _execute(
        self,
        con: duckdb.DuckDBPyConnection,
        statements: list[guard.Statement],
        params: Any,
        principal: str,
        max_rows: int | None,
        timeout_s: float,
        visible: list[str],
        admin: bool,
    ) -> QueryResult:
        timer = threading.Timer(timeout_s, con.interrupt)
        timer.start()
        try:
            for st in statements[:-1]:
                con.execute(st.text, params)
            con.execute(statements[-1].text, params)
            if max_rows is None:
                table = con.to_arrow_table()
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
            raise AccessDeniedError(f"not allowed: {exc}") from None
        except duckdb.CatalogException as exc:
            names = ", ".join(visible) or "none yet"
            label = "lake tables" if admin else f"tables {principal!r} may read"
            raise SqlError(f"{exc}\n{label}: {names}") from None
        except duckdb.Error as exc:
            raise SqlError(str(exc)) from None
        finally:
            timer.cancel()
        tables = sorted({t for st in statements for t in st.tables})
        return QueryResult(table, truncated, 0.0, principal, [st.text for st in statements], tables)

    def close(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                session.db.close()
            self._sessions.clear()
        self._db.close()
