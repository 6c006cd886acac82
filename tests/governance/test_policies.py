"""Grants, revocation, roles, tags, masks and row filters as the SQL engine enforces them."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

from laketown.errors import SqlError
from laketown.governance import GovernanceError
from laketown.sql import AccessDeniedError


@pytest.fixture
def users(ws):
    ws.lake.write("raw.users", pa.table({
        "id": [1, 2, 3, 4], "email": ["a@x.io", "b@x.io", "c@x.io", "d@x.io"],
        "phone": ["+33 6 12 34 56 78", "+1 202 555 0101", None, "+49 30 1234567"],
        "region": ["EU", "US", "EU", "US"], "score": [1.0, 2.0, 3.0, 4.0],
    }))
    ws.governance.create_principal("bob")
    return ws


def count(ws, principal, table="raw.users"):
    return ws.sql(f"SELECT count(*) AS n FROM {table}", principal=principal).column("n")[0].as_py()


def test_revoked_grant_takes_effect_on_the_next_query(users):
    g = users.governance
    g.grant("bob", "raw.users")
    assert count(users, "bob") == 4
    g.revoke("bob", "raw.users")
    with pytest.raises(AccessDeniedError):
        count(users, "bob")


def test_role_grant_and_leaving_the_role(users):
    g = users.governance
    g.create_principal("readers", kind="role")
    g.grant("readers", "raw")
    g.add_to_role("bob", "readers")
    assert count(users, "bob") == 4
    g.principals.remove_from_role("bob", "readers")
    with pytest.raises(AccessDeniedError):
        count(users, "bob")


def test_policy_change_in_another_process_is_seen_by_the_next_query(users):
    g = users.governance
    g.grant("bob", "raw.users")
    assert count(users, "bob") == 4
    script = textwrap.dedent(f"""
        import laketown
        ws = laketown.connect({str(users.path)!r})
        ws.governance.set_row_filter("raw.users", "bob", "region = 'EU'")
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert count(users, "bob") == 2


def test_new_table_in_a_granted_zone_is_visible_without_a_new_grant(users):
    users.governance.grant("bob", "clean")
    users.lake.write("clean.fresh", {"x": [1, 2]})
    assert count(users, "bob", "clean.fresh") == 2


def test_restrictive_row_filters_from_user_and_role_both_apply(users):
    g = users.governance
    g.create_principal("eu", kind="role")
    g.add_to_role("bob", "eu")
    g.grant("bob", "raw.users")
    g.set_row_filter("raw.users", "eu", "region = 'EU'")
    g.set_row_filter("raw.users", "bob", "score > 1")
    assert users.sql("SELECT id FROM raw.users", principal="bob").column("id").to_pylist() == [3]
    g.set_row_filter("raw.users", "bob", None)
    assert count(users, "bob") == 2


def test_strongest_mask_wins_and_public_mask_spares_admins(users):
    g = users.governance
    g.grant("bob", "raw.users")
    g.set_mask("raw.users.phone", "partial")
    g.set_mask("raw.users.phone", "redact", subject="bob")
    phones = users.sql("SELECT phone FROM raw.users ORDER BY id", principal="bob").column("phone").to_pylist()
    assert phones == ["[REDACTED]", "[REDACTED]", None, "[REDACTED]"]
    assert users.sql("SELECT phone FROM raw.users ORDER BY id").column("phone")[0].as_py() == "+33 6 12 34 56 78"


def test_hash_mask_is_deterministic_so_joins_still_work(users):
    g = users.governance
    g.grant("bob", "raw")
    users.lake.write("raw.logins", {"email": ["a@x.io", "a@x.io", "c@x.io"]})
    g.set_mask("raw.users.email", "hash")
    g.set_mask("raw.logins.email", "hash")
    out = users.sql("SELECT count(*) AS n FROM raw.users u JOIN raw.logins l USING (email)", principal="bob")
    assert out.column("n")[0].as_py() == 3


def test_tag_based_grant_follows_tags(users):
    g = users.governance
    g.tag("raw.users", domain="crm", pii="none")
    g.tag("raw.users.email", pii="email")
    g.tag("raw.users.phone", pii="phone")
    g.grant_by_tag("bob", "domain=crm and pii=none")
    assert users.sql("SELECT * FROM raw.users", principal="bob").column_names == ["id", "region", "score"]
    g.tag("raw.users.phone", pii="none")
    assert "phone" in users.sql("SELECT * FROM raw.users", principal="bob").column_names
    g.revoke_by_tag("bob", "domain=crm and pii=none")
    with pytest.raises(AccessDeniedError):
        count(users, "bob")


