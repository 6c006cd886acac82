from __future__ import annotations

import sys

import pytest

from laketown import registry
from laketown.config import load_settings
from laketown.errors import ConfigError, MissingExtraError


def test_unknown_backend_lists_known_ones():
    with pytest.raises(ConfigError, match="unknown catalog backend 'oracle'.*postgres, rest, sql"):
        registry.load("catalog", "oracle")


def test_missing_optional_dependency_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if `laketown[postgres]` were not installed
    sys.modules.pop("laketown.lake.catalogs", None)
    settings = load_settings(environ={}, catalog={"uri": "postgresql://u@127.0.0.1:1/db"})
    cls = registry.load("catalog", "postgres")
    with pytest.raises(MissingExtraError, match=r"pip install 'laketown\[postgres\]'"):
        cls(settings)


def test_importing_laketown_imports_no_driver():
    code = (
        "import sys, laketown, laketown.cli, laketown.config, laketown.registry;"
        "bad=[m for m in ('confluent_kafka','psycopg','duckdb','pyiceberg') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
