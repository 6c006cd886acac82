"""Datasets: interactions, items and users, imported from files or lake tables and validated.

Canonical columns (after mapping):

- interactions: ``user_id`` (str), ``item_id`` (str), ``timestamp`` (int, epoch seconds),
  ``event_type`` (str), ``value`` (float)
- items: ``item_id`` (str) plus any metadata columns; string columns are the item's text
- users: ``user_id`` (str) plus any metadata columns

Errors name the column and the first offending rows (0-based row numbers of the input).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from laketown.errors import LaketownError

INTERACTIONS_TABLE = "raw.recs_interactions"
ITEMS_TABLE = "raw.recs_items"
USERS_TABLE = "raw.recs_users"
_SHOW_ROWS = 5


class DatasetError(LaketownError, ValueError):
    """A dataset is missing a column or has bad values; the message names them and the rows."""


@dataclass
class Dataset:
    """A dataset group: interactions (required), items and users (optional)."""

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Rows and distinct users/items, for printing."""
        i = self.interactions
        return {
            "dataset": self.name,
            "interactions": len(i),
            "users": int(i["user_id"].nunique()),
            "items": int(i["item_id"].nunique()),
            "catalog_items": None if self.items is None else len(self.items),
            "event_types": sorted(i["event_type"].unique().tolist()),
        }


def _rows(mask: np.ndarray | pd.Series) -> str:
    idx = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(str(i) for i in idx[:_SHOW_ROWS])
    more = f" and {len(idx) - _SHOW_ROWS} more" if len(idx) > _SHOW_ROWS else ""
    return f"rows {shown}{more}"


def _require(df: pd.DataFrame, column: str, what: str, hint: str) -> None:
    if column not in df.columns:
        raise DatasetError(
            f"{what} have no column {column!r}; columns: {', '.join(map(str, df.columns)) or 'none'}. {hint}"
        )


def _ids(df: pd.DataFrame, column: str, what: str) -> pd.Series:
    col = df[column]
    bad = col.isna() | (col.astype(str).str.strip() == "")
    if bad.any():
        raise DatasetError(f"{what}: column {column!r} is empty in {_rows(bad)}; every row needs an id")
    if pd.api.types.is_float_dtype(col) and (col == col.round()).all():
        col = col.astype("int64")
    return col.astype(str).str.strip()


