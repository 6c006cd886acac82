"""The device registry (IoT Core things): things, thing types, groups, attributes,
enabled/disabled, credentials (hashed), in ``<workspace>/iot/registry.db`` (SQLite).

Broker users and topic ACLs are generated from it (:mod:`laketown.apps.iot.broker`): a thing
named ``d1`` may publish only under ``devices/d1/...``.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from laketown.apps.iot.credentials import hash_secret, new_secret, verify_secret
from laketown.errors import ConfigError, LaketownError

NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
TOPIC_ROOT = "devices"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS thing_types (name TEXT PRIMARY KEY, attributes TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS thing_groups (name TEXT PRIMARY KEY, parent TEXT);
CREATE TABLE IF NOT EXISTS things (
  name TEXT PRIMARY KEY, thing_type TEXT, thing_group TEXT, attributes TEXT NOT NULL DEFAULT '{}',
  enabled INTEGER NOT NULL DEFAULT 1, secret_hash TEXT NOT NULL, created_at TEXT DEFAULT CURRENT_TIMESTAMP);
"""


def device_topic(thing: str, suffix: str = "telemetry") -> str:
    """The topic a thing publishes ``suffix`` to: ``devices/<thing>/<suffix>``."""
    return f"{TOPIC_ROOT}/{thing}/{suffix}"


@dataclass(frozen=True)
class Thing:
    name: str
    thing_type: str | None = None
    thing_group: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "thing_type": self.thing_type, "thing_group": self.thing_group,
                "attributes": self.attributes, "enabled": self.enabled}


class DeviceRegistry:
    """Things and their credentials. ``register`` returns the thing's secret once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self.version = 0  # bumped on every change (brokers regenerate their users and ACLs)

    @classmethod
    def for_workspace(cls, ws: Any) -> DeviceRegistry:
        return cls(Path(ws.path) / "iot" / "registry.db")

    def _exec(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- types and groups ------------------------------------------------------------------
    def create_type(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        _check_name(name, "thing type")
        self._exec("INSERT OR REPLACE INTO thing_types VALUES (?, ?)", (name, json.dumps(attributes or {})))

    def create_group(self, name: str, parent: str | None = None) -> None:
        _check_name(name, "thing group")
        if parent is not None and not self._exec("SELECT 1 FROM thing_groups WHERE name=?", (parent,)):
            raise ConfigError(f"parent group {parent!r} does not exist; create it first")
        self._exec("INSERT OR REPLACE INTO thing_groups VALUES (?, ?)", (name, parent))

    def groups(self) -> dict[str, str | None]:
        return dict(self._exec("SELECT name, parent FROM thing_groups ORDER BY name"))

    # -- things ----------------------------------------------------------------------------
    def register(
        self, name: str, thing_type: str | None = None, thing_group: str | None = None,
        attributes: dict[str, Any] | None = None, secret: str | None = None,
    ) -> str:
        """Add (or re-key) a thing; returns its secret, which is stored only hashed."""
        _check_name(name, "thing")
        if thing_type and not self._exec("SELECT 1 FROM thing_types WHERE name=?", (thing_type,)):
            raise ConfigError(f"unknown thing type {thing_type!r}; create it with create_type first")
        if thing_group and not self._exec("SELECT 1 FROM thing_groups WHERE name=?", (thing_group,)):
            raise ConfigError(f"unknown thing group {thing_group!r}; create it with create_group first")
        secret = secret or new_secret()
        self._exec(
            "INSERT OR REPLACE INTO things (name, thing_type, thing_group, attributes, enabled, secret_hash) "
            "VALUES (?, ?, ?, ?, 1, ?)",
            (name, thing_type, thing_group, json.dumps(attributes or {}), hash_secret(secret)),
        )
        self.version += 1
        return secret

    def register_many(self, names: list[str], **kw: Any) -> dict[str, str]:
        """Register several things in one transaction; ``{name: secret}``."""
        out = {n: new_secret() for n in names}
        for n in names:
            _check_name(n, "thing")
        rows = [(n, kw.get("thing_type"), kw.get("thing_group"), json.dumps(kw.get("attributes") or {}),
                 hash_secret(s)) for n, s in out.items()]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO things (name, thing_type, thing_group, attributes, enabled, secret_hash) "
                "VALUES (?, ?, ?, ?, 1, ?)", rows)
            self._db.execute("COMMIT")
        self.version += 1
        return out

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.get(name)
        self._exec("UPDATE things SET enabled=? WHERE name=?", (int(enabled), name))
        self.version += 1

    def get(self, name: str) -> Thing:
        rows = self._exec("SELECT name, thing_type, thing_group, attributes, enabled FROM things WHERE name=?", (name,))
        if not rows:
            raise LaketownError(f"unknown thing {name!r}; register it first (there are {self.count()} things)")
        return _thing(rows[0])

    def things(self, enabled_only: bool = False) -> list[Thing]:
        where = " WHERE enabled=1" if enabled_only else ""
        return [_thing(r) for r in self._exec(
            f"SELECT name, thing_type, thing_group, attributes, enabled FROM things{where} ORDER BY name")]

    def count(self) -> int:
        return self._exec("SELECT count(*) FROM things")[0][0]

    def credentials(self) -> dict[str, str]:
        """``{thing: secret hash}`` of the enabled things (what a broker's user list holds)."""
        return dict(self._exec("SELECT name, secret_hash FROM things WHERE enabled=1"))

    def authenticate(self, name: str | None, secret: str | bytes | None) -> bool:
        """Whether ``name`` is an enabled thing and ``secret`` is its secret."""
        if not name:
            return False
        rows = self._exec("SELECT secret_hash FROM things WHERE name=? AND enabled=1", (name,))
        return bool(rows) and verify_secret(secret, rows[0][0])

    def close(self) -> None:
        self._db.close()


def may_publish(thing: str, topic: str) -> bool:
    """A thing may publish only under ``devices/<thing>/``."""
    return topic.startswith(f"{TOPIC_ROOT}/{thing}/")


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(f"{what} name {name!r} is not valid: use 1-128 letters, digits, '_', '.', ':' or '-'")


def _thing(row: tuple) -> Thing:
    return Thing(row[0], row[1], row[2], json.loads(row[3]), bool(row[4]))
