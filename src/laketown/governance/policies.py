"""Grants, tag grants, row filters and column masks, and what they add up to for one principal.

Resources are ``*`` (everything), a zone (``raw``), a table (``raw.orders``) or a column
(``raw.orders.email``; select only). Privileges: select, insert, alter, grant (the right to
pass on what one holds). Row filters are restrictive: every filter that applies to a principal
or one of its roles must hold. When several masks apply to a column the strongest wins
(null > redact > hash > partial). Tables named ``curated.governance_*`` are for admins only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from laketown.governance import masks as masklib
from laketown.governance.errors import AccessDeniedError, GovernanceError
from laketown.governance.principals import PUBLIC, Principals
from laketown.governance.row_filters import check_predicate
from laketown.governance.store import Store, iso, now
from laketown.governance.tags import (
    TagExpression,
    check_tag,
    effective_tags,
    parse_expression,
)
from laketown.sql.database import quote_ident

PRIVILEGES = ("select", "insert", "alter", "grant")
ZONES = ("raw", "clean", "curated")
RESERVED_PREFIX = "curated.governance_"
_IDENT = r"[a-z_][a-z0-9_]*"
_RESOURCE = re.compile(rf"^(\*|(?:raw|clean|curated)(?:\.{_IDENT}(?:\.[A-Za-z_][A-Za-z0-9_]*)?)?)$")


def check_resource(resource: str) -> str:
    """``*``, ``zone``, ``zone.table`` or ``zone.table.column``."""
    if not isinstance(resource, str) or not _RESOURCE.match(resource):
        raise GovernanceError(
            f"bad resource {resource!r}: write *, a zone ({', '.join(ZONES)}), zone.table or zone.table.column"
        )
    return resource


def _ancestors(resource: str) -> list[str]:
    """``raw.t.c`` -> ``[raw.t.c, raw.t, raw, *]``."""
    parts = resource.split(".") if resource != "*" else []
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)] + ["*"]


@dataclass(frozen=True)
class TableAccess:
    """What one principal may read of one table: columns (with their mask, if any) and filters."""

    columns: tuple[tuple[str, str | None], ...]
    filters: tuple[str, ...]


@dataclass
class Snapshot:
    """All policies at one version, in memory."""

    version: int
    salt: str
    principals: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    grants: set[tuple[str, str, str]] = field(default_factory=set)
    tag_grants: list[tuple[str, TagExpression, str]] = field(default_factory=list)
    filters: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    masks: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    tag_masks: list[tuple[TagExpression, str, str]] = field(default_factory=list)
    tags: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))

    def subjects(self, principal: str) -> set[str]:
        return {principal} | self.roles.get(principal, set())

    def is_admin(self, principal: str) -> bool:
        p = self.principals.get(principal)
        if p is None:
            raise AccessDeniedError(f"unknown principal {principal!r}; an admin creates it with `laketown gov principal create`")
        if p["disabled"]:
            raise AccessDeniedError(f"principal {principal!r} is disabled")
        return bool(p["is_admin"]) or any(self.principals.get(r, {}).get("is_admin") for r in self.roles.get(principal, ()))

    def holds(self, principal: str, privilege: str, resource: str) -> bool:
        """Direct or role grant of ``privilege`` on ``resource`` or one of its ancestors."""
        if self.is_admin(principal):
            return True
        if resource.startswith(RESERVED_PREFIX):
            return False
        subjects = self.subjects(principal)
        return any((s, r, privilege) in self.grants for s in subjects for r in _ancestors(resource))

    def table_access(self, principal: str, table: str, columns: Sequence[str]) -> TableAccess | None:
        """The principal's view of ``table``; None when it may read no column of it."""
        if table.startswith(RESERVED_PREFIX):
            return None
        subjects = self.subjects(principal)
        whole = any((s, r, "select") in self.grants for s in subjects for r in _ancestors(table))
        by_tag = [expr for s, expr, priv in self.tag_grants if s in subjects and priv == "select"]
        masked_for = subjects | {PUBLIC}
        out = []
        for col in columns:
            tags = effective_tags(self.tags, table, col) if (by_tag or self.tag_masks) else {}
            if not (whole or any((s, f"{table}.{col}", "select") in self.grants for s in subjects)
                    or any(expr.matches(tags) for expr in by_tag)):
                continue
            kinds = [k for s, k in self.masks.get(f"{table}.{col}", []) if s in masked_for]
            kinds += [k for expr, s, k in self.tag_masks if s in masked_for and expr.matches(tags)]
            out.append((col, max(kinds, key=masklib.strength) if kinds else None))
        if not out:
            return None
        filters = tuple(p for s, p in sorted(self.filters.get(table, [])) if s in subjects)
        return TableAccess(tuple(out), filters)


def view_body(access: TableAccess, source: str, types: dict[str, str], salt: str) -> str:
    """``SELECT <columns, masked> FROM (SELECT * FROM <source> WHERE <filters>)``. The filter runs
    inside, on the raw columns, so that a masked column's alias cannot change what it tests."""
    select = []
    for col, kind in access.columns:
        ident = quote_ident(col)
        select.append(f"{masklib.mask_sql(kind, ident, types[col], salt)} AS {ident}" if kind else ident)
    inner = f"SELECT * FROM {source}"
    if access.filters:
        inner += " WHERE " + " AND ".join(f"({p})" for p in access.filters)
    return f"SELECT {', '.join(select)} FROM ({inner}) AS governed"


