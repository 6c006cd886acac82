"""The Fellegi-Sunter model: splink 5 on DuckDB. One :class:`MatchSpec` says which columns
are compared how, which blocking rules make candidate pairs and how EM is trained; the same
spec and trained model score a full rebuild (``predict``), an increment (``predict_between``
plus ``predict_within``) and a single record (``predict_between`` against its candidates).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from laketown.errors import LaketownError, MissingExtraError

#: a comparison is built lazily (splink is an optional extra): fn(splink.comparison_library)
ComparisonFactory = Callable[[Any], Any]


def splink_modules() -> tuple[Any, Any]:
    """``(splink, splink.comparison_library)``, or a MissingExtraError naming ``c360``."""
    try:
        import splink
        import splink.comparison_library as cl
    except ImportError as exc:  # pragma: no cover - the extra is installed in dev
        raise MissingExtraError("identity resolution", "c360", exc) from None
    # "level not observed" and "default max_pairs" are expected here (unseen levels get a tiny m)
    logging.getLogger("splink").setLevel(logging.ERROR)
    return splink, cl


@dataclass
class MatchSpec:
    """What to compare and how to find candidates. ``blocking`` rules are column tuples
    (records agreeing on every column of one rule are compared); ``deterministic`` rules
    estimate the prior match rate; ``em_rules`` are the EM training blocks."""

    unique_id: str
    comparisons: list[ComparisonFactory]
    columns: list[str]
    blocking: list[tuple[str, ...]]
    deterministic: list[tuple[str, ...]]
    em_rules: list[tuple[str, ...]]
    link_type: str = "dedupe_only"
    source_column: str | None = None
    threshold: float = 0.5
    deterministic_recall: float = 0.7
    u_max_pairs: float = 1e6
    em_max_pairs: float = 2e6
    extra: dict[str, Any] = field(default_factory=dict)

    def settings(self) -> Any:
        splink, cl = splink_modules()
        kwargs: dict[str, Any] = {}
        if self.source_column:
            kwargs["source_dataset_column_name"] = self.source_column
        return splink.SettingsCreator(
            link_type=self.link_type,
            unique_id_column_name=self.unique_id,
            comparisons=[make(cl) for make in self.comparisons],
            blocking_rules_to_generate_predictions=self.blocking_rules(),
            retain_matching_columns=False,
            retain_intermediate_calculation_columns=False,
            **kwargs,
        )

    def blocking_rules(self) -> list[Any]:
        splink, _ = splink_modules()
        return [splink.block_on(*cols) for cols in self.blocking]

    def model_columns(self) -> list[str]:
        cols = [self.unique_id, *self.columns]
        if self.source_column and self.source_column not in cols:
            cols.append(self.source_column)
        return cols


class ModelError(LaketownError):
    """Training or scoring could not run (too few records, no candidate pairs)."""


def _db() -> Any:
    splink, _ = splink_modules()
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return splink.DuckDBAPI(con)


def _register(db: Any, tables: Sequence[pa.Table], spec: MatchSpec) -> list[Any]:
    cols = spec.model_columns()
    return [db.register(t.select(cols)) for t in tables]


def train(tables: Sequence[pa.Table], spec: MatchSpec, seed: int = 7) -> dict[str, Any]:
    """Estimate the model on ``tables`` (one table to de-duplicate, two to link): prior from
    the deterministic rules, u by random sampling, m by EM over each EM rule. Returns the
    trained model as splink's JSON dict."""
    splink, _ = splink_modules()
    rows = sum(t.num_rows for t in tables)
    if rows < 10:
        raise ModelError(f"training needs at least 10 records; got {rows}. Give more records to resolve")
    db = _db()
    linker = splink.Linker(_register(db, tables, spec), spec.settings(), log_level=None)
    det = [splink.block_on(*cols) for cols in spec.deterministic]
    try:
        linker.training.estimate_probability_two_random_records_match(det, recall=spec.deterministic_recall)
    except Exception as exc:  # noqa: BLE001 - splink raises plain exceptions for "no matches found"
        logging.getLogger(__name__).info("prior not estimated (%s); keeping splink's default", exc)
    linker.training.estimate_u_using_random_sampling(max_pairs=spec.u_max_pairs, seed=seed)
    for cols in spec.em_rules:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                splink.block_on(*cols), max_pairs=spec.em_max_pairs, record_sample_proportion=1.0
            )
        except Exception as exc:  # noqa: BLE001 - an EM block with no pairs is not fatal
            logging.getLogger(__name__).info("EM on %s skipped: %s", cols, exc)
    model = _floor_unobserved(linker.misc.save_model_to_json())
    db.duckdb_con.close()
    return model


