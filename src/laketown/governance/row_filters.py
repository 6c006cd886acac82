"""Row filter predicates: one SQL boolean expression over a table's columns, checked by parsing.

A predicate is parsed by DuckDB as the WHERE clause of a one-table query and must be exactly
that: no second statement, no comment, no subquery, no table or file function.
"""

from __future__ import annotations

import json
import threading

import duckdb

from laketown.governance.errors import GovernanceError

_parser = None
_parser_lock = threading.Lock()
_DENIED_FUNCTIONS = ("getenv", "current_setting", "read_", "_scan", "glob", "query", "duckdb_", "pragma_")


def _parse(sql: str) -> dict:
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = duckdb.connect(":memory:", config={"enable_external_access": "false"})
        return json.loads(_parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])


def _walk(node: object, bad: list[str]) -> None:
    if isinstance(node, dict):
        if node.get("class") == "SUBQUERY" or node.get("type") in ("SELECT_NODE", "TABLE_FUNCTION", "BASE_TABLE"):
            bad.append(str(node.get("type") or node.get("class")).lower())
        name = node.get("function_name")
        if isinstance(name, str) and any(d in name.lower() for d in _DENIED_FUNCTIONS):
            bad.append(f"function {name}()")
        for value in node.values():
            _walk(value, bad)
    elif isinstance(node, list):
        for value in node:
            _walk(value, bad)


def check_predicate(predicate: str) -> str:
    """Return the predicate stripped, or raise :class:`GovernanceError` saying what is wrong."""
    if not isinstance(predicate, str) or not predicate.strip():
        raise GovernanceError("empty row filter; write a predicate such as \"region = 'EU'\"")
    text = predicate.strip()
    for token in (";", "--", "/*"):
        if token in text:
            raise GovernanceError(f"row filter {text!r} contains {token!r}; a filter is one expression without comments")
    # parsed bare, so that "a) OR (b" (which would escape the parentheses it is put in) fails
    tree = _parse(f"SELECT 1 FROM t WHERE {text}")
    if tree.get("error"):
        raise GovernanceError(f"row filter {text!r} is not a valid SQL predicate: {tree.get('error_message')}")
    statements = tree.get("statements", [])
    node = statements[0]["node"] if len(statements) == 1 else {}
    where = node.get("where_clause")
    extra = ("modifiers", "group_expressions", "having", "qualify", "sample")
    if len(statements) != 1 or where is None or any(node.get(k) for k in extra):
        raise GovernanceError(f"row filter {text!r} must be one boolean expression")
    bad: list[str] = []
    _walk(where, bad)
    if bad:
        raise GovernanceError(
            f"row filter {text!r} uses {bad[0]}; filters may use the table's columns, constants and plain functions only"
        )
    return text
