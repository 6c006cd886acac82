"""``laketown gov``: principals, keys, grants, masks, row filters, tags, audit, PII, search.

A thin skin over ``ws.governance``; the CLI acts as the local admin (``sql.principal``).
"""

from __future__ import annotations

from typing import Annotated

import pyarrow as pa
import typer

from laketown.cli import OutputFormat, console, open_workspace, print_arrow

app = typer.Typer(help="Governance: principals, API keys, grants, masks, row filters, tags, audit, PII, search.",
                  no_args_is_help=True)
principal_app = typer.Typer(help="Users, roles and service principals.", no_args_is_help=True)
key_app = typer.Typer(help="API keys for the HTTP API.", no_args_is_help=True)
app.add_typer(principal_app, name="principal")
app.add_typer(key_app, name="key")

Fmt = Annotated[OutputFormat, typer.Option("--format", "-f", help="table, csv or json.")]


def _rows(rows: list[dict], fmt: OutputFormat = OutputFormat.table, title: str | None = None) -> None:
    if not rows:
        console.print("none")
        return
    print_arrow(pa.Table.from_pylist([{k: (v if not isinstance(v, (list, dict)) else str(v)) for k, v in r.items()}
                                      for r in rows]), fmt, title)


@principal_app.command("create")
def principal_create(
    name: str,
    kind: Annotated[str, typer.Option(help="user, role or service.")] = "user",
    admin: Annotated[bool, typer.Option("--admin", help="Sees and administers everything.")] = False,
    role: Annotated[list[str] | None, typer.Option("--role", "-r", help="Role to join (repeatable).")] = None,
    description: Annotated[str, typer.Option(help="What this principal is for.")] = "",
) -> None:
    """Create a user, role or service principal."""
    p = open_workspace().governance.create_principal(name, kind, admin, description, role or [])
    console.print(f"created {p['kind']} [bold]{p['name']}[/]" + (f" in roles {', '.join(p['roles'])}" if p["roles"] else ""))


@principal_app.command("list")
def principal_list(fmt: Fmt = OutputFormat.table) -> None:
    """Every principal with its kind, roles and flags."""
    _rows(open_workspace().governance.principals.list(), fmt)


@principal_app.command("disable")
def principal_disable(name: str, enable: Annotated[bool, typer.Option("--enable", help="Enable it again.")] = False) -> None:
    """Disable (or re-enable) a principal: no login, no queries."""
    open_workspace().governance.principals.set_disabled(name, not enable)
    console.print(f"{name} {'enabled' if enable else 'disabled'}")


@key_app.command("create")
def key_create(
    principal: str,
    name: Annotated[str, typer.Option(help="A label, e.g. 'console' or 'ci'.")] = "",
    days: Annotated[float, typer.Option(help="Days until it expires; 0 for never.")] = 90,
) -> None:
    """Create an API key; it is printed once and stored only hashed."""
    from datetime import timedelta

    key = open_workspace().governance.create_api_key(principal, name, timedelta(days=days) if days else None)
    console.print(f"API key for [bold]{principal}[/] (shown once; send as 'Authorization: Bearer <key>'):")
    typer.echo(key)


@key_app.command("list")
def key_list(principal: Annotated[str | None, typer.Argument()] = None, fmt: Fmt = OutputFormat.table) -> None:
    """Key ids, owners, expiry and revocation (never secrets)."""
    _rows(open_workspace().governance.keys.list(principal), fmt)


@key_app.command("revoke")
def key_revoke(key_id: Annotated[str, typer.Argument(help="The key id (12 hex digits) or the whole key.")]) -> None:
    """Revoke a key; the next request with it gets 401."""
    open_workspace().governance.revoke_api_key(key_id)
    console.print("revoked")


@app.command()
def grant(
    subject: str,
    resource: Annotated[str | None, typer.Argument(help="*, zone, zone.table or zone.table.column.")] = None,
    privilege: Annotated[list[str] | None, typer.Option("--privilege", "-p", help="select, insert, alter, grant, all.")] = None,
    tag: Annotated[str | None, typer.Option(help="Grant by tag expression instead, e.g. 'domain=sales and pii=none'.")] = None,
) -> None:
    """Grant privileges on a resource (or on every column matching --tag) to a principal or role."""
    g = open_workspace().governance
    privs = privilege or ["select"]
    if tag:
        console.print(f"granted {', '.join(privs)} on tag:{g.grant_by_tag(subject, tag, privs)} to {subject}")
        return
    if not resource:
        raise typer.BadParameter("give a RESOURCE or --tag")
    g.grant(subject, resource, privs)
    console.print(f"granted {', '.join(privs)} on {resource} to {subject}")


