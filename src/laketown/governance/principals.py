"""Principals: users, roles and service principals, and which roles a principal holds."""

from __future__ import annotations

import re
from typing import Any

from laketown.governance.errors import GovernanceError
from laketown.governance.store import Store, iso, now

KINDS = ("user", "role", "service")
PUBLIC = "*"  # masks may name every principal at once
_NAME = re.compile(r"^[a-z][a-z0-9_.@-]{0,63}$")


def check_name(name: str) -> str:
    """A principal name: lower case letter first, then letters, digits, ``_ . @ -`` (max 64)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise GovernanceError(
            f"bad principal name {name!r}: start with a lower case letter, then use a-z 0-9 _ . @ - (max 64)"
        )
    return name


class Principals:
    """Create, list, disable principals; add users and services to roles."""

    def __init__(self, store: Store):
        self.store = store

    def create(self, name: str, kind: str = "user", admin: bool = False, description: str = "",
               roles: tuple[str, ...] | list[str] = (), exist_ok: bool = False) -> dict[str, Any]:
        """Create a principal (``kind``: user, role or service); ``roles`` it joins at once."""
        check_name(name)
        if kind not in KINDS:
            raise GovernanceError(f"unknown principal kind {kind!r}; use one of {', '.join(KINDS)}")
        with self.store.transaction() as con:
            row = con.execute("SELECT kind FROM principals WHERE name = ?", [name]).fetchone()
            if row is not None:
                if not exist_ok:
                    raise GovernanceError(f"principal {name!r} already exists (a {row['kind']}); pick another name")
            else:
                con.execute(
                    "INSERT INTO principals (name, kind, is_admin, description, created_at) VALUES (?, ?, ?, ?, ?)",
                    [name, kind, int(admin), description, iso(now())],
                )
            self.store.changed_policy(con)
        for role in roles:
            self.add_to_role(name, role)
        return self.get(name)

    def get(self, name: str) -> dict[str, Any]:
        """One principal with its roles; an unknown name lists the known ones."""
        rows = self.store.rows("SELECT * FROM principals WHERE name = ?", [name])
        if not rows:
            known = ", ".join(r["name"] for r in self.store.rows("SELECT name FROM principals ORDER BY name"))
            raise GovernanceError(f"unknown principal {name!r}; principals: {known}")
        out = dict(rows[0])
        out["is_admin"], out["disabled"] = bool(out["is_admin"]), bool(out["disabled"])
        out["roles"] = self.roles_of(name)
        return out

    def exists(self, name: str) -> bool:
        return bool(self.store.rows("SELECT 1 FROM principals WHERE name = ?", [name]))

    def list(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every principal (of one kind if given), sorted by name."""
        sql = "SELECT name FROM principals" + (" WHERE kind = ?" if kind else "") + " ORDER BY name"
        return [self.get(r["name"]) for r in self.store.rows(sql, [kind] if kind else [])]

    def roles_of(self, name: str) -> list[str]:
        return [r["role"] for r in self.store.rows("SELECT role FROM memberships WHERE member = ? ORDER BY role", [name])]

    def add_to_role(self, member: str, role: str) -> None:
        """Make ``member`` (a user or service) hold ``role``."""
        if self.get(role)["kind"] != "role":
            raise GovernanceError(f"{role!r} is not a role; create it with kind='role'")
        if self.get(member)["kind"] == "role":
            raise GovernanceError(f"{member!r} is a role; roles do not nest, add users or services to {role!r}")
        with self.store.transaction() as con:
            con.execute("INSERT OR IGNORE INTO memberships VALUES (?, ?)", [member, role])
            self.store.changed_policy(con)

    def remove_from_role(self, member: str, role: str) -> None:
        with self.store.transaction() as con:
            con.execute("DELETE FROM memberships WHERE member = ? AND role = ?", [member, role])
            self.store.changed_policy(con)

    def set_disabled(self, name: str, disabled: bool = True) -> None:
        """A disabled principal can neither authenticate nor query."""
        self.get(name)
        with self.store.transaction() as con:
            con.execute("UPDATE principals SET disabled = ? WHERE name = ?", [int(disabled), name])
            self.store.changed_policy(con)

    def set_admin(self, name: str, admin: bool = True) -> None:
        self.get(name)
        with self.store.transaction() as con:
            con.execute("UPDATE principals SET is_admin = ? WHERE name = ?", [int(admin), name])
            self.store.changed_policy(con)

    def drop(self, name: str) -> None:
        """Remove a principal, its memberships, grants, filters, masks and keys."""
        self.get(name)
        with self.store.transaction() as con:
            for sql in ("DELETE FROM principals WHERE name = ?", "DELETE FROM memberships WHERE member = ? OR role = ?",
                        "DELETE FROM grants WHERE subject = ?", "DELETE FROM tag_grants WHERE subject = ?",
                        "DELETE FROM row_filters WHERE subject = ?", "DELETE FROM masks WHERE subject = ?",
                        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE principal = ?"):
                n = sql.count("?")
                params = [iso(now()), name] if sql.startswith("UPDATE") else [name] * n
                con.execute(sql, params)
            self.store.changed_policy(con)
