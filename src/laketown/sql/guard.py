"""What user SQL may do: read-only statements, no file or extension functions.

DuckDB's own lock (``enable_external_access=false`` with only the warehouse allowed, then
``lock_configuration``) is the wall; this check is the gate in front of it, so that user SQL
cannot read the warehouse's files around the catalog (and the policies the catalog carries),
write files there, attach databases or change settings.

Governed (non-admin) principals pass a second, stricter gate that works on DuckDB's own parse
tree (``json_serialize_sql``) and allows only what it can name: lake views the principal may
read, CTEs, three ``information_schema`` views, and a few generator table functions. Anything
it cannot parse or does not know is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from laketown.errors import SqlError
from laketown.sql.errors import AccessDeniedError

ALLOWED_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
_FILE_FUNCTIONS = re.compile(
    r"\b(read_\w+|\w+_scan|iceberg_\w+|parquet_\w+|glob|sniff_csv|load_\w+|install_\w+|"
    r"duckdb_secrets|which_secret|duckdb_extensions|query_table|json_execute_serialized_sql)\s*\(",
    re.IGNORECASE,
)
_QUOTED_PATH = re.compile(r"""\b(?:FROM|JOIN)\s+['"][^'"]*[./][^'"]*['"]""", re.IGNORECASE)
ZONES = ("raw", "clean", "curated")

#: table functions a governed principal may call: generators that read nothing
SAFE_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
#: catalog views a governed principal may read; they list only what its database holds
SAFE_CATALOG_VIEWS = frozenset({"tables", "columns", "schemata"})
#: SHOW forms without a query (``SHOW TABLES``, ``SHOW ALL TABLES``...)
SAFE_SHOW = frozenset({"__show_tables_expanded", '"tables"', '"schemas"', '"databases"'})
#: scalar functions that reveal settings, the environment or the catalog's text
_DENIED_SCALARS = re.compile(r"^(getenv|current_setting|duckdb_\w+|pragma_\w+|json_serialize_\w+|\w+_scan)$")


@dataclass
class Statement:
    """One statement of a query, with DuckDB's parse tree when it has one."""

    text: str
    kind: duckdb.StatementType
    tree: dict[str, Any] | None = None
    tables: set[str] = field(default_factory=set)


def _function_names(node: object, out: set[str]) -> None:
    if isinstance(node, dict):
        name = node.get("function_name")
        if isinstance(name, str):
            out.add(name.lower())
        for value in node.values():
            _function_names(value, out)
    elif isinstance(node, list):
        for value in node:
            _function_names(value, out)


def _tree(con: duckdb.DuckDBPyConnection, text: str) -> dict[str, Any] | None:
    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [text]).fetchone()[0])
    except duckdb.Error:
        return None
    return None if tree.get("error") else tree


