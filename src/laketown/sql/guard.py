"""What user SQL may do: read-only statements, no file or extension functions.

DuckDB's own lock (``enable_external_access=false`` with only the warehouse allowed, then
``lock_configuration``) is the wall; this check is the gate in front of it, so that user SQL
cannot read the warehouse's files around the catalog (and the policies the catalog carries),
write files there, attach databases or change settings.
"""

from __future__ import annotations

import json
import re

import duckdb

from laketown.errors import SqlError

ALLOWED_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
_FILE_FUNCTIONS = re.compile(
    r"\b(read_\w+|\w+_scan|iceberg_\w+|parquet_\w+|glob|sniff_csv|load_\w+|install_\w+|"
    r"duckdb_secrets|which_secret|duckdb_extensions|query_table)\s*\(",
    re.IGNORECASE,
)
_QUOTED_PATH = re.compile(r"""\b(?:FROM|JOIN)\s+['"][^'"]*[./][^'"]*['"]""", re.IGNORECASE)


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


def check(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    """Split ``sql`` into statements and refuse any that is not a plain read of the lake.

    Returns the statements' texts. Raises :class:`SqlError` naming what was refused.
    """
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlError(f"SQL syntax error: {exc}") from None
    if not statements:
        raise SqlError("no SQL statement given")
    texts = []
    for st in statements:
        if st.type not in ALLOWED_STATEMENTS:
            kind = st.type.name
            raise SqlError(
                f"{kind} statements are not allowed in Laketown SQL (read-only: SELECT, WITH, "
                f"DESCRIBE, SHOW, EXPLAIN); write tables through the Python API or the CLI instead"
            )
        text = st.query
        match = _FILE_FUNCTIONS.search(text)
        if match is None:
            names: set[str] = set()
            try:
                tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [text]).fetchone()[0])
                _function_names(tree, names)
            except duckdb.Error:
                pass
            bad = sorted(n for n in names if _FILE_FUNCTIONS.search(n + "("))
            match_name = bad[0] if bad else None
        else:
            match_name = match.group(1)
        if match_name:
            raise SqlError(
                f"function {match_name}() reads or loads files and is not allowed in Laketown SQL; "
                "query lake tables by name (zone.table) instead"
            )
        if _QUOTED_PATH.search(text):
            raise SqlError(
                "reading files by path is not allowed in Laketown SQL; query lake tables by name (zone.table)"
            )
        texts.append(text)
    return texts
