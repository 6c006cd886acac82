"""A small simulated workspace with trained, registered fraud models, shared by the module."""

from __future__ import annotations

import pytest

import laketown
from laketown.apps.fraud.data import SIMULATED_TABLE, write_simulation
from laketown.apps.fraud.features import FeatureSet, laketown_features
from laketown.apps.fraud.simulator import SimulationSpec
from laketown.apps.fraud.training import train

SMALL = SimulationSpec(customers=300, terminals=600, days=45, seed=7)


@pytest.fixture(scope="session")
def trained_ws(tmp_path_factory):
    """Workspace with raw.fraud_transactions (SMALL) and models registered (version 1)."""
    ws = laketown.connect(tmp_path_factory.mktemp("fraud") / "ws")
    data = write_simulation(ws, SMALL)
    result = train(ws, SIMULATED_TABLE, FeatureSet(laketown_features()))
    ws.fraud_data = data
    ws.fraud_result = result
    yield ws
    ws.close()