#: m probability of a level that EM never saw among matches (instead of leaving it untrained,
#: which splink scores as neutral: a date of birth 40 years off would then count for nothing)
M_FLOOR = 1e-5


def _floor_unobserved(model: dict[str, Any]) -> dict[str, Any]:
    for comp in model["comparisons"]:
        for level in comp["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            if level.get("m_probability") is None and level.get("u_probability") is not None:
                level["m_probability"] = M_FLOOR
    return model


def _edges(df: Any, spec: MatchSpec) -> pa.Table:
    uid = spec.unique_id
    out = df.as_duckdbpyrelation().select(
        f'"{uid}_l" AS id_l, "{uid}_r" AS id_r, match_probability'
    ).to_arrow_table()
    return out


def predict_all(tables: Sequence[pa.Table], spec: MatchSpec, model: dict[str, Any], threshold: float) -> pa.Table:
    """Every blocked pair with ``match_probability >= threshold``: (id_l, id_r, match_probability)."""
    splink, _ = splink_modules()
    db = _db()
    linker = splink.Linker(_register(db, tables, spec), model, log_level=None)
    edges = _edges(linker.inference.predict(threshold_match_probability=threshold, warning_mode="never"), spec)
    db.duckdb_con.close()
    return edges


class Scorer:
    """Scores new records against candidates with a trained model, on one DuckDB connection
    kept open between calls (splink's incremental ``predict_between``/``predict_within``)."""

    def __init__(self, spec: MatchSpec, model: dict[str, Any]):
        splink, _ = splink_modules()
        self.spec = spec
        self.db = _db()
        self.linker = splink.Linker(_register(self.db, [self._empty()], spec), model, log_level=None)
        self.model = model
        self._n = 0
        self._cache_key = f"laketown-c360-{uuid.uuid4().hex}"

    def _empty(self) -> pa.Table:
        return pa.table({c: pa.array([], pa.string()) for c in self.spec.model_columns()})

    def _reg(self, table: pa.Table) -> Any:
        self._n += 1
        return self.db.register(table.select(self.spec.model_columns()))

    def between(self, new: pa.Table, candidates: pa.Table, threshold: float) -> pa.Table:
        """Pairs (new, candidate) found by the blocking rules, scored."""
        if new.num_rows == 0 or candidates.num_rows == 0:
            return _empty_edges()
        left, right = self._reg(new), self._reg(candidates)
        try:
            df = self.linker.inference.predict_between(
                left, right, threshold_match_probability=threshold, warning_mode="never"
            )
            return _edges(df, self.spec)
        finally:
            for t in (left, right):
                t.drop_table_from_database_and_remove_from_cache(force_non_splink_table=True)

    def pairs(self, new: pa.Table, candidates: pa.Table) -> pa.Table:
        """Every (new, candidate) pair scored, no blocking (the caller chose the candidates):
        splink's real-time ``compare_records`` with its SQL cached after the first call."""
        from splink.internals.realtime import compare_records

        if new.num_rows == 0 or candidates.num_rows == 0:
            return _empty_edges()
        cols = self.spec.model_columns()
        df = compare_records(new.select(cols), candidates.select(cols), self.model, self.db, sql_cache_key=self._cache_key)
        out = _edges(df, self.spec)
        uid = df.physical_name.rsplit("_", 1)[-1]
        df.drop_table_from_database_and_remove_from_cache(force_non_splink_table=True)
        for side in ("left", "right"):  # the inputs compare_records registered
            self.db.duckdb_con.unregister(f"__splink__compare_records_{side}_{uid}")
        return out

    def within(self, new: pa.Table, threshold: float) -> pa.Table:
        """Pairs among the new records found by the blocking rules, scored."""
        if new.num_rows < 2:
            return _empty_edges()
        tbl = self._reg(new)
        try:
            df = self.linker.inference.predict_within(tbl, threshold_match_probability=threshold, warning_mode="never")
            return _edges(df, self.spec)
        finally:
            tbl.drop_table_from_database_and_remove_from_cache(force_non_splink_table=True)

    def close(self) -> None:
        self.db.duckdb_con.close()


def _empty_edges() -> pa.Table:
    return pa.table({"id_l": pa.array([], pa.string()), "id_r": pa.array([], pa.string()),
                     "match_probability": pa.array([], pa.float64())})
