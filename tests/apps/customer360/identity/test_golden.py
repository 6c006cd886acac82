"""Survivorship rules and lineage on hand-made records (no model needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from laketown.apps.customer360.identity import golden
from laketown.errors import LaketownError


def _records() -> pa.Table:
    t = lambda d: datetime(2024, 1, d, tzinfo=UTC)
    rows = [
        {"record_id": "crm:1", "source": "crm", "given_name": "Robert", "surname": "Smith", "email": "old@x.org",
         "phone": "111", "street": "1 Oak St", "city": "Ely", "postcode": "E1", "dob": "1980-01-02", "updated_at": t(1)},
        {"record_id": "web:7", "source": "web", "given_name": "Bob", "surname": "Smith-Jones", "email": "new@x.org",
         "phone": None, "street": "9 Elm Rd", "city": "Ely", "postcode": "E9", "dob": "1980-01-02", "updated_at": t(9)},
        {"record_id": "support:3", "source": "support", "given_name": "robert", "surname": "Smith", "email": None,
         "phone": "333", "street": None, "city": None, "postcode": None, "dob": "1980-02-01", "updated_at": t(5)},
        {"record_id": "crm:2", "source": "crm", "given_name": "Ann", "surname": "Lee", "email": "ann@x.org",
         "phone": "222", "street": "2 Pine Ln", "city": "Bath", "postcode": "B2", "dob": None, "updated_at": t(3)},
    ]
    return pa.Table.from_pylist(rows)


def test_most_recent_most_frequent_and_source_priority_with_lineage():
    recs = _records()
    ids = pa.array(["C1", "C1", "C1", "C2"])
    rules = golden.Survivorship(rules={**golden.DEFAULT_RULES, "phone": "source_priority"},
                                source_priority=["support", "crm", "web"])
    gold, lineage = golden.build(recs, ids, rules)
    c1 = gold.to_pylist()[0]
    assert c1["customer_id"] == "C1"
    assert c1["email"] == "new@x.org"  # most recent non-empty
    assert c1["surname"] == "Smith-Jones"  # most recent
    assert c1["given_name"].lower() == "robert"  # two of three records say robert
    assert c1["dob"] == "1980-01-02"  # most frequent
    assert c1["phone"] == "333"  # support comes first in the priority
    assert c1["record_ids"] == ["crm:1", "support:3", "web:7"] and c1["sources"] == ["crm", "support", "web"]
    assert c1["record_count"] == 3
    lin = {(r["customer_id"], r["attribute"]): r for r in lineage.to_pylist()}
    assert lin[("C1", "email")]["record_id"] == "web:7" and lin[("C1", "email")]["rule"] == "most_recent"
    assert lin[("C1", "phone")]["record_id"] == "support:3" and lin[("C1", "phone")]["source"] == "support"
    assert lin[("C1", "given_name")]["rule"] == "most_frequent"
    assert ("C2", "dob") not in lin and gold.to_pylist()[1]["dob"] is None


def test_unknown_rule_or_attribute_is_refused():
    with pytest.raises(LaketownError, match="unknown survivorship rule 'newest'"):
        golden.Survivorship(rules={"email": "newest"})
    with pytest.raises(LaketownError, match="unknown attribute 'mail'"):
        golden.Survivorship(rules={"mail": "most_recent"})
