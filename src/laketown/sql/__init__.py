"""DuckDB SQL over the lake (read-only, locked down, run as a principal)."""

from laketown.sql.engine import QueryPolicy, QueryResult, SqlEngine

__all__ = ["QueryPolicy", "QueryResult", "SqlEngine"]