def test_tag_based_mask(users):
    g = users.governance
    g.grant("bob", "raw.users")
    g.tag("raw.users.email", pii="email")
    g.tag("raw.users.phone", pii="phone")
    g.set_mask("tag:pii=*", "null")
    row = users.sql("SELECT email, phone, region FROM raw.users WHERE id = 1", principal="bob").to_pylist()[0]
    assert row == {"email": None, "phone": None, "region": "EU"}


def test_grant_option_is_needed_to_grant(users):
    g = users.governance
    g.create_principal("carol")
    g.grant("bob", "raw.users", ["select"])
    with pytest.raises(AccessDeniedError, match="may not grant"):
        g.grant("carol", "raw.users", "select", by="bob")
    g.grant("bob", "raw.users", ["grant"])
    g.grant("carol", "raw.users", "select", by="bob")
    assert count(users, "carol") == 4
    with pytest.raises(AccessDeniedError):
        g.grant("carol", "raw.users", "insert", by="bob")


def test_insert_and_alter_privileges_are_checked_for_write_paths(users):
    g = users.governance
    g.grant("bob", "raw", ["insert"])
    assert g.allowed("bob", "insert", "raw.users") and not g.allowed("bob", "alter", "raw.users")
    with pytest.raises(AccessDeniedError, match="alter"):
        g.require("bob", "alter", "raw.users")
    assert g.audit_events(principal="bob", outcome="denied").num_rows == 1


@pytest.mark.parametrize("predicate", [
    "region = 'EU'; DROP VIEW raw.users",
    "region = 'EU') OR (1=1",
    "region = 'EU' -- comment",
    "id IN (SELECT id FROM raw.users)",
    "EXISTS (SELECT 1 FROM read_csv('/etc/passwd'))",
    "getenv('HOME') = 'x'",
    "",
    "region = ",
    "1 = 1 UNION SELECT 1",
    "1 = 1 HAVING count(*) > 0",
    "1 = 1 QUALIFY true",
])
def test_bad_row_filters_are_refused(users, predicate):
    with pytest.raises(GovernanceError):
        users.governance.set_row_filter("raw.users", "bob", predicate)


@pytest.mark.parametrize("call, match", [
    (lambda g: g.grant("bob", "raw.users", "delete"), "unknown privilege"),
    (lambda g: g.grant("bob", "lake.users"), "bad resource"),
    (lambda g: g.grant("ghost", "raw.users"), "unknown principal 'ghost'"),
    (lambda g: g.grant("bob", "raw.users.email", "insert"), "takes only select"),
    (lambda g: g.grant("bob", "curated.governance_audit"), "admins only"),
    (lambda g: g.set_mask("raw.users.email", "scramble"), "unknown mask"),
    (lambda g: g.tag("raw.users", PII="x"), "bad tag key"),
    (lambda g: g.grant_by_tag("bob", "pii ~ email"), "cannot read tag expression"),
    (lambda g: g.create_principal("Bad Name"), "bad principal name"),
    (lambda g: g.revoke("bob", "raw.users"), "holds no select"),
])
def test_bad_policy_input_names_the_value(users, call, match):
    with pytest.raises(GovernanceError, match=match):
        call(users.governance)


def test_disabled_principal_cannot_query(users):
    users.governance.grant("bob", "raw.users")
    users.governance.principals.set_disabled("bob")
    with pytest.raises(AccessDeniedError, match="disabled"):
        count(users, "bob")


def test_admin_role_sees_everything(users):
    g = users.governance
    g.create_principal("ops", kind="role", admin=True)
    g.add_to_role("bob", "ops")
    assert count(users, "bob") == 4
    assert users.governance.audit_events(as_principal="bob").num_rows > 0


def test_writes_are_audited_with_the_acting_principal(users):
    with users.governance.acting_as("bob"):
        users.table("raw.users").append({"id": [5], "email": ["e@x.io"], "region": ["EU"], "score": [5.0]})
    events = users.governance.audit_events(kind="write", principal="bob").to_pylist()
    assert events[0]["statement"] == "append raw.users" and events[0]["rows"] == 1
    assert events[0]["detail"].startswith("snapshot ")


def test_sql_errors_for_unreadable_columns_do_not_name_hidden_ones(users):
    users.governance.grant("bob", "raw.users.id")
    with pytest.raises(SqlError) as err:
        users.sql("SELECT email FROM raw.users", principal="bob")
    assert "phone" not in str(err.value) and "region" not in str(err.value)


def test_many_principals_keep_their_own_views(users, monkeypatch):
    from laketown.sql import engine

    monkeypatch.setattr(engine, "MAX_SESSIONS", 2)
    g = users.governance
    for i in range(4):
        g.create_principal(f"p{i}")
        g.grant(f"p{i}", "raw.users")
        g.set_row_filter("raw.users", f"p{i}", f"id <= {i + 1}")
    for _ in range(2):
        assert [count(users, f"p{i}") for i in range(4)] == [1, 2, 3, 4]
    assert len(users.sql_engine._sessions) == 2
