import numpy as np
import pytest

from laketown.apps.fraud.features import ColumnFeature, FeatureSet, WindowFeature, laketown_features
from laketown.apps.fraud.simulator import SimulationSpec, simulate
from laketown.errors import LaketownError


def _offline_matrix(ws, fs, table="raw.fraud_transactions"):
    off = fs.compute_offline(ws, table)
    return off, np.column_stack([off[n].to_numpy(zero_copy_only=False).astype(float) for n in fs.names])


def test_online_features_equal_offline_sql_for_the_same_transactions(ws):
    data = simulate(SimulationSpec(customers=150, terminals=250, days=45, seed=3))
    ws.lake.write("raw.fraud_transactions", data)
    fs = FeatureSet(laketown_features())
    off, expected = _offline_matrix(ws, fs)
    online = fs.online()
    got = []
    for row in data.to_pylist():  # time order, labels known once recorded (delayed windows use them)
        got.append(online.compute(row))
        online.add(row, row["tx_fraud"])
    got = np.array(got)
    assert off["transaction_id"].to_pylist() == data["transaction_id"].to_pylist()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9, equal_nan=True)
    # the delayed terminal risk is not trivially zero in this sample
    assert expected[:, fs.names.index("terminal_id_risk_30d_delay7d")].max() > 0


def test_parity_holds_for_combined_entities_and_same_time_transactions(ws):
    rows = [
        {"transaction_id": i, "tx_datetime": np.datetime64("2024-01-01T10:00:00") + np.timedelta64(t, "h"),
         "card": c, "shop": s, "tx_amount": float(a), "tx_fraud": f}
        for i, (t, c, s, a, f) in enumerate(
            [(0, 1, 1, 10, 0), (0, 1, 1, 30, 1), (5, 1, 2, 20, 0), (30, 1, 1, 200, 0), (24 * 9, 1, 1, 50, 0),
             (24 * 9, 2, 1, 5, 0), (24 * 40, 1, 1, 15, 1)]
        )
    ]
    import pyarrow as pa

    table = pa.Table.from_pylist(rows)
    table = table.set_column(1, "tx_datetime", table["tx_datetime"].cast(pa.timestamp("us")))
    ws.lake.write("raw.fraud_toy", table)
    feats = (ColumnFeature("amount"), ColumnFeature("hour"), WindowFeature(("card", "shop"), "nb_tx", 1),
             WindowFeature(("card",), "avg_amount", 7), WindowFeature(("card",), "amount_zscore", 30),
             WindowFeature(("shop",), "risk", 7, 7), WindowFeature(("shop",), "nb_frauds", 30, 7))
    fs = FeatureSet(feats)
    _, expected = _offline_matrix(ws, fs, "raw.fraud_toy")
    online = fs.online()
    got = []
    for row in table.to_pylist():
        got.append(online.compute(row))
        online.add(row, row["tx_fraud"])
    np.testing.assert_allclose(np.array(got), expected, rtol=1e-9, equal_nan=True)
    # two transactions at the same instant do not see each other: both count only themselves
    assert expected[0, 2] == expected[1, 2] == 1.0
    # the label of the fraud at t=0 reaches shop 1's delayed risk 9 days later
    assert expected[4, 5] > 0


def test_late_label_reaches_online_risk():
    fs = FeatureSet((WindowFeature(("terminal_id",), "nb_frauds", 30, 7),))
    online = fs.online()
    tx = {"transaction_id": 1, "tx_datetime": "2024-01-01T00:00:00", "terminal_id": 9, "tx_amount": 10.0}
    online.add(tx)
    later = {**tx, "transaction_id": 2, "tx_datetime": "2024-01-10T00:00:00"}
    assert online.compute(later) == [0.0]
    assert online.set_label(tx, 1)
    assert online.compute(later) == [1.0]


def test_unknown_feature_kind_is_named():
    with pytest.raises(LaketownError, match="unknown feature kind 'median'"):
        WindowFeature(("customer_id",), "median", 7)
