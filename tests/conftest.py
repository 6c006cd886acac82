"""Shared fixtures. Real servers (PostgreSQL, SeaweedFS, Tansu) are started by tests.servers."""

from __future__ import annotations

import pytest

import laketown

pytest_plugins = ["tests.servers"]


@pytest.fixture
def ws(tmp_path):
    """A fresh workspace on the default embedded backends (SQLite catalog, local warehouse)."""
    workspace = laketown.connect(tmp_path / "ws")
    yield workspace
    workspace.close()
