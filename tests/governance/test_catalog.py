"""Catalog metadata: descriptions, owners, docs, PII classification and review, search,
schema history and column statistics refreshed on write."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from laketown.catalog.classify import classify_column, classify_table
from laketown.governance import GovernanceError


@pytest.fixture
def people(ws):
    ws.lake.write("raw.people", pa.table({
        "id": [1, 2, 3, 4],
        "contact": ["ann.lee@mail.example", "bo@x.org", "carl@y.net", None],
        "tel": ["+33 6 12 34 56 78", "(202) 555-0101", "+49 30 1234567", "020 7946 0958"],
        "full_name": ["Mary Johnson", "James Smith", "Olivia Brown", "Lucas Martin"],
        "addr": ["12 Rue de Rivoli", "221B Baker Street", "1600 Pennsylvania Avenue", "5 Main St"],
        "born": [date(1980, 1, 2), date(1955, 7, 8), date(2001, 3, 4), date(1990, 12, 31)],
        "last_ip": ["192.168.0.1", "10.2.3.4", "2001:db8::1", "8.8.8.8"],
        "pan": ["4111 1111 1111 1111", "5500-0000-0000-0004", "340000000000009", "6011000000000004"],
        "product_name": ["Desk Lamp", "Office Chair", "Paper", "Pen"],
        "amount": [1.0, 2.0, 3.0, 4.0],
    }))
    return ws


def test_classify_detects_each_class_and_stores_proposals(people):
    found = {c["column_name"]: c["pii"] for c in people.governance.catalog.classify("raw.people")}
    assert found == {"contact": "email", "tel": "phone", "full_name": "person_name", "addr": "street_address",
                     "born": "date_of_birth", "last_ip": "ip_address", "pan": "card_number"}
    assert {c["state"] for c in people.governance.catalog.classifications("raw.people")} == {"proposed"}


def test_accepting_a_classification_tags_the_column_and_tag_masks_apply(people):
    cat, g = people.governance.catalog, people.governance
    cat.classify("raw.people")
    cat.review("raw.people", "contact", accept=True)
    cat.review("raw.people", "tel", accept=False)
    assert g.policies.tags_of("raw.people.contact") == {"pii": "email"}
    assert g.policies.tags_of("raw.people.tel") == {}
    g.create_principal("bob")
    g.grant("bob", "raw.people")
    g.set_mask("tag:pii=email", "redact")
    assert set(people.sql("SELECT contact FROM raw.people WHERE id < 4", principal="bob").column("contact").to_pylist()) == {"[REDACTED]"}
    assert cat.classifications("raw.people", state="accepted")[0]["column_name"] == "contact"


def test_names_do_not_classify_against_the_values():
    assert classify_column("email", ["abc", "def", "ghi", "jkl"]) is None
    assert classify_column("order_date", [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1), date(2025, 4, 1),
                                          date(2025, 5, 1)], today=date(2026, 1, 1)) is None
    assert classify_column("customer_id", ["1001", "1002", "1003"]) is None
    assert classify_column("city", ["Paris", "Berlin", "Rome"]) is None


def test_classify_table_skips_measures():
    t = pa.table({"score": [1.5, 2.5], "note": ["fine", "ok"]})
    assert classify_table(t) == []


def test_descriptions_owners_docs_and_table_info(people):
    cat = people.governance.catalog
    people.governance.create_principal("dana")
    cat.describe("raw.people", description="People we know", owner="dana", columns={"contact": "work email"})
    people.governance.tag("raw.people", domain="crm")
    info = cat.table_info("raw.people")
    assert info["description"] == "People we know" and info["owner"] == "dana" and info["tags"] == {"domain": "crm"}
    contact = next(c for c in info["columns"] if c["name"] == "contact")
    assert contact["doc"] == "work email" and contact["tags"] == {"domain": "crm"}
    assert contact["stats"]["null_count"] == 1 and info["rows"] == 4
    with pytest.raises(GovernanceError, match="no column 'nope'"):
        cat.describe("raw.people", columns={"nope": "x"})


def test_search_finds_tables_and_columns_and_respects_grants(people):
    cat, g = people.governance.catalog, people.governance
    people.lake.write("clean.hidden", {"email_hash": ["x"]})
    cat.describe("raw.people", description="customer contacts", columns={"tel": "mobile number"})
    assert {h["kind"] for h in cat.search("customer contacts")} == {"table"}
    assert {h["kind"] for h in cat.search("contact")} == {"table", "column"}
    assert [(h["table"], h["column"]) for h in cat.search("mobile")] == [("raw.people", "tel")]
    assert {h["table"] for h in cat.search("email")} >= {"clean.hidden"}
    g.create_principal("bob")
    g.grant("bob", "raw.people")
    assert {h["table"] for h in cat.search("email", principal="bob")} == set()
    assert {h["table"] for h in cat.search("contact", principal="bob")} == {"raw.people"}


def test_column_stats_refresh_on_write(people):
    cat = people.governance.catalog
    stats = {s["column_name"]: s for s in cat.column_stats("raw.people")}
    assert stats["id"]["min"] == "1" and stats["id"]["max"] == "4" and stats["id"]["rows"] == 4
    assert stats["contact"]["null_count"] == 1 and stats["contact"]["distinct_count"] == 3
    people.table("raw.people").append({"id": [9], "amount": [9.0]})
    stats = {s["column_name"]: s for s in cat.column_stats("raw.people")}
    assert stats["id"]["max"] == "9" and stats["contact"]["null_count"] == 2 and stats["id"]["rows"] == 5


def test_schema_history_from_snapshots(people):
    t = people.table("raw.people")
    t.add_column("nickname", pa.string())
    t.append({"id": [10], "nickname": ["Z"]})
    t.rename_column("nickname", "alias")
    t.append({"id": [11], "alias": ["Y"]})
    history = people.governance.catalog.schema_history("raw.people")
    assert [h["added"] for h in history] == [[], ["nickname"], []]
    assert history[2]["renamed"] == ["nickname -> alias"]
    assert all(h["snapshot_id"] for h in history)