def _zone_tables(node: object, out: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and str(node.get("schema_name", "")).lower() in ZONES:
            out.add(f"{node['schema_name'].lower()}.{str(node['table_name']).lower()}")
        for value in node.values():
            _zone_tables(value, out)
    elif isinstance(node, list):
        for value in node:
            _zone_tables(value, out)


def check(con: duckdb.DuckDBPyConnection, sql: str) -> list[Statement]:
    """Split ``sql`` into statements and refuse any that is not a plain read of the lake.

    Returns the statements, each with its parse tree and the lake tables it names. Raises
    :class:`AccessDeniedError` naming what was refused, :class:`SqlError` for bad syntax.
    """
    try:
        parsed = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlError(f"SQL syntax error: {exc}") from None
    if not parsed:
        raise SqlError("no SQL statement given")
    out = []
    for st in parsed:
        if st.type not in ALLOWED_STATEMENTS:
            raise AccessDeniedError(
                f"{st.type.name} statements are not allowed in Laketown SQL (read-only: SELECT, WITH, "
                f"DESCRIBE, SHOW, EXPLAIN); write tables through the Python API or the CLI instead"
            )
        text = st.query
        tree = _tree(con, text) if st.type == duckdb.StatementType.SELECT else None
        match = _FILE_FUNCTIONS.search(text)
        if match is None:
            names: set[str] = set()
            _function_names(tree, names)
            bad = sorted(n for n in names if _FILE_FUNCTIONS.search(n + "("))
            match_name = bad[0] if bad else None
        else:
            match_name = match.group(1)
        if match_name:
            raise AccessDeniedError(
                f"function {match_name}() reads or loads files and is not allowed in Laketown SQL; "
                "query lake tables by name (zone.table) instead"
            )
        if _QUOTED_PATH.search(text):
            raise AccessDeniedError(
                "reading files by path is not allowed in Laketown SQL; query lake tables by name (zone.table)"
            )
        statement = Statement(text, st.type, tree)
        _zone_tables(tree, statement.tables)
        out.append(statement)
    return out


class _GovernedWalk:
    """Walks one parse tree and refuses every relation or function it cannot vouch for."""

    def __init__(self, visible: set[str], reserved: set[str]):
        self.visible = visible
        self.reserved = reserved
        self.missing: set[str] = set()

    def deny(self, what: str) -> AccessDeniedError:
        return AccessDeniedError(f"{what} is not allowed for governed principals; query lake tables (zone.table)")

    def visit(self, node: object, ctes: frozenset[str]) -> None:
        if isinstance(node, list):
            for value in node:
                self.visit(value, ctes)
            return
        if not isinstance(node, dict):
            return
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict) and cte_map.get("map"):
            names = {str(entry.get("key", "")).lower() for entry in cte_map["map"]}
            clash = sorted(names & self.reserved)
            if clash:
                raise AccessDeniedError(f"the CTE name {clash[0]!r} names a system view; rename the CTE")
            ctes = ctes | names
        kind = node.get("type")
        if kind == "BASE_TABLE":
            self.table(node, ctes)
        elif kind == "TABLE_FUNCTION":
            fn = node.get("function") or {}
            name = str(fn.get("function_name", "")).lower()
            if name not in SAFE_TABLE_FUNCTIONS or fn.get("schema") or fn.get("catalog"):
                raise self.deny(f"table function {name}()")
        elif kind == "SHOW_REF" and node.get("query") is None and str(node.get("table_name")) not in SAFE_SHOW:
            raise self.deny(f"SHOW {node.get('table_name')}")
        if node.get("class") == "FUNCTION" and isinstance(node.get("function_name"), str):
            name = node["function_name"].lower()
            if _DENIED_SCALARS.match(name) or node.get("schema") or node.get("catalog"):
                raise self.deny(f"function {name}()")
        for value in node.values():
            self.visit(value, ctes)

    def table(self, node: dict[str, Any], ctes: frozenset[str]) -> None:
        catalog = str(node.get("catalog_name") or "").lower()
        schema = str(node.get("schema_name") or "").lower()
        name = str(node.get("table_name") or "").lower()
        if node.get("at_clause") is not None:
            raise self.deny("time travel (AT ...)")
        if catalog not in ("", "memory"):
            raise self.deny(f"the database {catalog!r}")
        if schema in ZONES:
            if f"{schema}.{name}" not in self.visible:
                self.missing.add(f"{schema}.{name}")
            return
        if schema == "information_schema" and name in SAFE_CATALOG_VIEWS:
            return
        if schema == "" and name in ctes and name not in self.reserved:
            return
        shown = f"{schema}.{name}" if schema else name
        raise self.deny(f"reading {shown!r}")


def check_governed(statements: Iterable[Statement], visible: set[str], reserved: set[str]) -> set[str]:
    """Refuse what a governed principal may not run; returns lake tables named but not visible.

    ``visible`` holds the ``zone.table`` names the principal may read; ``reserved`` the names
    of system views a CTE must not shadow (so that scoping tricks cannot reach them).
    """
    walk = _GovernedWalk(visible, reserved)
    for st in statements:
        if st.kind != duckdb.StatementType.SELECT:
            raise AccessDeniedError(
                "EXPLAIN is not allowed for governed principals (plans show policy internals); "
                "ask an admin to run it"
            )
        if st.tree is None:
            raise AccessDeniedError(
                "this statement form (e.g. PIVOT, UNPIVOT) cannot be checked against policies and is not "
                "allowed for governed principals; write it with GROUP BY / CASE"
            )
        walk.visit(st.tree, frozenset())
    return walk.missing
