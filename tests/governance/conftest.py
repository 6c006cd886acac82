"""A governed workspace shared by a module: customers, orders, products and a hidden table,
with an ``analyst`` whose view is masked, row-filtered and column-limited."""

from __future__ import annotations

import pyarrow as pa
import pytest

import laketown

# values that must never reach the analyst
EMAILS = ["alice.secret@corp.example", "bob.secret@corp.example", "carol.secret@corp.example",
          "dan.secret@corp.example", "erin.secret@corp.example", "frank.secret@corp.example"]
CARDS = ["4111111111111111", "5500000000000004", "340000000000009", "6011000000000004",
         "3530111333300000", "6304000000000000"]
SALARIES = [91234.5, 92345.5, 93456.5, 94567.5, 95678.5, 96789.5]
US_NAMES = ["Dan USONLY", "Erin USONLY", "Frank USONLY"]
SECRET = "TOPSECRET-7f3a"
PRICE = 424242.25
US_AMOUNT = 7777.75


def build(ws):
    ws.lake.write("raw.customers", pa.table({
        "id": [1, 2, 3, 4, 5, 6],
        "name": ["Alice EU", "Bob EU", "Carol EU", *US_NAMES],
        "email": EMAILS,
        "card": CARDS,
        "salary": SALARIES,
        "region": ["EU", "EU", "EU", "US", "US", "US"],
    }))
    ws.lake.write("raw.orders", pa.table({
        "order_id": list(range(100, 112)),
        "customer_id": [1, 2, 3, 4, 5, 6] * 2,
        "amount": [10.0, 20.0, 30.0, US_AMOUNT, US_AMOUNT, US_AMOUNT] * 2,
        "region": ["EU", "EU", "EU", "US", "US", "US"] * 2,
    }))
    ws.lake.write("clean.secrets", pa.table({"id": [1], "secret": [SECRET]}))
    ws.lake.write("clean.products", pa.table({"sku": ["p1", "p2"], "name": ["Lamp", "Desk"], "price": [PRICE, PRICE]}))
    g = ws.governance
    g.create_principal("analysts", kind="role")
    g.create_principal("analyst", roles=["analysts"])
    g.create_principal("nobody")
    g.grant("analysts", "raw")
    g.grant("analyst", "clean.products.sku")
    g.grant("analyst", "clean.products.name")
    g.set_mask("raw.customers.email", "hash")
    g.set_mask("raw.customers.card", "partial")
    g.set_mask("raw.customers.salary", "null", subject="analysts")
    g.set_row_filter("raw.customers", "analysts", "region = 'EU'")
    g.set_row_filter("raw.orders", "analyst", "region = 'EU'")
    ws.governance.export_audit()  # creates curated.governance_audit
    return ws


@pytest.fixture(scope="module")
def governed(tmp_path_factory):
    ws = laketown.connect(tmp_path_factory.mktemp("gov") / "ws")
    yield build(ws)
    ws.close()
