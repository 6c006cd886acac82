"""``/api/gov/...``: the governance console's API, a thin skin over ``ws.governance``.

Reading (search, a table's page) answers each caller with what its policies let it see: a
table it may not read is ``404`` with the same message as a table that does not exist, and a
governed caller sees only its columns, without the min/max of masked or row-filtered data.
Administration (principals, keys, grants, row filters, masks, tags, PII review) and the audit
log are for admins; anyone else gets ``403`` and the refusal is audited. Changes are recorded
in the audit under the admin who made them. The console page itself is ``/governance``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from laketown.errors import AccessDeniedError, TableNotFoundError
from laketown.governance.keys import key_id_of
from laketown.server.auth import PrincipalDep, WorkspaceDep
from laketown.server.encoding import json_columns, json_rows, json_value, snapshot_id_json

router = APIRouter(tags=["governance"])
MAX_AUDIT_ROWS = 5000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewPrincipal(_Body):
    name: str
    kind: str = "user"
    admin: bool = False
    description: str = ""
    roles: list[str] = []


class NewKey(_Body):
    principal: str
    name: str = ""
    expires_days: float | None = Field(90, gt=0, description="days until the key expires; null: never")


class GrantBody(_Body):
    subject: str
    resource: str = Field(description="*, zone, zone.table, zone.table.column or tag:<expression>")
    privileges: list[str] = ["select"]


class RowFilterBody(_Body):
    table: str
    subject: str
    predicate: str | None = Field(None, description="SQL predicate; null removes the filter")


class MaskBody(_Body):
    target: str = Field(description="zone.table.column or tag:<expression>")
    subject: str = "*"
    kind: str | None = Field(None, description="hash, redact, partial[:N] or null; null removes the mask")


class TagBody(_Body):
    resource: str
    tags: dict[str, str | None] = Field(description="key -> value; a null value removes the key")


class ReviewBody(_Body):
    table: str
    column: str
    accept: bool
    pii: str | None = None


class DescribeBody(_Body):
    description: str | None = None
    owner: str | None = None
    columns: dict[str, str] = {}


def require_admin(request: Request, ws: WorkspaceDep, principal: PrincipalDep) -> str:
    """The caller, if it is an admin; :class:`AccessDeniedError` (403, audited) otherwise."""
    gov = ws.governance
    if not gov.is_admin(principal):
        gov.audit.record("policy", principal, f"{request.method} {request.url.path}", outcome="denied",
                         detail="governance administration is for admins only")
        raise AccessDeniedError(f"principal {principal!r} may not administer governance; it is for admins only")
    return principal


AdminDep = Annotated[str, Depends(require_admin)]


# -- catalog: what the caller may read -----------------------------------------------------
@router.get("/api/gov/search")
def search(ws: WorkspaceDep, principal: PrincipalDep, q: str = Query(min_length=1),
           limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
    """Tables and columns matching every word of ``q`` (names, descriptions, docs, tags, PII
    classes) among those the caller may read."""
    return ws.governance.catalog.search(q, principal=principal, limit=limit)


def _access(ws: Any, principal: str, name: str) -> dict[str, str | None] | None:
    """``{column: mask}`` the caller may read of ``name`` (None: everything, for admins);
    a table it may not read raises the same 404 as an unknown table."""
    gov = ws.governance
    if gov.is_admin(principal):
        return None
    visible = gov.visible_tables(principal)
    zone = name.partition(".")[0]
    if name not in visible:
        known = ", ".join(sorted(t.split(".", 1)[1] for t in visible if t.startswith(zone + "."))) or "none"
        raise TableNotFoundError(f"unknown table {name!r}; tables in {zone}: {known}")
    columns = ws.table(name).schema.names
    access = gov.policies.snapshot().table_access(principal, name, columns)
    cols = dict(access.columns) if access else {}
    if access and access.filters:  # statistics span rows the filter hides
        cols = {c: m or "" for c, m in cols.items()}
    return cols


def _governed_columns(info: dict[str, Any], access: dict[str, str | None]) -> list[dict[str, Any]]:
    """The columns the caller may read; min/max dropped where a mask or row filter applies
    (they would show values the caller's queries never return)."""
    out = []
    for col in info["columns"]:
        mask = access.get(col["name"], False)
        if mask is False:
            continue
        if mask is not None and col.get("stats"):
            col = {**col, "stats": {**col["stats"], "min": None, "max": None}}
        out.append({**col, "mask": mask or None})
    return out


def _history(ws: Any, name: str, access: dict[str, str | None] | None) -> list[dict[str, Any]]:
    def keep(text: str) -> bool:
        return access is None or text.split(" ", 1)[0].split(":", 1)[0] in access

    out = []
    for entry in ws.governance.catalog.schema_history(name):
        entry = {**entry, "snapshot_id": snapshot_id_json(entry["snapshot_id"]),
                 "timestamp": entry["timestamp"].isoformat()}
        for key in ("columns", "added", "dropped", "renamed", "retyped"):
            entry[key] = [t for t in entry[key] if keep(t) or (key == "renamed" and keep(t.split(" -> ")[-1]))]
        out.append(entry)
    return out


def _lineage(ws: Any, principal: str, name: str, access: Any) -> dict[str, Any]:
    gov = ws.governance
    graph = gov.lineage.graph(name)
    if access is not None:  # a governed caller does not learn the names of tables it cannot read
        visible = set(gov.visible_tables(principal))
        ok = {n for n in graph["nodes"] if n in visible or n.startswith("job:")}
        graph = {"nodes": sorted(ok), "edges": [e for e in graph["edges"] if e["from"] in ok and e["to"] in ok]}
    return {**graph, "upstream": [n for n in gov.lineage.upstream(name) if n in graph["nodes"]],
            "downstream": [n for n in gov.lineage.downstream(name) if n in graph["nodes"]]}


@router.get("/api/gov/tables/{zone}/{table}")
def table_page(zone: str, table: str, ws: WorkspaceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Everything the console's table page shows: description, owner, tags, columns (type, doc,
    tags, PII proposal and review state, statistics), quality scores, lineage, schema history."""
    name = f"{zone}.{table}"
    access = _access(ws, principal, name)
    gov = ws.governance
    info = gov.catalog.table_info(name)  # bad name -> 400, unknown -> 404
    if access is not None:
        info["columns"] = _governed_columns(info, access)
    info["snapshot_id"] = snapshot_id_json(info.get("snapshot_id"))
    info["quality"] = gov.quality.scores(name)
    info["lineage"] = _lineage(ws, principal, name, access)
    info["schema_history"] = _history(ws, name, access)
    info["can_administer"] = access is None
    return json_value(info)


# -- administration: admins only -----------------------------------------------------------
@router.get("/api/gov/principals")
def list_principals(ws: WorkspaceDep, admin: AdminDep, kind: str | None = None) -> list[dict[str, Any]]:
    """Users, roles and service principals with their roles (``kind`` picks one kind)."""
    return ws.governance.principals.list(kind)


@router.post("/api/gov/principals", status_code=201)
def create_principal(body: NewPrincipal, ws: WorkspaceDep, admin: AdminDep) -> dict[str, Any]:
    """Create a user, role or service principal."""
    gov = ws.governance
    with gov.acting_as(admin):
        return gov.create_principal(body.name, body.kind, body.admin, body.description, body.roles)


@router.get("/api/gov/keys")
def list_keys(ws: WorkspaceDep, admin: AdminDep, principal: str | None = None) -> list[dict[str, Any]]:
    """API key ids with owner, name, creation, expiry and revocation (never secrets)."""
    return ws.governance.keys.list(principal)


@router.post("/api/gov/keys", status_code=201)
def create_key(body: NewKey, ws: WorkspaceDep, admin: AdminDep) -> dict[str, Any]:
    """A new API key; ``key`` in the answer is the only copy of it."""
    gov = ws.governance
    expires = None if body.expires_days is None else timedelta(days=body.expires_days)
    with gov.acting_as(admin):
        key = gov.create_api_key(body.principal, body.name, expires)
    return {"key": key, "key_id": key_id_of(key), "principal": body.principal, "name": body.name}


@router.delete("/api/gov/keys/{key_id}")
def revoke_key(key_id: str, ws: WorkspaceDep, admin: AdminDep) -> dict[str, str]:
    """Revoke a key by its id; the next request with it gets 401."""
    gov = ws.governance
    with gov.acting_as(admin):
        gov.revoke_api_key(key_id)
    return {"revoked": key_id}


@router.get("/api/gov/grants")
def list_grants(ws: WorkspaceDep, admin: AdminDep, subject: str | None = None) -> list[dict[str, Any]]:
    """Grants (tag grants as resource ``tag:<expression>``), of one subject if given."""
    return ws.governance.policies.grants(subject)


@router.post("/api/gov/grants", status_code=201)
def add_grant(body: GrantBody, ws: WorkspaceDep, admin: AdminDep) -> dict[str, Any]:
    """Grant privileges on a resource, or on every column matching ``tag:<expression>``."""
    gov = ws.governance
    with gov.acting_as(admin):
        if body.resource.startswith("tag:"):
            resource = "tag:" + gov.grant_by_tag(body.subject, body.resource[4:], body.privileges)
        else:
            gov.grant(body.subject, body.resource, body.privileges, by=admin)
            resource = body.resource
    return {"subject": body.subject, "resource": resource, "privileges": body.privileges}


@router.post("/api/gov/grants/revoke")
def revoke_grant(body: GrantBody, ws: WorkspaceDep, admin: AdminDep) -> dict[str, Any]:
    """Remove grants; the next query runs without them."""
    gov = ws.governance
    with gov.acting_as(admin):
        if body.resource.startswith("tag:"):
            n = gov.revoke_by_tag(body.subject, body.resource[4:], body.privileges)
        else:
            n = gov.revoke(body.subject, body.resource, body.privileges, by=admin)
    return {"revoked": n}


@router.get("/api/gov/row-filters")
def list_row_filters(ws: WorkspaceDep, admin: AdminDep) -> list[dict[str, Any]]:
    return ws.governance.policies.row_filters()


@router.put("/api/gov/row-filters")
def set_row_filter(body: RowFilterBody, ws: WorkspaceDep, admin: AdminDep) -> dict[str, Any]:
    """Set (or, with ``predicate: null``, remove) the row filter of a subject on a table."""
    gov = ws.governance
    with gov.acting_as(admin):
        gov.set_row_filter(body.table, body.subject, body.predicate)
    return body.model_dump()


@router.get("/api/gov/masks")
def list_masks(ws: WorkspaceDep, admin: AdminDep) -> list[dict[str, Any]]:
    return ws.governance.policies.masks()


@router.put("/api/gov/masks")
def set_mask(body: MaskBody, ws: WorkspaceDep, admin: AdminDep) -> dict[str, Any]:
    """Set (or, with ``kind: null``, remove) a column or tag mask for a subject (``*``: all)."""
    gov = ws.governance
    with gov.acting_as(admin):
        gov.set_mask(body.target, body.kind, body.subject)
    return body.model_dump()


@router.post("/api/gov/tags")
def set_tags(body: TagBody, ws: WorkspaceDep, admin: AdminDep) -> dict[str, Any]:
    """Tag a zone, table or column; returns its own tags afterwards."""
    gov = ws.governance
    with gov.acting_as(admin):
        gov.tag(body.resource, **body.tags)
    return {"resource": body.resource, "tags": gov.policies.tags_of(body.resource, inherited=False)}


@router.post("/api/gov/tables/{zone}/{table}/describe")
def describe_table(zone: str, table: str, body: DescribeBody, ws: WorkspaceDep, admin: AdminDep) -> dict[str, str]:
    """Set a table's description, owner and column docs."""
    gov = ws.governance
    with gov.acting_as(admin):
        gov.catalog.describe(f"{zone}.{table}", body.description, body.owner, body.columns)
    return {"table": f"{zone}.{table}"}


@router.post("/api/gov/tables/{zone}/{table}/classify")
def classify_table(zone: str, table: str, ws: WorkspaceDep, admin: AdminDep) -> list[dict[str, Any]]:
    """Detect PII in the table's columns (names and a sample); proposals wait for review."""
    gov = ws.governance
    with gov.acting_as(admin):
        return gov.catalog.classify(f"{zone}.{table}")


@router.post("/api/gov/pii/review")
def review_pii(body: ReviewBody, ws: WorkspaceDep, admin: AdminDep) -> dict[str, Any]:
    """Accept (tagging the column ``pii=<class>``) or reject a PII proposal."""
    gov = ws.governance
    with gov.acting_as(admin):
        gov.catalog.review(body.table, body.column, body.accept, by=admin, pii=body.pii)
    return {"table": body.table, "column": body.column,
            "state": "accepted" if body.accept else "rejected",
            "tags": gov.policies.tags_of(f"{body.table}.{body.column}", inherited=False)}


@router.get("/api/gov/audit")
def audit(ws: WorkspaceDep, principal: PrincipalDep, who: str | None = Query(None, alias="principal"),
          outcome: str | None = None, kind: str | None = None, table: str | None = None,
          limit: int = Query(200, ge=1, le=MAX_AUDIT_ROWS)) -> dict[str, Any]:
    """Audit events, newest first, filtered by principal, outcome, kind and table (admins only)."""
    events = ws.governance.audit_events(as_principal=principal, principal=who or None, outcome=outcome or None,
                                        kind=kind or None, table=table or None, limit=limit)
    return {"columns": json_columns(events.schema), "rows": json_rows(events)}


@router.get("/governance", include_in_schema=False)
def governance_page(request: Request) -> HTMLResponse:
    from laketown.console import render_page

    return render_page(request, "governance.html", title="Governance")
