"""Lake tables, streams and folders of the Customer 360 app (one place for every name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

RAW_CRM = "raw.c360_crm_contacts"
RAW_ACCOUNTS = "raw.c360_shop_accounts"
RAW_ORDERS = "raw.c360_orders"
RAW_TICKETS = "raw.c360_tickets"
RAW_EVENTS = "raw.c360_events"
QUARANTINE = "raw.c360_quarantine"
EVENTS_DEAD_LETTERS = "raw.c360_events_dead_letters"
TRUTH = "raw.c360_ground_truth"

SOURCE_RECORDS = "clean.c360_source_records"
CLEAN_ORDERS = "clean.c360_orders"
CLEAN_TICKETS = "clean.c360_tickets"
CLEAN_EVENTS = "clean.c360_events"
IDENTITIES = "clean.c360_identities"

CUSTOMERS = "curated.c360_customers"
FEATURES = "curated.c360_features"
SEGMENTS = "curated.c360_segments"
PERSONAS = "curated.c360_personas"

EVENTS_STREAM = "c360_events"
RESOLVER_NAME = "c360"


def app_dir(ws: Any) -> Path:
    """``<workspace>/c360``: landing folder, operational database, SaaS data, graph."""
    path = Path(ws.path) / "c360"
    path.mkdir(parents=True, exist_ok=True)
    return path


def landing_dir(ws: Any) -> Path:
    return app_dir(ws) / "landing"


def shop_db_url(ws: Any) -> str:
    """The e-commerce database: SQLite in the workspace unless the ``[c360] shop_db`` setting
    (``LAKETOWN__C360__SHOP_DB``) names a SQLAlchemy URL (PostgreSQL)."""
    return ws.settings.c360.shop_db or f"sqlite:///{app_dir(ws) / 'shop.db'}"


def support_file(ws: Any) -> Path:
    return app_dir(ws) / "support.json"


def graph_dir(ws: Any) -> Path:
    return app_dir(ws) / "graph"
