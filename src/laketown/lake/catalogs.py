"""Iceberg catalog backends: SQLite (default), PostgreSQL, Iceberg REST.

Each backend builds a pyiceberg catalog from settings and can list every table's current
metadata location cheaply, which the SQL layer uses to stay at the latest snapshot.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

from pyiceberg.catalog import Catalog

from laketown.config import Settings
from laketown.errors import MissingExtraError


def storage_properties(settings: Settings) -> dict[str, str]:
    """pyiceberg FileIO properties for an ``s3://`` warehouse (empty for a local one)."""
    st = settings.storage
    props: dict[str, str] = {}
    if st.s3_endpoint:
        props["s3.endpoint"] = st.s3_endpoint
    if st.s3_access_key_id:
        props["s3.access-key-id"] = st.s3_access_key_id
    if st.s3_secret_access_key:
        props["s3.secret-access-key"] = st.s3_secret_access_key.get_secret_value()
    if settings.data_root.startswith("s3://") or st.s3_endpoint:
        props["s3.region"] = st.s3_region
        props["s3.force-virtual-addressing"] = str(not st.s3_path_style).lower()
        props["s3.path-style-access"] = str(st.s3_path_style).lower()
    return props


class CatalogBackend(abc.ABC):
    """Small base: build the pyiceberg catalog, list metadata locations."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, settings: Settings):
        self.settings = settings
        self.catalog = self.build()

    @abc.abstractmethod
    def build(self) -> Catalog: ...

    def metadata_locations(self) -> dict[tuple[str, str], str]:
        """``{(namespace, table): metadata location}`` for every table (slow path: load each)."""
        out: dict[tuple[str, str], str] = {}
        for ns in self.catalog.list_namespaces():
            for ident in self.catalog.list_tables(ns):
                table = self.catalog.load_table(ident)
                out[(ident[0], ident[-1])] = table.metadata_location
        return out

    def close(self) -> None:  # noqa: B027
        """Release connections."""


class SqlCatalogBackend(CatalogBackend):
    """pyiceberg's SQL catalog; SQLite file inside the workspace by default."""

    name = "sql"
    capabilities = frozenset({"fast_metadata_listing"})

    def build(self) -> Catalog:
        from pyiceberg.catalog.sql import SqlCatalog

        uri = self.settings.catalog_uri
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        warehouse = self.settings.warehouse
        if warehouse.startswith("file://"):
            Path(warehouse.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        props: dict[str, Any] = {
            "uri": uri,
            "warehouse": warehouse,
            **storage_properties(self.settings),
            **self.settings.catalog.properties,
        }
        return SqlCatalog(self.settings.catalog.name, **props)

    def metadata_locations(self) -> dict[tuple[str, str], str]:
        from sqlalchemy import text

        engine = self.catalog.engine  # type: ignore[attr-defined]
        query = text(
            "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables "
            "WHERE catalog_name = :name"
        )
        with engine.connect() as conn:
            rows = conn.execute(query, {"name": self.catalog.name}).fetchall()
        return {(ns, name): loc for ns, name, loc in rows if loc}

    def close(self) -> None:
        self.catalog.engine.dispose()  # type: ignore[attr-defined]


class PostgresCatalogBackend(SqlCatalogBackend):
    """The same SQL catalog schema in PostgreSQL (``postgresql+psycopg://...``)."""

    name = "postgres"

    def build(self) -> Catalog:
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingExtraError("the PostgreSQL catalog", "postgres", exc) from exc

        uri = self.settings.catalog_uri
        if uri.startswith("postgresql://") or uri.startswith("postgres://"):
            uri = "postgresql+psycopg://" + uri.split("://", 1)[1]
            self.settings.catalog.uri = uri
        return super().build()


class RestCatalogBackend(CatalogBackend):
    """An Iceberg REST catalog (Polaris, Gravitino, SeaweedFS, AWS Glue's REST endpoint...)."""

    name = "rest"

    def build(self) -> Catalog:
        from pyiceberg.catalog.rest import RestCatalog

        props: dict[str, Any] = {
            "uri": self.settings.catalog_uri,
            **storage_properties(self.settings),
            **self.settings.catalog.properties,
        }
        if self.settings.catalog.warehouse:
            props["warehouse"] = self.settings.catalog.warehouse
        return RestCatalog(self.settings.catalog.name, **props)
