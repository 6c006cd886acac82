"""Link two tables, or de-duplicate one, whatever their columns: each shared column's kind
is inferred (:mod:`.kinds`), cleaned and compared with a fitting splink comparison; blocking
rules are chosen from the data (selective column pairs within a pair budget); the model is
trained by EM without labels; clusters are connected components above the threshold.
With a truth file of id pairs, precision, recall and F1 are measured.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from laketown.apps.customer360.identity import clusters, kinds
from laketown.apps.customer360.identity.evaluation import pair_quality
from laketown.apps.customer360.identity.model import MatchSpec, predict_all, train
from laketown.errors import LaketownError

#: kinds that make good blocking keys, most discriminating first
_BLOCK_ORDER = ("email", "phone", "identifier", "date", "surname", "given_name", "name", "postcode", "address", "city", "number")


class LinkError(LaketownError, ValueError):
    """A file, id column or truth file given to the linker is unusable."""


@dataclass
class LinkResult:
    clusters: pa.Table  # id, side, cluster_id
    edges: pa.Table
    columns: dict[str, str]
    blocking: list[tuple[str, ...]]
    quality: dict[str, float] | None
    wall_s: float
    train_s: float

    def summary(self, dataset: str) -> dict[str, Any]:
        """One JSON-ready object in the benchmark summary shape (``laketown`` holds the metrics)."""
        metrics: dict[str, Any] = dict(self.quality or {})
        metrics.update(wall_s=round(self.wall_s, 3), train_s=round(self.train_s, 3),
                       records=self.clusters.num_rows,
                       clusters=len(np.unique(self.clusters["cluster_id"].to_numpy(zero_copy_only=False))),
                       pairs=self.edges.num_rows)
        return {"area": "c360", "dataset": dataset, "task": "link", "laketown": metrics,
                "columns": self.columns, "blocking": [list(b) for b in self.blocking]}


def read_table(path: str | Path) -> pa.Table:
    """A CSV or Parquet file as Arrow, every column as text (ids keep leading zeros)."""
    p = Path(path)
    if not p.is_file():
        raise LinkError(f"no such file {str(p)!r}; give a CSV or Parquet file")
    if p.suffix.lower() in (".parquet", ".pq"):
        t = pq.read_table(p)
        return t.cast(pa.schema([(f.name, pa.string()) for f in t.schema]))
    opts = pacsv.ConvertOptions(column_types=None, strings_can_be_null=True, auto_dict_encode=False)
    head = pacsv.read_csv(p, read_options=pacsv.ReadOptions(block_size=1 << 16), parse_options=pacsv.ParseOptions())
    opts.column_types = {name.strip(): pa.string() for name in head.column_names}
    t = pacsv.read_csv(p, convert_options=opts)
    return t.rename_columns([c.strip() for c in t.column_names])


def _shared_columns(tables: list[pa.Table], id_col: str) -> list[str]:
    for i, t in enumerate(tables):
        if id_col not in t.column_names:
            raise LinkError(f"id column {id_col!r} is not in table {i + 1}; its columns: {', '.join(t.column_names)}")
    shared = [c for c in tables[0].column_names if c != id_col and all(c in t.column_names for t in tables)]
    if not shared:
        raise LinkError("the tables share no column besides the id; give tables with the same column names")
    return shared


def _clean(tables: list[pa.Table], id_col: str, col_kinds: dict[str, str]) -> list[pa.Table]:
    con = duckdb.connect()
    out = []
    for i, t in enumerate(tables):
        con.register("t", t)
        cols = ", ".join(f'{kinds.clean_sql(c, k)} AS "{c}"' for c, k in col_kinds.items())
        out.append(con.execute(
            f'SELECT CAST("{id_col}" AS VARCHAR) AS "{id_col}", {cols}, \'{"lr"[i]}\' AS __side FROM t'
        ).to_arrow_table())
        con.unregister("t")
    con.close()
    return out


def _pair_count(con: duckdb.DuckDBPyConnection, cols: tuple[str, ...], n_tables: int) -> float:
    present = " AND ".join(f'"{c}" IS NOT NULL' for c in cols)
    keys = ", ".join(f'"{c}"' for c in cols)
    if n_tables == 2:
        q = (f"SELECT sum(a.n * b.n) FROM (SELECT {keys}, count(*) n FROM l WHERE {present} GROUP BY ALL) a "
             f"JOIN (SELECT {keys}, count(*) n FROM r WHERE {present} GROUP BY ALL) b USING ({keys})")
    else:
        q = f"SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM l WHERE {present} GROUP BY {keys})"
    return float(con.execute(q).fetchone()[0] or 0)


def choose_blocking(tables: list[pa.Table], col_kinds: dict[str, str], budget: float) -> list[tuple[str, ...]]:
    """Single columns and column pairs, most discriminating kinds first, whose pair count fits
    ``budget`` each; at most six rules, each column leading at most two."""
    con = duckdb.connect()
    con.register("l", tables[0])
    con.register("r", tables[-1])
    ranked = sorted((c for c, k in col_kinds.items() if k in _BLOCK_ORDER), key=lambda c: _BLOCK_ORDER.index(col_kinds[c]))
    candidates: list[tuple[str, ...]] = [(c,) for c in ranked] + list(itertools.combinations(ranked, 2))
    chosen: list[tuple[str, ...]] = []
    uses: dict[str, int] = {}
    for rule in candidates:
        if len(chosen) >= 6 or any(uses.get(c, 0) >= 2 for c in rule):
            continue
        if any(set(prev) <= set(rule) for prev in chosen):
            continue  # a superset of a chosen rule finds nothing new
        if _pair_count(con, rule, len(tables)) <= budget:
            chosen.append(rule)
            for c in rule:
                uses[c] = uses.get(c, 0) + 1
    con.close()
    if not chosen:
        raise LinkError(f"no blocking rule keeps the comparisons under {budget:.0f}; columns: {col_kinds}")
    return chosen


def build_spec(tables: list[pa.Table], id_col: str, col_kinds: dict[str, str], formats: dict[str, str | None],
               threshold: float) -> MatchSpec:
    rows = max(t.num_rows for t in tables)
    blocking = choose_blocking(tables, col_kinds, budget=max(50.0 * rows, 1e5))
    two = [b for b in blocking if len(b) == 2]
    singles = [b for b in blocking if len(b) == 1]
    em_rules = (singles[:1] + [b for b in two if not singles or singles[0][0] not in b][:1]) or blocking[:2]
    deterministic = [tuple(b for r in blocking[:3] for b in r)]
    return MatchSpec(
        unique_id=id_col, columns=list(col_kinds), blocking=blocking, deterministic=deterministic, em_rules=em_rules,
        comparisons=[kinds.comparison(c, k, formats.get(c)) for c, k in col_kinds.items()],
        link_type="link_only" if len(tables) == 2 else "dedupe_only", threshold=threshold,
    )


def link(left: pa.Table, right: pa.Table | None, id_col: str, truth: pa.Table | None = None,
         threshold: float = 0.5, column_kinds: dict[str, str] | None = None,
         progress: Callable[[str], None] | None = None) -> LinkResult:
    """Link ``left`` with ``right`` (or de-duplicate ``left``); ``truth`` is a table of true
    id pairs (its first two columns). ``column_kinds`` overrides inferred kinds; ``progress``
    is told the name of each phase as it starts."""
    say = progress or (lambda _phase: None)
    t0 = time.perf_counter()
    say("inferring column kinds")
    tables = [left] if right is None else [left, right]
    shared = _shared_columns(tables, id_col)
    both = pa.concat_tables([t.select(shared) for t in tables])
    con = duckdb.connect()
    col_kinds = {c: (column_kinds or {}).get(c) or kinds.infer_kind(both, c, con) for c in shared}
    formats = {c: kinds.date_format(con, both, c) for c, k in col_kinds.items() if k == "date"}
    con.close()
    for c, k in col_kinds.items():
        if k not in kinds.KINDS:
            raise LinkError(f"unknown kind {k!r} for column {c!r}; kinds: {', '.join(kinds.KINDS)}")
    cleaned = _clean(tables, id_col, col_kinds)
    ids = pa.concat_tables([t.select([id_col]) for t in cleaned])[id_col]
    if len(pa.compute.unique(ids)) != len(ids):
        raise LinkError(f"id column {id_col!r} has duplicate values; ids must be unique across the tables")
    say("choosing blocking rules")
    spec = build_spec(cleaned, id_col, col_kinds, formats, threshold)
    say("training the model (EM)")
    t1 = time.perf_counter()
    model = train(cleaned, spec)
    train_s = time.perf_counter() - t1
    say("scoring candidate pairs")
    edges = predict_all(cleaned, spec, model, threshold)
    say("clustering")
    labels = clusters.components(ids.combine_chunks(), edges, threshold)
    sides = pa.concat_tables([t.select(["__side"]) for t in cleaned])["__side"]
    out = pa.table({"id": ids, "side": sides, "cluster_id": pa.array(labels, pa.int64())})
    quality = pair_quality(_cluster_pairs(out, len(tables) == 2), _truth_pairs(truth)) if truth is not None else None
    return LinkResult(out, edges, col_kinds, spec.blocking, quality, time.perf_counter() - t0, train_s)


def _cluster_pairs(table: pa.Table, across_only: bool) -> set[tuple[str, str]]:
    con = duckdb.connect()
    con.register("c", table)
    cond = "AND a.side <> b.side" if across_only else ""
    rows = con.execute(f"SELECT a.id, b.id FROM c a JOIN c b ON a.cluster_id = b.cluster_id AND a.id < b.id {cond}").fetchall()
    con.close()
    return set(rows)


def _truth_pairs(truth: pa.Table) -> set[tuple[str, str]]:
    if truth.num_columns < 2:
        raise LinkError(f"the truth file needs two columns of ids (one pair a row); it has {truth.column_names}")
    a, b = truth.column(0).to_pylist(), truth.column(1).to_pylist()
    return {(str(x), str(y)) for x, y in zip(a, b) if x is not None and y is not None}


def write_clusters(result: LinkResult, out: str | Path) -> Path:
    """Clusters to CSV or Parquet (by the file's suffix)."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        pq.write_table(result.clusters, path)
    else:
        pacsv.write_csv(result.clusters, path)
    return path