class Policies:
    """Read and change grants, filters, masks and tags; hand out snapshots by version."""

    def __init__(self, store: Store, principals: Principals):
        self.store = store
        self.principals = principals
        self._snapshot: Snapshot | None = None

    # -- snapshots -------------------------------------------------------------------------
    def snapshot(self, fresh: bool = True) -> Snapshot:
        """The policies now; reloaded only when the version moved (one SQLite read to learn)."""
        snap = self._snapshot
        if snap is not None and (not fresh or snap.version == self.store.version()):
            return snap
        snap = self._load()
        self._snapshot = snap
        return snap

    def _load(self) -> Snapshot:
        rows = self.store.rows
        snap = Snapshot(self.store.version(), self.store.meta("mask_salt") or "")
        snap.principals = {r["name"]: dict(r) for r in rows("SELECT * FROM principals")}
        for r in rows("SELECT member, role FROM memberships"):
            snap.roles[r["member"]].add(r["role"])
        snap.grants = {(r["subject"], r["resource"], r["privilege"]) for r in rows("SELECT * FROM grants")}
        snap.tag_grants = [(r["subject"], parse_expression(r["expression"]), r["privilege"])
                           for r in rows("SELECT * FROM tag_grants")]
        for r in rows("SELECT * FROM row_filters"):
            snap.filters[r["table_name"]].append((r["subject"], r["predicate"]))
        for r in rows("SELECT * FROM masks"):
            if r["target"].startswith("tag:"):
                snap.tag_masks.append((parse_expression(r["target"][4:]), r["subject"], r["kind"]))
            else:
                snap.masks[r["target"]].append((r["subject"], r["kind"]))
        for r in rows("SELECT * FROM tags"):
            snap.tags[r["resource"]][r["key"]] = r["value"]
        return snap

    # -- grants ----------------------------------------------------------------------------
    def _subject(self, subject: str) -> str:
        if not self.principals.exists(subject):
            self.principals.get(subject)  # raises, listing principals
        return subject

    def _privileges(self, privileges: str | Sequence[str], resource: str) -> list[str]:
        privs = [privileges] if isinstance(privileges, str) else list(privileges)
        privs = list(PRIVILEGES) if privs == ["all"] else privs
        for p in privs:
            if p not in PRIVILEGES:
                raise GovernanceError(f"unknown privilege {p!r}; use {', '.join(PRIVILEGES)} or all")
            if resource.count(".") == 2 and p != "select":
                raise GovernanceError(f"column {resource!r} takes only select, not {p!r}; grant {p} on the table")
        return privs

    def _may_grant(self, by: str | None, privs: list[str], resource: str) -> None:
        if by is None:
            return
        snap = self.snapshot()
        if snap.is_admin(by):
            return
        for p in privs:
            if not (snap.holds(by, "grant", resource) and snap.holds(by, p, resource)):
                raise AccessDeniedError(f"principal {by!r} may not grant {p} on {resource!r}: it needs {p} and grant there")

    def grant(self, subject: str, resource: str, privileges: str | Sequence[str] = "select", by: str | None = None) -> None:
        """Grant privileges on a resource to a principal or role; ``by`` (if given) must hold them with grant."""
        check_resource(resource)
        privs = self._privileges(privileges, resource)
        self._subject(subject)
        if resource.startswith(RESERVED_PREFIX):
            raise GovernanceError(f"{resource!r} is a governance table, readable by admins only; it cannot be granted")
        self._may_grant(by, privs, resource)
        with self.store.transaction() as con:
            for p in privs:
                con.execute("INSERT OR IGNORE INTO grants VALUES (?, ?, ?, ?, ?)", [subject, resource, p, by or "admin", iso(now())])
            self.store.changed_policy(con)

    def revoke(self, subject: str, resource: str, privileges: str | Sequence[str] = "select", by: str | None = None) -> int:
        """Remove grants; the next query already runs without them. Returns grants removed."""
        check_resource(resource)
        privs = self._privileges(privileges, resource)
        self._may_grant(by, privs, resource)
        with self.store.transaction() as con:
            n = sum(con.execute("DELETE FROM grants WHERE subject = ? AND resource = ? AND privilege = ?",
                                [subject, resource, p]).rowcount for p in privs)
            self.store.changed_policy(con)
        if n == 0:
            held = ", ".join(f"{g['privilege']} on {g['resource']}" for g in self.grants(subject)) or "none"
            raise GovernanceError(f"{subject!r} holds no {'/'.join(privs)} on {resource!r}; its grants: {held}")
        return n

    def grant_by_tag(self, subject: str, expression: str, privileges: str | Sequence[str] = "select") -> str:
        """Grant on every column whose tags match ``expression`` (now and as tags change)."""
        expr = parse_expression(expression)
        privs = self._privileges(privileges, "*")
        self._subject(subject)
        with self.store.transaction() as con:
            for p in privs:
                con.execute("INSERT OR IGNORE INTO tag_grants VALUES (?, ?, ?, ?, ?)", [subject, expr.text, p, "admin", iso(now())])
            self.store.changed_policy(con)
        return expr.text

    def revoke_by_tag(self, subject: str, expression: str, privileges: str | Sequence[str] = "select") -> int:
        expr = parse_expression(expression)
        privs = self._privileges(privileges, "*")
        with self.store.transaction() as con:
            n = sum(con.execute("DELETE FROM tag_grants WHERE subject = ? AND expression = ? AND privilege = ?",
                                [subject, expr.text, p]).rowcount for p in privs)
            self.store.changed_policy(con)
        return n

    def grants(self, subject: str | None = None) -> list[dict[str, Any]]:
        """Grants (and tag grants, resource ``tag:<expression>``), of one subject if given."""
        where, params = (" WHERE subject = ?", [subject]) if subject else ("", [])
        out = [dict(r) for r in self.store.rows(f"SELECT subject, resource, privilege, grantor FROM grants{where}", params)]
        out += [{"subject": r["subject"], "resource": f"tag:{r['expression']}", "privilege": r["privilege"],
                 "grantor": r["grantor"]} for r in self.store.rows(f"SELECT * FROM tag_grants{where}", params)]
        return sorted(out, key=lambda g: (g["subject"], g["resource"], g["privilege"]))

    # -- row filters and masks -------------------------------------------------------------
    def set_row_filter(self, table: str, subject: str, predicate: str | None) -> None:
        """Rows of ``table`` that ``subject`` sees must satisfy ``predicate`` (None removes it)."""
        check_resource(table)
        if table.count(".") != 1:
            raise GovernanceError(f"row filters go on a table (zone.table), not {table!r}")
        self._subject(subject)
        with self.store.transaction() as con:
            if predicate is None:
                con.execute("DELETE FROM row_filters WHERE table_name = ? AND subject = ?", [table, subject])
            else:
                con.execute(
                    "INSERT INTO row_filters VALUES (?, ?, ?, ?) ON CONFLICT (table_name, subject) "
                    "DO UPDATE SET predicate = excluded.predicate", [table, subject, check_predicate(predicate), iso(now())])
            self.store.changed_policy(con)

    def set_mask(self, target: str, kind: str | None, subject: str = PUBLIC) -> None:
        """Mask column ``zone.table.column`` — or every column matching ``tag:<expression>`` —
        for ``subject`` (a principal, a role, or ``*`` for everyone but admins). None removes it."""
        if target.startswith("tag:"):
            target = "tag:" + parse_expression(target[4:]).text
        else:
            check_resource(target)
            if target.count(".") != 2:
                raise GovernanceError(f"masks go on a column (zone.table.column) or tag:<expression>, not {target!r}")
        if subject != PUBLIC:
            self._subject(subject)
        with self.store.transaction() as con:
            if kind is None:
                con.execute("DELETE FROM masks WHERE target = ? AND subject = ?", [target, subject])
            else:
                con.execute("INSERT INTO masks VALUES (?, ?, ?, ?) ON CONFLICT (target, subject) DO UPDATE SET "
                            "kind = excluded.kind", [target, subject, masklib.check_kind(kind), iso(now())])
            self.store.changed_policy(con)

    def row_filters(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.store.rows("SELECT table_name, subject, predicate FROM row_filters ORDER BY 1, 2")]

    def masks(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.store.rows("SELECT target, subject, kind FROM masks ORDER BY 1, 2")]

    # -- tags ------------------------------------------------------------------------------
    def tag(self, resource: str, **tags: str | None) -> None:
        """Set tags on a zone, table or column (``tag("raw.users.email", pii="email")``); a value of None removes the key."""
        check_resource(resource)
        if resource == "*":
            raise GovernanceError("tag a zone, table or column, not '*'")
        with self.store.transaction() as con:
            for key, value in tags.items():
                if value is None:
                    con.execute("DELETE FROM tags WHERE resource = ? AND key = ?", [resource, key])
                    continue
                check_tag(key, str(value))
                con.execute("INSERT INTO tags VALUES (?, ?, ?) ON CONFLICT (resource, key) DO UPDATE SET value = excluded.value",
                            [resource, key, str(value)])
            self.store.changed_policy(con)

    def tags_of(self, resource: str, inherited: bool = True) -> dict[str, str]:
        """A resource's tags; with ``inherited``, those of its zone and table under its own."""
        snap = self.snapshot()
        if not inherited:
            return dict(snap.tags.get(resource, {}))
        parts = resource.split(".")
        if len(parts) == 1:
            return dict(snap.tags.get(resource, {}))
        table = ".".join(parts[:2])
        return effective_tags(snap.tags, table, parts[2] if len(parts) == 3 else None)

    def tagged(self, expression: str) -> list[str]:
        """Resources whose own tags match an expression."""
        expr = parse_expression(expression)
        return sorted(r for r, t in self.snapshot().tags.items() if expr.matches(t))