def _timestamps(col: pd.Series, what: str) -> pd.Series:
    """Epoch seconds from numbers, datetimes or date strings."""
    if pd.api.types.is_datetime64_any_dtype(col):
        parsed = col
    elif pd.api.types.is_numeric_dtype(col):
        bad = col.isna()
        if bad.any():
            raise DatasetError(f"{what}: column 'timestamp' is empty in {_rows(bad)}")
        values = col.astype("float64")
        # milliseconds since 1970 are > 1e11 for any date after 1973; take them as ms
        return pd.Series(np.where(values > 1e11, values / 1000.0, values).astype("int64"), index=col.index)
    else:
        parsed = pd.to_datetime(col, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna()
    if bad.any():
        sample = col[bad].head(1).tolist()
        raise DatasetError(
            f"{what}: column 'timestamp' has values that are not dates or epoch seconds in {_rows(bad)} "
            f"(e.g. {sample[0]!r}); use ISO dates or numbers"
        )
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize("UTC")
    return ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype("int64")


def validate_interactions(df: pd.DataFrame, default_event: str = "interaction") -> pd.DataFrame:
    """Check and normalize an interactions frame to the canonical columns (see module doc)."""
    what = "interactions"
    hint = "Map your columns with --user/--item/--time/--rating (or columns={...})."
    _require(df, "user_id", what, hint)
    _require(df, "item_id", what, hint)
    if len(df) == 0:
        raise DatasetError("interactions are empty; give at least one row")
    out = pd.DataFrame({"user_id": _ids(df, "user_id", what), "item_id": _ids(df, "item_id", what)})
    if "timestamp" in df.columns:
        out["timestamp"] = _timestamps(df["timestamp"], what)
    else:  # without times every interaction is equally recent; row order stands in for time
        out["timestamp"] = np.arange(len(df), dtype="int64")
    if "event_type" in df.columns:
        ev = df["event_type"]
        out["event_type"] = ev.where(ev.notna(), default_event).astype(str)
    else:
        out["event_type"] = default_event
    if "value" in df.columns:
        val = pd.to_numeric(df["value"], errors="coerce")
        bad = val.isna() & df["value"].notna()
        if bad.any():
            raise DatasetError(
                f"{what}: column 'value' has non-numbers in {_rows(bad)} (e.g. {df['value'][bad].iloc[0]!r})"
            )
        out["value"] = val.fillna(1.0).astype("float64")
    else:
        out["value"] = 1.0
    return out.reset_index(drop=True)


def validate_items(df: pd.DataFrame) -> pd.DataFrame:
    """Check an items frame: ``item_id`` present, non-empty and unique."""
    _require(df, "item_id", "items", "Rename your id column to item_id.")
    out = df.copy()
    out["item_id"] = _ids(df, "item_id", "items")
    dup = out["item_id"].duplicated(keep=False)
    if dup.any():
        raise DatasetError(
            f"items: column 'item_id' has duplicates in {_rows(dup)} (e.g. {out['item_id'][dup].iloc[0]!r}); "
            "each item needs one row"
        )
    return out.reset_index(drop=True)


def validate_users(df: pd.DataFrame) -> pd.DataFrame:
    """Check a users frame: ``user_id`` present, non-empty and unique."""
    _require(df, "user_id", "users", "Rename your id column to user_id.")
    out = df.copy()
    out["user_id"] = _ids(df, "user_id", "users")
    dup = out["user_id"].duplicated(keep=False)
    if dup.any():
        raise DatasetError(f"users: column 'user_id' has duplicates in {_rows(dup)}; each user needs one row")
    return out.reset_index(drop=True)


def read_frame(path: str | Path) -> pd.DataFrame:
    """A CSV, TSV or Parquet file as a frame (by extension)."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"file {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(p)
    if suffix in (".tsv", ".tab", ".inter"):
        return pd.read_csv(p, sep="\t")
    if suffix in (".csv", ".txt"):
        return pd.read_csv(p, sep=None, engine="python") if suffix == ".txt" else pd.read_csv(p)
    raise DatasetError(f"cannot read {str(p)!r}: use a .csv, .tsv or .parquet file")


def map_columns(df: pd.DataFrame, columns: dict[str, str | None]) -> pd.DataFrame:
    """Rename the user's columns to canonical names, e.g. ``{"user_id": "customer"}``; a
    named column that is missing is an error listing the file's columns."""
    rename = {}
    for canonical, given in columns.items():
        if not given or given == canonical:
            continue
        if given not in df.columns:
            raise DatasetError(
                f"no column {given!r} (given for {canonical}); columns: {', '.join(map(str, df.columns))}"
            )
        rename[given] = canonical
    return df.rename(columns=rename)


def load_interactions_file(
    path: str | Path, user: str | None = None, item: str | None = None, time: str | None = None,
    rating: str | None = None, event_type: str | None = None,
) -> pd.DataFrame:
    """Read and validate an interactions file with optional column names for each field."""
    df = read_frame(path)
    # headers like RecBole's "user_id:token" map to their plain names
    df.columns = [str(c).split(":", 1)[0] for c in df.columns]
    df = map_columns(df, {"user_id": user, "item_id": item, "timestamp": time, "value": rating,
                          "event_type": event_type})
    return validate_interactions(df)


def from_lake(ws: Any, interactions: str = INTERACTIONS_TABLE, items: str | None = ITEMS_TABLE,
              users: str | None = USERS_TABLE, name: str = "lake") -> Dataset:
    """A dataset from lake tables (items/users skipped when their table does not exist)."""
    inter = validate_interactions(ws.table(interactions).to_arrow().to_pandas())
    it = validate_items(ws.table(items).to_arrow().to_pandas()) if items and ws.lake.exists(items) else None
    us = validate_users(ws.table(users).to_arrow().to_pandas()) if users and ws.lake.exists(users) else None
    return Dataset(name, inter, it, us)


def write_to_lake(ws: Any, dataset: Dataset) -> dict[str, int]:
    """Overwrite ``raw.recs_interactions``, ``raw.recs_items`` and ``raw.recs_users``; returns rows."""
    import pyarrow as pa

    out = {}
    for table, frame in ((INTERACTIONS_TABLE, dataset.interactions), (ITEMS_TABLE, dataset.items),
                         (USERS_TABLE, dataset.users)):
        if frame is None:
            continue
        arrow = pa.Table.from_pandas(frame.assign(dataset=dataset.name), preserve_index=False)
        if ws.lake.exists(table) and ws.table(table).schema.names != arrow.schema.names:
            ws.lake.drop_table(table)  # another dataset with other metadata columns was loaded before
        ws.lake.write(table, arrow, mode="overwrite")
        out[table] = len(frame)
    return out