@app.command()
def revoke(
    subject: str,
    resource: Annotated[str | None, typer.Argument()] = None,
    privilege: Annotated[list[str] | None, typer.Option("--privilege", "-p")] = None,
    tag: Annotated[str | None, typer.Option(help="Revoke a tag grant.")] = None,
) -> None:
    """Revoke privileges; the next query already runs without them."""
    g = open_workspace().governance
    privs = privilege or ["select"]
    if tag:
        g.revoke_by_tag(subject, tag, privs)
    elif resource:
        g.revoke(subject, resource, privs)
    else:
        raise typer.BadParameter("give a RESOURCE or --tag")
    console.print("revoked")


@app.command()
def mask(
    target: Annotated[str, typer.Argument(help="zone.table.column, or tag:<expression> (e.g. tag:pii=*).")],
    kind: Annotated[str | None, typer.Argument(help="hash, redact, partial, partial:N or null.")] = None,
    subject: Annotated[str, typer.Option(help="Principal or role; * for everyone but admins.")] = "*",
    remove: Annotated[bool, typer.Option("--remove", help="Remove the mask.")] = False,
) -> None:
    """Mask a column (or tagged columns) for a principal, a role or everyone."""
    if not remove and not kind:
        raise typer.BadParameter("give a KIND or --remove")
    open_workspace().governance.set_mask(target, None if remove else kind, subject)
    console.print("mask removed" if remove else f"{target} masked with {kind} for {subject}")


@app.command("row-filter")
def row_filter(
    table: str,
    subject: str,
    predicate: Annotated[str | None, typer.Argument(help="SQL predicate, e.g. \"region = 'EU'\".")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the filter.")] = False,
) -> None:
    """Show ``subject`` only the rows of ``table`` where ``predicate`` holds."""
    if not remove and not predicate:
        raise typer.BadParameter("give a PREDICATE or --remove")
    open_workspace().governance.set_row_filter(table, subject, None if remove else predicate)
    console.print("row filter removed" if remove else f"row filter on {table} for {subject}: {predicate}")


@app.command()
def tag(
    resource: str,
    tags: Annotated[list[str], typer.Argument(help="key=value pairs; key= removes the key.")],
) -> None:
    """Tag a zone, table or column (e.g. `raw.users.email pii=email`)."""
    pairs = {}
    for item in tags:
        key, eq, value = item.partition("=")
        if not eq:
            raise typer.BadParameter(f"{item!r} is not key=value")
        pairs[key] = value or None
    g = open_workspace().governance
    g.tag(resource, **pairs)
    console.print(f"{resource}: {g.policies.tags_of(resource, inherited=False)}")


@app.command()
def policies(fmt: Fmt = OutputFormat.table) -> None:
    """Grants, row filters and masks."""
    g = open_workspace().governance
    _rows(g.policies.grants(), fmt, "grants")
    _rows(g.policies.row_filters(), fmt, "row filters")
    _rows(g.policies.masks(), fmt, "masks")


@app.command()
def audit(
    principal: Annotated[str | None, typer.Option(help="Only this principal.")] = None,
    outcome: Annotated[str | None, typer.Option(help="ok, denied or error.")] = None,
    kind: Annotated[str | None, typer.Option(help="query, write, policy or auth.")] = None,
    table: Annotated[str | None, typer.Option(help="Only events naming this table.")] = None,
    limit: Annotated[int, typer.Option(help="Newest N events.")] = 50,
    export: Annotated[bool, typer.Option("--export", help="Copy new events to curated.governance_audit.")] = False,
    fmt: Fmt = OutputFormat.table,
) -> None:
    """Show the audit log (admins only)."""
    g = open_workspace().governance
    if export:
        console.print(f"exported {g.export_audit()} events to curated.governance_audit")
        return
    events = g.audit_events(principal=principal, outcome=outcome, kind=kind, table=table, limit=limit)
    print_arrow(events.drop_columns(["elapsed_ms"]), fmt)


@app.command()
def classify(
    table: str,
    accept: Annotated[list[str] | None, typer.Option("--accept", help="Accept the proposal for this column.")] = None,
    reject: Annotated[list[str] | None, typer.Option("--reject", help="Reject the proposal for this column.")] = None,
    fmt: Fmt = OutputFormat.table,
) -> None:
    """Detect PII in a table's columns and show the proposals; --accept/--reject review them."""
    cat = open_workspace().governance.catalog
    for col in accept or []:
        cat.review(table, col, True)
    for col in reject or []:
        cat.review(table, col, False)
    rows = cat.classifications(table) if (accept or reject) else cat.classify(table)
    _rows(rows, fmt)


@app.command()
def search(text: str, fmt: Fmt = OutputFormat.table) -> None:
    """Search table and column names, descriptions, docs, tags and PII classes."""
    _rows(open_workspace().governance.catalog.search(text), fmt)
