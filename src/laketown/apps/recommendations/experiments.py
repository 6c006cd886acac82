"""A/B tests of campaigns: deterministic user bucketing and per-variant CTR and conversion
with Wilson confidence intervals, from exposure and click/conversion events."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from laketown.errors import LaketownError

CLICK_TYPES = ("click", "view", "add_to_cart")
CONVERSION_TYPES = ("purchase", "conversion")


@dataclass(frozen=True)
class Experiment:
    """Users are split between ``variants`` (variant name -> campaign name) by ``weights``."""

    name: str
    variants: Mapping[str, str]
    weights: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if len(self.variants) < 2:
            raise LaketownError(f"experiment {self.name!r} needs at least two variants, got {list(self.variants)}")
        if self.weights is not None and (len(self.weights) != len(self.variants) or min(self.weights) < 0
                                         or sum(self.weights) <= 0):
            raise LaketownError(f"experiment {self.name!r}: weights {list(self.weights)} must be one non-negative "
                                f"number per variant ({len(self.variants)}), not all zero")

    def assign(self, user_id: str) -> str:
        """The user's variant: a hash of experiment and user id, so it never changes between calls."""
        h = int.from_bytes(hashlib.sha256(f"{self.name}\x00{user_id}".encode()).digest()[:8], "big") / 2**64
        weights = list(self.weights or [1.0] * len(self.variants))
        total, acc = sum(weights), 0.0
        names = list(self.variants)
        for name, w in zip(names, weights):
            acc += w / total
            if h < acc:
                return name
        return names[-1]


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95 % by default); (0, 0) without trials."""
    if trials <= 0:
        return (0.0, 0.0)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def report(exposures: pd.DataFrame, events: pd.DataFrame, click_types: Sequence[str] = CLICK_TYPES,
           conversion_types: Sequence[str] = CONVERSION_TYPES) -> dict[str, Any]:
    """Per variant: exposures (user x recommended item), clicks on exposed items after the
    exposure, CTR = clicked exposures / exposures, users and converted users (a conversion
    event on an exposed item after exposure), each rate with its Wilson interval.

    ``exposures``: user_id, variant, item_id, timestamp; ``events``: user_id, item_id,
    event_type, timestamp."""
    out: dict[str, Any] = {}
    if len(exposures) == 0:
        return out
    exp = exposures.groupby(["variant", "user_id", "item_id"], as_index=False)["timestamp"].min()
    ev = events[["user_id", "item_id", "event_type", "timestamp"]].rename(columns={"timestamp": "event_ts"})
    joined = exp.merge(ev, on=["user_id", "item_id"], how="left")
    after = joined["event_ts"] >= joined["timestamp"]
    joined["click"] = after & joined["event_type"].isin(list(click_types))
    joined["conv"] = after & joined["event_type"].isin(list(conversion_types))
    per_exp = joined.groupby(["variant", "user_id", "item_id"], as_index=False)[["click", "conv"]].any()
    for variant, g in per_exp.groupby("variant"):
        n, clicks = len(g), int(g["click"].sum())
        users = g.groupby("user_id")["conv"].any()
        conv = int(users.sum())
        out[str(variant)] = {
            "exposures": n, "clicks": clicks, "ctr": clicks / n, "ctr_ci95": list(wilson(clicks, n)),
            "users": len(users), "conversions": conv, "conversion": conv / len(users),
            "conversion_ci95": list(wilson(conv, len(users))),
        }
    return out
