"""Small synthetic data and one trained solution shared by the recommendations tests."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from laketown.apps.recommendations import retail, solutions
from laketown.apps.recommendations.data import Dataset, validate_items

warnings.filterwarnings("ignore", message=".*OpenBLAS.*")


@pytest.fixture(scope="session")
def retail_data() -> Dataset:
    return retail.generate(n_users=300, n_items=120, seed=3)


@pytest.fixture(scope="session")
def cold_item(retail_data) -> dict:
    """A new item with no interactions, described like user U00001's most frequent item."""
    inter = retail_data.interactions
    fav = inter[inter.user_id == "U00001"]["item_id"].value_counts().index[0]
    row = retail_data.items.set_index("item_id").loc[fav]
    return {"item_id": "NEW001", "title": row["title"] + " new", "category": row["category"], "brand": row["brand"],
            "price": float(row["price"]), "description": row["description"]}


@pytest.fixture(scope="session")
def solution(retail_data, cold_item):
    items = validate_items(pd.concat([retail_data.items, pd.DataFrame([cold_item])], ignore_index=True))
    ds = Dataset(retail_data.name, retail_data.interactions, items, retail_data.users)
    return solutions.train_solution(ds, recipe="ease", params={"lam": 50.0}, protocol="msr", tune=False)
