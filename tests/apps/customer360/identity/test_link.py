"""The generic linker on files: the ``link`` command through a typer app, de-duplication,
column kinds and clear errors."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
import typer
from typer.testing import CliRunner

from laketown.apps.customer360.identity import kinds
from laketown.apps.customer360.identity.cli import register
from laketown.apps.customer360.identity.link import LinkError, link


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def noop() -> None:  # a second command keeps typer in group mode: `app link ...`
        pass

    return app


def _split_people(people: pa.Table) -> tuple[pa.Table, pa.Table, pa.Table]:
    """One record of each person on the left, another one (when there is) on the right."""
    first: dict[str, dict] = {}
    paired: set[str] = set()
    left, right, truth = [], [], []
    cols = ["record_id", "given_name", "surname", "email", "phone", "street", "city", "postcode", "dob"]
    for rec in people.select(cols + ["person_id"]).to_pylist():
        pid = rec.pop("person_id")
        if pid not in first:
            first[pid] = rec
            left.append(rec)
        elif pid not in paired:
            paired.add(pid)
            right.append(rec)
            truth.append((first[pid]["record_id"], rec["record_id"]))
    t = pa.table({"a": [x for x, _ in truth], "b": [y for _, y in truth]})
    return pa.Table.from_pylist(left), pa.Table.from_pylist(right), t


def test_link_command_links_two_files_and_scores_against_truth(app, people, tmp_path):
    left, right, truth = _split_people(people.slice(0, 1200))
    for name, t in (("left.csv", left), ("right.csv", right), ("truth.csv", truth)):
        pacsv.write_csv(t, tmp_path / name)
    out = tmp_path / "clusters.csv"
    res = CliRunner().invoke(app, ["link", "--left", str(tmp_path / "left.csv"), "--right", str(tmp_path / "right.csv"),
                                   "--id", "record_id", "--truth", str(tmp_path / "truth.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["area"] == "c360" and summary["task"] == "link"
    assert summary["laketown"]["precision"] > 0.9 and summary["laketown"]["recall"] > 0.8
    assert 0 < summary["laketown"]["f1"] <= 1
    assert summary["columns"]["email"] == "email" and summary["columns"]["dob"] == "date"
    clusters = pacsv.read_csv(out)
    assert clusters.num_rows == left.num_rows + right.num_rows
    assert set(clusters["side"].to_pylist()) == {"l", "r"}


def test_link_command_errors_are_one_line_exit_2(app, tmp_path):
    pacsv.write_csv(pa.table({"id": ["1", "2"], "name": ["a", "b"]}), tmp_path / "x.csv")
    res = CliRunner().invoke(app, ["link", "--left", str(tmp_path / "x.csv"), "--id", "nope"])
    assert res.exit_code == 2
    assert "id column 'nope'" in res.output and len(res.output.strip().splitlines()) == 1
    res = CliRunner().invoke(app, ["link", "--left", str(tmp_path / "missing.csv"), "--id", "id"])
    assert res.exit_code == 2 and "no such file" in res.output


def test_dedupe_one_table_groups_the_same_person(people):
    table = people.slice(0, 700).drop(["source", "source_id", "updated_at"])
    truth_ids = table.select(["record_id", "person_id"])
    result = link(table.drop(["person_id"]), None, "record_id")
    got = dict(zip(result.clusters["id"].to_pylist(), result.clusters["cluster_id"].to_pylist()))
    same = {}
    for rid, pid in zip(truth_ids["record_id"].to_pylist(), truth_ids["person_id"].to_pylist()):
        same.setdefault(pid, []).append(rid)
    together = [len({got[r] for r in rids}) == 1 for rids in same.values() if len(rids) > 1]
    assert sum(together) / len(together) > 0.9
    assert pc.min(result.edges["match_probability"]).as_py() >= 0.5


def test_column_kinds_come_from_values_when_names_say_nothing():
    n = 200
    t = pa.table({
        "c1": [f"user{i}@mail{i % 7}.com" for i in range(n)],
        "c2": [f"19{50 + i % 40}-0{1 + i % 9}-1{i % 10}" for i in range(n)],
        "c3": [f"{5550000000 + i * 7919}" for i in range(n)],
        "c4": ["north" if i % 2 else "south" for i in range(n)],
        "c5": [f"{i} some long street name with words" for i in range(n)],
        "first_name": ["x"] * n,
    })
    got = {c: kinds.infer_kind(t, c) for c in t.column_names}
    assert got == {"c1": "email", "c2": "date", "c3": "phone", "c4": "category", "c5": "text", "first_name": "given_name"}


def test_linker_refuses_duplicate_ids_and_unshared_columns():
    a = pa.table({"id": ["1", "1"], "name": ["a", "b"]})
    with pytest.raises(LinkError, match="duplicate"):
        link(a, None, "id")
    with pytest.raises(LinkError, match="share no column"):
        link(pa.table({"id": ["1"], "x": ["a"]}), pa.table({"id": ["2"], "y": ["b"]}), "id")
