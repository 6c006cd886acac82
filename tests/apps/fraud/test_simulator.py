import numpy as np

from laketown.apps.fraud.simulator import SimulationSpec, simulate


def test_same_seed_gives_identical_data_and_another_seed_differs():
    spec = SimulationSpec(customers=200, terminals=400, days=20, seed=5)
    a, b = simulate(spec), simulate(spec)
    assert a.equals(b)
    assert not a.equals(simulate(spec, seed=6))


def test_scenario_rates_follow_the_handbook():
    data = simulate(SimulationSpec(customers=2_000, terminals=4_000, days=60, seed=1))
    scenario = data["tx_fraud_scenario"].to_numpy()
    amount = data["tx_amount"].to_numpy()
    fraud = data["tx_fraud"].to_numpy()
    # about 2 transactions a day per customer, a few % lost outside the day
    assert 2_000 * 60 * 1.8 < data.num_rows < 2_000 * 60 * 2.05
    assert ((scenario > 0) == (fraud == 1)).all()
    assert (amount[scenario == 1] > 220).all()
    assert 0.004 < fraud.mean() < 0.02
    # scenario 3 multiplies amounts by 5: their mean is far above the genuine mean
    assert amount[scenario == 3].mean() > 3 * amount[scenario == 0].mean()
    # compromised terminals: all of a compromised terminal's transactions in the window are fraud
    assert (scenario == 2).sum() > (scenario == 3).sum() > 0


def test_times_are_sorted_and_ids_follow_time():
    data = simulate(SimulationSpec(customers=100, terminals=200, days=10, seed=2))
    ts = data["tx_datetime"].cast("int64").to_numpy()
    assert (np.diff(ts) >= 0).all()
    assert (data["transaction_id"].to_numpy() == np.arange(data.num_rows)).all()
    assert str(data["tx_datetime"][0].as_py().date()) == "2018-04-01"
