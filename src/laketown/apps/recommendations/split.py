"""Offline evaluation splits: Microsoft Recommenders' and Amazon Personalize's protocols.

Both take an interactions frame with ``user_id``, ``item_id`` and ``timestamp`` columns and
return ``(train, test)`` frames whose rows partition the input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laketown.errors import LaketownError

MSR_PROTOCOL = "msr-stratified-75-25"
PERSONALIZE_PROTOCOL = "personalize-90-10-newest-10"


def stratified_split(
    interactions: pd.DataFrame, ratio: float = 0.75, seed: int = 42, min_rating: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user random split (Microsoft Recommenders' ``python_stratified_split``): each user
    keeps ``round(ratio * n)`` of their interactions, chosen at random, in train; the rest go
    to test. Users with fewer than ``min_rating`` interactions are dropped."""
    if not 0.0 < ratio < 1.0:
        raise LaketownError(f"split ratio {ratio!r} must be between 0 and 1 (e.g. 0.75)")
    df = interactions.reset_index(drop=True)
    counts = df.groupby("user_id", sort=False)["item_id"].transform("size")
    df = df[counts >= min_rating].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    # a random key per row, then rank within user: the first round(ratio*n) ranks go to train
    key = rng.random(len(df))
    order = np.lexsort((key, df["user_id"].astype(str).to_numpy()))
    users_sorted = df["user_id"].to_numpy()[order]
    starts = np.r_[0, np.flatnonzero(users_sorted[1:] != users_sorted[:-1]) + 1]
    sizes = np.diff(np.r_[starts, len(df)])
    pos = np.arange(len(df)) - np.repeat(starts, sizes)
    n_train = np.repeat(np.round(ratio * sizes).astype(int), sizes)
    is_train = np.empty(len(df), dtype=bool)
    is_train[order] = pos < n_train
    return df[is_train].reset_index(drop=True), df[~is_train].reset_index(drop=True)


def personalize_split(
    interactions: pd.DataFrame, test_users: float = 0.1, holdout: float = 0.1, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Amazon Personalize's offline protocol: a random ``test_users`` share of users are test
    users; the other users' interactions all train. For each test user, the newest
    ``holdout`` share of their interactions (at least one) is held out as test and the older
    ones are kept in train, so the model sees their history but not their future."""
    df = interactions.reset_index(drop=True)
    users = np.array(sorted(df["user_id"].unique(), key=str), dtype=object)
    rng = np.random.default_rng(seed)
    n_test = max(1, round(test_users * len(users)))
    chosen = set(rng.choice(users, size=n_test, replace=False).tolist())
    is_test_user = df["user_id"].isin(chosen).to_numpy()
    # newest first within each test user; ties broken by row order for determinism
    rank = df.assign(_row=np.arange(len(df))).sort_values(["timestamp", "_row"], ascending=[False, False])
    newest_rank = rank.groupby("user_id", sort=False).cumcount().reindex(df.index).to_numpy()
    sizes = df.groupby("user_id", sort=False)["item_id"].transform("size").to_numpy()
    n_hold = np.maximum(1, np.floor(holdout * sizes)).astype(int)
    held = is_test_user & (newest_rank < n_hold) & (sizes > 1)
    return df[~held].reset_index(drop=True), df[held].reset_index(drop=True)


def split(interactions: pd.DataFrame, protocol: str = "msr", seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split by protocol name: ``msr`` (stratified 75/25) or ``personalize`` (90/10 users, newest 10 %)."""
    if protocol in ("msr", MSR_PROTOCOL):
        return stratified_split(interactions, seed=seed)
    if protocol in ("personalize", PERSONALIZE_PROTOCOL):
        return personalize_split(interactions, seed=seed)
    raise LaketownError(f"unknown evaluation protocol {protocol!r}; use msr or personalize")
