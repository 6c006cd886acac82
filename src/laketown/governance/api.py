"""``ws.governance``: the Python API of principals, keys, policies, tags and audit.

It is also the SQL engine's access policy (``version``, ``is_admin``, ``view_body``,
``record_query``) and the lake's write hook (audit, column statistics). The CLI and the HTTP
API are thin skins over this object.
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from laketown.governance.audit import AuditLog
from laketown.governance.errors import AccessDeniedError, AuthenticationError
from laketown.governance.keys import ApiKeys, key_id_of
from laketown.governance.policies import Policies, view_body
from laketown.governance.principals import PUBLIC, Principals
from laketown.governance.store import Store

if TYPE_CHECKING:
    from laketown.catalog import Catalog
    from laketown.catalog.crawler import Crawler
    from laketown.catalog.lineage import Lineage
    from laketown.catalog.quality import Quality
    from laketown.lake import LakeTable
    from laketown.sql.engine import QueryEvent
    from laketown.workspace import Workspace

log = logging.getLogger(__name__)


def _privs(privileges: str | Sequence[str]) -> str:
    return privileges if isinstance(privileges, str) else ",".join(privileges)
ADMIN = "admin"
_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("laketown_actor", default=None)


class Governance:
    """Lake Formation for one workspace: who may read what, and what happened."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.store = Store(ws.path / "governance.db", admin=ADMIN)
        self.principals = Principals(self.store)
        self.keys = ApiKeys(self.store, self.principals)
        self.policies = Policies(self.store, self.principals)
        self.audit = AuditLog(self.store)
        self._stats_lock = threading.Lock()
        self._stats_pending: dict[str, tuple[Any, str]] = {}
        self._stats_worker: threading.Thread | None = None
        self._closing = False
        atexit.register(self.wait_for_background)  # a scan cut off at exit would abort DuckDB

    # -- the SQL engine's access policy ----------------------------------------------------
    def version(self) -> int:
        return self.store.version()

    def is_admin(self, principal: str) -> bool:
        """True for admins; :class:`AccessDeniedError` for unknown or disabled principals."""
        return self.policies.snapshot().is_admin(principal)

    def view_body(self, principal: str, table: str, source: str, columns: Sequence[tuple[str, str]]) -> str | None:
        snap = self.policies.snapshot(fresh=False)
        access = snap.table_access(principal, table, [c for c, _ in columns])
        return None if access is None else view_body(access, source, dict(columns), snap.salt)

    def record_query(self, event: QueryEvent) -> None:
        self.audit.record("query", event.principal, event.statement, event.tables, event.rows, event.outcome,
                          event.detail, event.elapsed_s)

    # -- the lake's write hook -------------------------------------------------------------
    @contextmanager
    def acting_as(self, principal: str) -> Iterator[None]:
        """Attribute lake writes inside the block to ``principal`` in the audit."""
        token = _actor.set(principal)
        try:
            yield
        finally:
            _actor.reset(token)

    @property
    def actor(self) -> str:
        return _actor.get() or self.ws.settings.sql.principal

    def on_write(self, table: LakeTable, operation: str, rows: int) -> None:
        """Audit a committed write and refresh what depends on it; never fails the write."""
        try:
            snap = table.iceberg.current_snapshot()
            self.audit.record("write", self.actor, f"{operation} {table.name}", [table.name], rows, "ok",
                              f"snapshot {snap.snapshot_id}" if snap else "")
            for hook in self.after_write:
                hook(table, operation, rows)
        except Exception:
            log.exception("governance write hook failed for %s", table.name)

    @cached_property
    def after_write(self) -> list[Any]:
        """More write hooks run after the audit: column statistics (in the background, so a
        commit never waits for a scan; readers refresh at once when they find them behind)."""
        return [self._queue_stats]

    def _queue_stats(self, table: LakeTable, operation: str, rows: int) -> None:
        with self._stats_lock:
            self._stats_pending[table.name] = (table, operation)
            if self._stats_worker is None:
                self._stats_worker = threading.Thread(target=self._drain_stats, name="column-stats", daemon=True)
                self._stats_worker.start()

    def _drain_stats(self) -> None:
        while True:
            with self._stats_lock:
                if not self._stats_pending or self._closing:
                    self._stats_worker = None
                    return
                name, (table, operation) = self._stats_pending.popitem()
            try:
                self.catalog.stats.on_write(table, operation)
            except Exception:  # noqa: BLE001 - statistics are advisory: log, never fail anything
                log.exception("column statistics refresh failed for %s", name)

    def wait_for_background(self, timeout: float = 60.0) -> None:
        """Let a running statistics refresh finish (the process exits or the workspace closes)."""
        worker = self._stats_worker
        if worker is not None:
            worker.join(timeout)

    @cached_property
    def quality(self) -> Quality:
        """Data quality rules, checks with quarantine, and scores over time."""
        from laketown.catalog.quality import Quality

        return Quality(self)

    def check(self, table: str, data: Any) -> tuple[pa.Table, pa.Table]:
        """``(good, quarantined)`` rows of ``data`` by ``table``'s quality rules (for sinks and jobs)."""
        result = self.quality.check(table, data)
        return result.good, result.quarantined

    @cached_property
    def lineage(self) -> Lineage:
        """OpenLineage-shaped run events and the table graph."""
        from laketown.catalog.lineage import Lineage

        return Lineage(self)

    @cached_property
    def crawler(self) -> Crawler:
        """Infer and register raw tables from folders or S3 prefixes of files."""
        from laketown.catalog.crawler import Crawler

        return Crawler(self)

    @cached_property
    def catalog(self) -> Catalog:
        """Descriptions, owners, docs, PII classification, search, schema history, statistics."""
        from laketown.catalog import Catalog

        return Catalog(self)

    # -- principals and keys ---------------------------------------------------------------
    def create_principal(self, name: str, kind: str = "user", admin: bool = False, description: str = "",
                         roles: Sequence[str] = (), exist_ok: bool = False) -> dict[str, Any]:
        """Create a user, role or service principal; see :meth:`Principals.create`."""
        out = self.principals.create(name, kind, admin, description, tuple(roles), exist_ok)
        self._policy_event(f"create principal {name} kind={kind} admin={admin} roles={list(roles)}")
        return out

    def add_to_role(self, member: str, role: str) -> None:
        self.principals.add_to_role(member, role)
        self._policy_event(f"add {member} to role {role}")

    def create_api_key(self, principal: str, name: str = "", expires_in: timedelta | None = timedelta(days=90),
                       expires_at: datetime | None = None) -> str:
        """A new API key for ``principal``; the returned string is the only copy of it."""
        key = self.keys.create(principal, name, expires_in, expires_at)
        self._policy_event(f"create api key {key_id_of(key)} for {principal}")
        return key

    def revoke_api_key(self, key_or_id: str) -> None:
        """Revoke a key (whole, or its id); the next request with it gets 401."""
        self.keys.revoke(key_or_id)
        self._policy_event(f"revoke api key {key_id_of(key_or_id) or key_or_id}")

    def console_key(self, principal: str = ADMIN, days: float = 30) -> str:
        """A fresh key named ``console`` for ``principal`` (the demo prints it at start); the
        previous console keys of that principal are revoked."""
        for k in self.keys.list(principal):
            if k["name"] == "console" and not k["revoked_at"]:
                self.keys.revoke(k["key_id"])
        return self.create_api_key(principal, "console", timedelta(days=days))

    def authenticate(self, key: str | None) -> str:
        """The principal of an API key; :class:`AuthenticationError` otherwise (audited)."""
        try:
            return self.keys.authenticate(key)
        except AuthenticationError as exc:
            self.audit.record("auth", "anonymous", f"authenticate key {key_id_of(key or '') or '(malformed)'}",
                              outcome="denied", detail=str(exc))
            raise

    # -- policies --------------------------------------------------------------------------
    def grant(self, subject: str, resource: str, privileges: str | Sequence[str] = "select", by: str | None = None) -> None:
        """Grant privileges (select, insert, alter, grant, or all) on ``*``, a zone, a table or a column."""
        self.policies.grant(subject, resource, privileges, by)
        self._policy_event(f"grant {_privs(privileges)} on {resource} to {subject}", by)

    def revoke(self, subject: str, resource: str, privileges: str | Sequence[str] = "select", by: str | None = None) -> int:
        """Revoke privileges; the next query runs without them."""
        n = self.policies.revoke(subject, resource, privileges, by)
        self._policy_event(f"revoke {_privs(privileges)} on {resource} from {subject}", by)
        return n

    def grant_by_tag(self, subject: str, expression: str, privileges: str | Sequence[str] = "select") -> str:
        """Grant on every column whose tags match ``expression`` (``"domain=sales and pii=none"``)."""
        text = self.policies.grant_by_tag(subject, expression, privileges)
        self._policy_event(f"grant {_privs(privileges)} on tag:{text} to {subject}")
        return text

    def revoke_by_tag(self, subject: str, expression: str, privileges: str | Sequence[str] = "select") -> int:
        n = self.policies.revoke_by_tag(subject, expression, privileges)
        self._policy_event(f"revoke {_privs(privileges)} on tag:{expression} from {subject}")
        return n

    def set_row_filter(self, table: str, subject: str, predicate: str | None) -> None:
        """Only rows where ``predicate`` holds are visible to ``subject`` (None removes the filter)."""
        self.policies.set_row_filter(table, subject, predicate)
        self._policy_event(f"row filter on {table} for {subject}: {predicate}")

    def set_mask(self, target: str, kind: str | None, subject: str = PUBLIC) -> None:
        """Mask a column (``zone.table.column``) or tagged columns (``tag:pii=*``) with hash, redact,
        partial[:N] or null, for ``subject`` (``*``: everyone but admins); None removes it."""
        self.policies.set_mask(target, kind, subject)
        self._policy_event(f"mask {target} for {subject}: {kind}")

    def tag(self, resource: str, **tags: str | None) -> None:
        """Tag a zone, table or column: ``tag("raw.users.email", pii="email")``."""
        self.policies.tag(resource, **tags)
        self._policy_event(f"tag {resource} {tags}")

    def allowed(self, principal: str, privilege: str, resource: str) -> bool:
        """Whether ``principal`` holds ``privilege`` on ``resource`` (for write paths and APIs)."""
        return self.policies.snapshot().holds(principal, privilege, resource)

    def require(self, principal: str, privilege: str, resource: str) -> None:
        """Raise :class:`AccessDeniedError` (and audit it) unless :meth:`allowed`."""
        if not self.allowed(principal, privilege, resource):
            self.audit.record("write" if privilege in ("insert", "alter") else "query", principal,
                              f"{privilege} on {resource}", [resource] if resource.count(".") == 1 else [],
                              outcome="denied", detail="no grant")
            raise AccessDeniedError(f"principal {principal!r} may not {privilege} on {resource!r}; ask an admin for a grant")

    def visible_tables(self, principal: str) -> list[str]:
        """Tables ``principal`` may read."""
        return self.ws.sql_engine.visible_tables(principal)

    def _policy_event(self, what: str, by: str | None = None) -> None:
        self.audit.record("policy", by or self.actor, what)

    # -- audit -----------------------------------------------------------------------------
    def audit_events(self, as_principal: str | None = None, **filters: Any) -> pa.Table:
        """Audit events, newest first (admins only); filters: principal, outcome, kind, table, since, limit."""
        who = as_principal or self.actor
        if not self.is_admin(who):
            self.audit.record("query", who, "read audit log", outcome="denied", detail="admins only")
            raise AccessDeniedError(f"principal {who!r} may not read the audit log; it is for admins only")
        return self.audit.events(**filters)

    def export_audit(self) -> int:
        """Copy new audit events to the admin-only lake table ``curated.governance_audit``."""
        return self.audit.export(self.ws.lake)

    def close(self) -> None:
        with self._stats_lock:
            self._closing = True
        self.wait_for_background()
        self.store.close()
