"""CRM files dropped in the landing folder land in raw exactly once, also across crashes."""

from __future__ import annotations

import pytest

import laketown
from laketown.apps.customer360 import landing
from laketown.apps.customer360.names import QUARANTINE, RAW_CRM
from tests.apps.customer360.conftest import start_child, wait_ready_then_kill


def _landed(ws) -> list[tuple[str, str]]:
    rows = ws.lake.table(RAW_CRM).scan(columns=["_file", "contact_id"]).to_pylist()
    return sorted((r["_file"], r["contact_id"]) for r in rows)


def test_each_file_is_picked_up_once(ws, contacts):
    landing.drop_file(ws, "a.csv", contacts[:100])
    landing.drop_file(ws, "b.csv", contacts[100:150])
    first = landing.ingest(ws)
    assert first["files"] == 2 and first["rows"] == 150
    again = landing.ingest(ws)
    assert again["files"] == 0 and again["rows"] == 0
    landing.drop_file(ws, "a-copy.csv", contacts[:100])  # the same export dropped again under another name
    landing.drop_file(ws, "c.csv", contacts[150:160])
    third = landing.ingest(ws)
    assert third["duplicates"] == 1 and third["files"] == 1 and third["rows"] == 10
    landed = _landed(ws)
    assert len(landed) == 160 and len({cid for _, cid in landed}) == 160
    f = landing.folders(ws)
    assert sorted(p.name for p in f["processed"].iterdir()) == ["a-copy.csv", "a.csv", "b.csv", "c.csv"]
    assert not any(f["incoming"].iterdir()) and not any(f["claimed"].iterdir())
    assert set(landing.processed_checksums(ws).values()) == {"a.csv", "b.csv", "c.csv"}


def test_extra_columns_are_kept_and_bad_files_and_lines_are_quarantined(ws, contacts):
    rows = [{**r, "loyalty_tier": "gold"} for r in contacts[:5]]
    landing.drop_file(ws, "extra.csv", rows)
    landing.drop_file(ws, "wrong.csv", [{"id": "1", "name": "x"}])
    path = landing.folders(ws)["incoming"] / "ragged.csv"
    path.write_text("contact_id,first_name,last_name\nC1,Ann,Lee\nC2,Bob\n")
    stats = landing.ingest(ws)
    assert stats["rejected"] == 1 and stats["files"] == 2 and stats["quarantined"] == 1
    extra = ws.lake.table(RAW_CRM).scan(filter="_file == 'extra.csv'").column("_extra").to_pylist()
    assert extra == ['{"loyalty_tier": "gold"}'] * 5
    reasons = {r["origin"].split("@")[0]: r["reason"] for r in ws.lake.table(QUARANTINE).scan().to_pylist()}
    assert "has no column 'contact_id'" in reasons["wrong.csv"]
    assert "line 3 has 2 fields" in reasons["ragged.csv"]
    assert (landing.folders(ws)["rejected"] / "wrong.csv").exists()


@pytest.mark.crash
@pytest.mark.parametrize("point", ["claimed", "landed"])
def test_kill_mid_file_then_restart_lands_the_file_exactly_once(tmp_path, contacts, point):
    path = tmp_path / "ws"
    ws = laketown.connect(path)
    landing.drop_file(ws, "big.csv", contacts)
    ws.close()
    wait_ready_then_kill(start_child("-m", "tests.apps.customer360.source_worker", str(path), point))
    ws = laketown.connect(path)
    f = landing.folders(ws)
    assert [p.name for p in f["claimed"].iterdir()] == ["big.csv"]  # the claim survived the crash
    stats = landing.ingest(ws)
    assert stats["recovered"] == 1
    assert stats["rows"] == (len(contacts) if point == "claimed" else 0)
    landed = _landed(ws)
    assert len(landed) == len(contacts) == len({cid for _, cid in landed})
    assert [p.name for p in f["processed"].iterdir()] == ["big.csv"]
    assert landing.ingest(ws)["rows"] == 0
    ws.close()
