"""Locked-down in-memory DuckDB databases, and the ``zone.table`` views kept inside them.

Each database reads only the lake's data root, loads extensions by path, never downloads,
does not scan Python variables, and has its configuration locked before user SQL runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import duckdb

from laketown.sql import extensions

if TYPE_CHECKING:
    from laketown.config import Settings

ZONES = ("raw", "clean", "curated")


def quote_literal(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def quote_ident(s: str) -> str:
    """A SQL identifier, always double-quoted."""
    return '"' + s.replace('"', '""') + '"'


def _local_dir(uri: str) -> str:
    return uri.removeprefix("file://").rstrip("/") + "/"


def _s3_secret(settings: Settings) -> str:
    st = settings.storage
    parts = ["TYPE s3", f"REGION {quote_literal(st.s3_region)}"]
    if st.s3_access_key_id:
        parts.append(f"KEY_ID {quote_literal(st.s3_access_key_id)}")
    if st.s3_secret_access_key:
        parts.append(f"SECRET {quote_literal(st.s3_secret_access_key.get_secret_value())}")
    if st.s3_endpoint:
        scheme, _, host = st.s3_endpoint.partition("://")
        parts.append(f"ENDPOINT {quote_literal(host or scheme)}")
        parts.append(f"USE_SSL {'true' if scheme == 'https' else 'false'}")
    if st.s3_path_style:
        parts.append("URL_STYLE 'path'")
    return f"CREATE OR REPLACE SECRET laketown_s3 ({', '.join(parts)})"


def open_locked(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A new in-memory database with the zone schemas, reading only the data root, locked."""
    config: dict[str, Any] = extensions.connection_config()
    if settings.sql.threads:
        config["threads"] = str(settings.sql.threads)
    if settings.sql.memory_limit:
        config["memory_limit"] = settings.sql.memory_limit
    db = duckdb.connect(":memory:", config=config)
    root = settings.data_root
    extensions.load(db, "avro", "iceberg")
    if root.startswith("s3://"):
        extensions.load(db, "httpfs")
        db.execute(_s3_secret(settings))
    for zone in ZONES:
        db.execute(f"CREATE SCHEMA IF NOT EXISTS {zone}")
    allowed = root.rstrip("/") + "/" if root.startswith("s3://") else _local_dir(root)
    db.execute(f"SET allowed_directories = [{quote_literal(allowed)}]")
    # a query naming a Python variable must never read it (DuckDB's replacement scan)
    db.execute("SET python_enable_replacements = false")
    db.execute("SET enable_external_access = false")
    db.execute("SET lock_configuration = true")
    return db


class ViewSet:
    """The ``zone.table`` views of one database, kept equal to a wanted ``{key: SELECT}``."""

    def __init__(self, db: duckdb.DuckDBPyConnection):
        self.db = db
        self.bodies: dict[tuple[str, str], str] = {}

    def sync(self, wanted: Mapping[tuple[str, str], str]) -> list[tuple[str, str]]:
        """Create, replace and drop views; returns the keys whose view changed."""
        changed = []
        con = self.db.cursor()
        try:
            for key in list(self.bodies):
                if key not in wanted:
                    con.execute(f"DROP VIEW IF EXISTS {key[0]}.{quote_ident(key[1])}")
                    del self.bodies[key]
                    changed.append(key)
            for key, body in wanted.items():
                if self.bodies.get(key) == body:
                    continue
                con.execute(f"CREATE OR REPLACE VIEW {key[0]}.{quote_ident(key[1])} AS {body}")
                self.bodies[key] = body
                changed.append(key)
        finally:
            con.close()
        return changed

    def names(self) -> list[str]:
        return sorted(f"{z}.{n}" for z, n in self.bodies)
