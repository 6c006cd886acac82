"""The governance database: one SQLite file in the workspace (``governance.db``).

Policies are small and change rarely; queries read them from an in-memory snapshot that is
reloaded when the ``version`` counter moves, which any process bumps on any policy change.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS principals (
  name TEXT PRIMARY KEY, kind TEXT NOT NULL, is_admin INTEGER NOT NULL DEFAULT 0,
  disabled INTEGER NOT NULL DEFAULT 0, description TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memberships (member TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY (member, role));
CREATE TABLE IF NOT EXISTS api_keys (
  key_id TEXT PRIMARY KEY, principal TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', secret_sha256 TEXT NOT NULL,
  created_at TEXT NOT NULL, expires_at TEXT, revoked_at TEXT);
CREATE TABLE IF NOT EXISTS grants (
  subject TEXT NOT NULL, resource TEXT NOT NULL, privilege TEXT NOT NULL, grantor TEXT NOT NULL,
  created_at TEXT NOT NULL, PRIMARY KEY (subject, resource, privilege));
CREATE TABLE IF NOT EXISTS tag_grants (
  subject TEXT NOT NULL, expression TEXT NOT NULL, privilege TEXT NOT NULL, grantor TEXT NOT NULL,
  created_at TEXT NOT NULL, PRIMARY KEY (subject, expression, privilege));
CREATE TABLE IF NOT EXISTS row_filters (
  table_name TEXT NOT NULL, subject TEXT NOT NULL, predicate TEXT NOT NULL, created_at TEXT NOT NULL,
  PRIMARY KEY (table_name, subject));
CREATE TABLE IF NOT EXISTS masks (
  target TEXT NOT NULL, subject TEXT NOT NULL, kind TEXT NOT NULL, created_at TEXT NOT NULL,
  PRIMARY KEY (target, subject));
CREATE TABLE IF NOT EXISTS tags (
  resource TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (resource, key));
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, kind TEXT NOT NULL, principal TEXT NOT NULL,
  statement TEXT NOT NULL, tables TEXT NOT NULL, rows INTEGER, outcome TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '', elapsed_ms REAL);
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts);
"""


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(ts: datetime | None) -> str | None:
    return ts.astimezone(timezone.utc).isoformat(timespec="microseconds") if ts else None


class Store:
    """A thread-safe handle on ``governance.db`` with a policy version counter."""

    def __init__(self, path: Path, admin: str = "admin"):
        self.path = path
        self._lock = threading.RLock()
        self._con = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._con.row_factory = sqlite3.Row
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=NORMAL")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                self._con.execute(statement)
        with self.transaction() as con:
            con.execute("INSERT OR IGNORE INTO meta VALUES ('version', '1')")
            con.execute("INSERT OR IGNORE INTO meta VALUES ('mask_salt', ?)", [secrets.token_hex(16)])
            con.execute(
                "INSERT OR IGNORE INTO principals (name, kind, is_admin, description, created_at) "
                "VALUES (?, 'user', 1, 'the local administrator', ?)",
                [admin, iso(now())],
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error), serialised in-process."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._con.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; returns the rows it changed."""
        with self._lock:
            return self._con.execute(sql, params).rowcount

    def changed_policy(self, con: sqlite3.Connection) -> None:
        """Bump the version inside a transaction that changed a policy."""
        con.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")

    def version(self) -> int:
        return int(self.meta("version") or 0)

    def meta(self, key: str) -> str | None:
        rows = self.rows("SELECT value FROM meta WHERE key = ?", [key])
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])

    def close(self) -> None:
        with self._lock:
            self._con.close()
