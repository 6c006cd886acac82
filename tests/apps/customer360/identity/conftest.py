"""Small generated people data and one model trained on it, shared by the identity tests
(training is the slow part; every test then resolves in its own fresh workspace)."""

from __future__ import annotations

import pyarrow as pa
import pytest

import laketown
from laketown.apps.customer360.identity import Resolver
from laketown.apps.customer360.identity.synth import generate


@pytest.fixture(scope="session")
def people() -> pa.Table:
    return generate(1500, seed=11)


@pytest.fixture(scope="session")
def trained_model(people, tmp_path_factory) -> dict:
    ws = laketown.connect(tmp_path_factory.mktemp("model") / "ws")
    try:
        resolver = Resolver(ws)
        resolver.rebuild(people)
        model = resolver.model()
        resolver.close()
        return model
    finally:
        ws.close()


@pytest.fixture
def resolver(ws, trained_model):
    r = Resolver(ws)
    r.set_model(trained_model)
    yield r
    r.close()


def partition(table: pa.Table) -> set[frozenset[str]]:
    """Clusters as sets of record ids (what must agree, whatever the ids are called)."""
    groups: dict[str, set[str]] = {}
    for rid, cid in zip(table["record_id"].to_pylist(), table["customer_id"].to_pylist()):
        groups.setdefault(cid, set()).add(rid)
    return {frozenset(g) for g in groups.values()}
