"""A workspace with one small table, and a TestClient over the app built on it."""

from __future__ import annotations

import datetime as dt
import warnings

import pyarrow as pa
import pytest

import laketown
from laketown.server import create_app

with warnings.catch_warnings():  # starlette nudges towards httpx2; httpx is what we have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SALES = pa.table(
    {
        "region": ["north", "south", "east", "west"],
        "amount": [120.5, 80.0, 42.25, 230.0],
        "day": [dt.datetime(2024, 1, d, tzinfo=dt.UTC) for d in (1, 2, 3, 4)],
    }
)


@pytest.fixture
def ws(tmp_path):
    """A workspace whose SQL limits are small enough to hit in a test."""
    workspace = laketown.connect(tmp_path / "ws", sql={"max_rows": 50, "timeout_s": 2.0})
    workspace.lake.write("raw.shop_sales", SALES)
    yield workspace
    workspace.close()


@pytest.fixture
def client(ws):
    with TestClient(create_app(ws)) as test_client:
        yield test_client
