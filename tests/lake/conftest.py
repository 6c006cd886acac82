"""The ``lake`` fixture: one Lake per catalog/storage combination, so every table test runs on each."""

from __future__ import annotations

import pytest

import laketown


def _sqlite_local(request, tmp_path):
    return laketown.connect(tmp_path / "ws")


COMBINATIONS = {
    "sqlite-local": _sqlite_local,
}


@pytest.fixture(params=sorted(COMBINATIONS))
def lake_ws(request, tmp_path):
    ws = COMBINATIONS[request.param](request, tmp_path)
    yield ws
    ws.close()


@pytest.fixture
def lake(lake_ws):
    return lake_ws.lake
