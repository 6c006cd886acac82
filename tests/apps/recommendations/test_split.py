import numpy as np
import pandas as pd

from laketown.apps.recommendations.split import personalize_split, stratified_split


def _frame(n_users=50, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items = rng.choice(200, size=int(rng.integers(4, 40)), replace=False)
        for k, i in enumerate(items):
            rows.append((f"u{u}", f"i{i}", 1000 + 10 * k + u))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_stratified_split_partitions_each_user_75_25_without_leakage():
    df = _frame()
    train, test = stratified_split(df, ratio=0.75, seed=42)
    assert len(train) + len(test) == len(df)
    key = ["user_id", "item_id"]
    assert train.merge(test, on=key).empty  # no (user, item) pair in both
    for user, g in df.groupby("user_id"):
        n_train = (train.user_id == user).sum()
        assert n_train == round(0.75 * len(g))
    again, _ = stratified_split(df, ratio=0.75, seed=42)
    pd.testing.assert_frame_equal(train, again)


def test_personalize_split_holds_out_newest_tenth_of_tenth_of_users():
    df = _frame(n_users=100)
    train, test = personalize_split(df, seed=1)
    assert len(train) + len(test) == len(df)
    assert train.merge(test, on=["user_id", "item_id"]).empty
    test_users = set(test.user_id)
    assert len(test_users) == 10
    for user in test_users:
        tr, te = train[train.user_id == user], test[test.user_id == user]
        n = len(tr) + len(te)
        assert len(te) == max(1, int(0.1 * n))
        assert tr.timestamp.max() <= te.timestamp.min()  # only the newest are held out
