"""The crawler infers schemas and key=value partitions and loads only new files; lineage
events build upstream and downstream graphs."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from laketown.governance import GovernanceError


def write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pcsv.write_csv(pa.Table.from_pylist(rows), path)


def test_crawl_csv_with_partitions_then_only_new_files(ws, tmp_path):
    src = tmp_path / "landing"
    write_csv(src / "region=EU" / "day=1" / "a.csv", [{"id": 1, "amount": 2.5}, {"id": 2, "amount": 3.0}])
    write_csv(src / "region=US" / "day=1" / "b.csv", [{"id": 3, "amount": 1.0}])
    crawler = ws.governance.crawler
    out = crawler.crawl(str(src), "raw.landing")
    assert out["rows"] == 3 and out["partitions"] == ["region", "day"] and out["format"] == "csv"
    assert ws.table("raw.landing").stats()["partitioning"] == ["identity(region)", "identity(day)"]
    got = ws.sql("SELECT region, sum(amount) AS s FROM raw.landing GROUP BY 1 ORDER BY 1").to_pylist()
    assert got == [{"region": "EU", "s": 5.5}, {"region": "US", "s": 1.0}]
    assert crawler.crawl(str(src), "raw.landing")["rows"] == 0  # nothing new
    write_csv(src / "region=EU" / "day=2" / "c.csv", [{"id": 4, "amount": 4.0}])
    again = crawler.crawl(str(src), "raw.landing")
    assert again["new_files"] == 1 and again["rows"] == 1
    assert ws.governance.lineage.upstream("raw.landing") == [f"job:crawler:{src}"]


@pytest.mark.parametrize("policy, expected", [("update", ["id", "v", "extra"]), ("log", ["id", "v"])])
def test_schema_change_policy(ws, tmp_path, policy, expected):
    src = tmp_path / "p"
    src.mkdir()
    pq.write_table(pa.table({"id": [1], "v": ["a"]}), src / "1.parquet")
    crawler = ws.governance.crawler
    crawler.crawl(str(src), "raw.p", schema_change=policy)
    pq.write_table(pa.table({"id": [2], "v": ["b"], "extra": [9.5]}), src / "2.parquet")
    out = crawler.crawl(str(src), "raw.p", schema_change=policy)
    assert out["changes"] == ["new column extra (double)"]
    assert ws.table("raw.p").schema.names == expected
    assert ws.sql("SELECT count(*) AS n FROM raw.p").column("n")[0].as_py() == 2
    assert crawler.log("raw.p")[-1]["applied"] == (policy == "update")


def test_crawl_json_lines(ws, tmp_path):
    src = tmp_path / "j"
    src.mkdir()
    (src / "e.json").write_text("\n".join(json.dumps({"k": i, "name": f"n{i}"}) for i in range(5)))
    assert ws.governance.crawler.crawl(str(src), "raw.events_json")["rows"] == 5


def test_crawler_errors_name_the_problem(ws, tmp_path):
    with pytest.raises(GovernanceError, match="not a folder"):
        ws.governance.crawler.crawl(str(tmp_path / "missing"), "raw.x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GovernanceError, match="no .csv"):
        ws.governance.crawler.crawl(str(tmp_path / "empty"), "raw.x")
    with pytest.raises(GovernanceError, match="raw.<name>"):
        ws.governance.crawler.crawl(str(tmp_path), "clean.x")


def test_lineage_graph_up_and_down(ws):
    ws.lake.write("raw.a", {"x": [1]})
    ws.lake.write("raw.b", {"x": [1]})
    lin = ws.governance.lineage
    with lin.run("join_ab", ["raw.a", "raw.b"]) as outputs:
        ws.lake.write("clean.ab", {"x": [1]})
        outputs.append("clean.ab")
    lin.record("rollup", ["clean.ab"], ["curated.kpis"])
    assert lin.upstream("curated.kpis") == ["clean.ab", "raw.a", "raw.b"]
    assert lin.downstream("raw.a") == ["clean.ab", "curated.kpis"]
    event = lin.events("join_ab")[0]
    assert event["eventType"] == "COMPLETE" and event["job"] == {"namespace": "laketown", "name": "join_ab"}
    snap = ws.table("raw.a").stats()["snapshot_id"]
    assert event["inputs"][0]["facets"]["version"]["datasetVersion"] == str(snap)
    with pytest.raises(RuntimeError), lin.run("broken", ["raw.a"]) as outputs:
        outputs.append("clean.never")
        raise RuntimeError("boom")
    assert lin.events("broken")[0]["eventType"] == "FAIL"
    assert "clean.never" not in lin.downstream("raw.a")
    lin.record("delivery:orders", ["stream:orders"], ["raw.a"])
    assert "stream:orders" in lin.upstream("raw.a")
