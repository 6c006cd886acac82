"""Operational state in SQLite (``<workspace>/engagement/engagement.db``, WAL): endpoints,
templates, campaigns, journeys and each user's place in them, the outbox of messages with their
idempotency keys, and the app events journeys branch on. History goes to the lake as events."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from laketown.apps.engagement.settings import app_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS endpoints (
  user_id TEXT PRIMARY KEY, email TEXT, webhook_url TEXT, timezone TEXT NOT NULL DEFAULT 'UTC',
  opt_in INTEGER NOT NULL DEFAULT 1, unsubscribed INTEGER NOT NULL DEFAULT 0,
  attributes TEXT NOT NULL DEFAULT '{}', updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS templates (
  name TEXT PRIMARY KEY, subject TEXT NOT NULL, html TEXT NOT NULL, text TEXT,
  defaults TEXT NOT NULL DEFAULT '{}', updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS campaigns (
  campaign_id TEXT PRIMARY KEY, spec TEXT NOT NULL, status TEXT NOT NULL,
  next_run_at REAL, runs INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS journeys (
  journey_id TEXT PRIMARY KEY, spec TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS journey_state (
  journey_id TEXT NOT NULL, user_id TEXT NOT NULL, step_id TEXT NOT NULL, status TEXT NOT NULL,
  due_at REAL NOT NULL, entered_at REAL NOT NULL, updated_at REAL NOT NULL,
  PRIMARY KEY (journey_id, user_id));
CREATE INDEX IF NOT EXISTS journey_due ON journey_state (status, due_at);
CREATE TABLE IF NOT EXISTS journey_visits (
  journey_id TEXT NOT NULL, step_id TEXT NOT NULL, user_id TEXT NOT NULL, ts REAL NOT NULL,
  PRIMARY KEY (journey_id, step_id, user_id));
CREATE TABLE IF NOT EXISTS outbox (
  key TEXT PRIMARY KEY, message_id TEXT NOT NULL, user_id TEXT NOT NULL, channel TEXT NOT NULL,
  campaign_id TEXT, journey_id TEXT, step_id TEXT, variant TEXT, template TEXT,
  status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
  created_at REAL NOT NULL, sent_at REAL, due_at REAL, request TEXT, owner INTEGER);
CREATE INDEX IF NOT EXISTS outbox_user ON outbox (user_id, status, sent_at);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status);
CREATE TABLE IF NOT EXISTS user_events (
  user_id TEXT NOT NULL, event_type TEXT NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS user_events_idx ON user_events (user_id, event_type, ts);
"""


class Store:
    """One SQLite database shared by threads (one connection, a lock; WAL keeps readers of
    other processes unblocked)."""

    def __init__(self, ws: Any):
        self.path = app_dir(ws) / "engagement.db"
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives a killed process (the crash the outbox guards against);
            # only an OS crash or power loss can drop the newest commits
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Any = ()) -> int:
        with self._lock:
            return self._conn.execute(sql, params).rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def now() -> float:
    return time.time()
