"""A deterministic synthetic retail catalog with shopping sessions, for the demo and tests.

Each user prefers one or two categories; sessions are views, some add-to-carts and a few
purchases, mostly inside the preferred categories. Items carry a category, brand, price and
a text description written from the category's vocabulary, so content models can learn from it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laketown.apps.recommendations.data import Dataset, validate_interactions, validate_items, validate_users

CATEGORIES = {
    "outdoor": ["tent", "hiking", "trail", "waterproof", "camping", "backpack", "lantern"],
    "kitchen": ["pan", "knife", "cooking", "ceramic", "oven", "kettle", "spatula"],
    "electronics": ["wireless", "bluetooth", "battery", "charger", "speaker", "screen", "usb"],
    "books": ["novel", "paperback", "mystery", "history", "author", "hardcover", "chapter"],
    "fitness": ["yoga", "dumbbell", "running", "mat", "resistance", "training", "protein"],
    "garden": ["seeds", "planter", "soil", "watering", "pruning", "compost", "flower"],
    "toys": ["puzzle", "blocks", "plush", "board", "game", "kids", "lego"],
    "beauty": ["serum", "moisturizer", "lipstick", "fragrance", "skincare", "brush", "lotion"],
}
ADJECTIVES = ["premium", "classic", "compact", "durable", "lightweight", "deluxe", "eco", "everyday"]
BRANDS = ["acme", "northwind", "contoso", "globex", "initech", "umbrella"]
START = 1_767_225_600  # 2026-01-01T00:00:00Z


def generate(n_users: int = 2000, n_items: int = 400, sessions_per_user: float = 4.0, days: int = 60,
             seed: int = 7) -> Dataset:
    """Users, items and session interactions (view / add_to_cart / purchase); same seed, same data."""
    rng = np.random.default_rng(seed)
    cats = list(CATEGORIES)
    item_cat = rng.integers(0, len(cats), n_items)
    item_pop = rng.pareto(1.5, n_items) + 1.0
    descriptions, titles = [], []
    for i in range(n_items):
        words = CATEGORIES[cats[item_cat[i]]]
        picked = rng.choice(words, size=3, replace=False)
        adj = ADJECTIVES[rng.integers(len(ADJECTIVES))]
        titles.append(f"{adj.title()} {picked[0]} {i}")
        descriptions.append(f"{adj} {picked[0]} with {picked[1]} and {picked[2]} for {cats[item_cat[i]]} lovers")
    items = pd.DataFrame({
        "item_id": [f"P{i:05d}" for i in range(n_items)],
        "title": titles,
        "category": [cats[c] for c in item_cat],
        "brand": [BRANDS[b] for b in rng.integers(0, len(BRANDS), n_items)],
        "price": np.round(rng.lognormal(3.0, 0.6, n_items), 2),
        "description": descriptions,
    })
    by_cat = [np.flatnonzero(item_cat == c) for c in range(len(cats))]
    rows = []
    user_pref = []
    for u in range(n_users):
        prefs = rng.choice(len(cats), size=int(rng.integers(1, 3)), replace=False)
        user_pref.append("|".join(cats[p] for p in prefs))
        for _ in range(max(1, rng.poisson(sessions_per_user))):
            t = START + int(rng.integers(0, days * 86400))
            for _ in range(int(rng.integers(2, 8))):
                cat = prefs[rng.integers(len(prefs))] if rng.random() < 0.85 else rng.integers(len(cats))
                pool = by_cat[cat]
                if len(pool) == 0:
                    continue
                w = item_pop[pool] / item_pop[pool].sum()
                item = int(pool[rng.choice(len(pool), p=w)])
                t += int(rng.integers(10, 300))
                rows.append((u, item, t, "view"))
                if rng.random() < 0.3:
                    rows.append((u, item, t + 5, "add_to_cart"))
                    if rng.random() < 0.4:
                        rows.append((u, item, t + 60, "purchase"))
    arr = np.array(rows, dtype=object)
    interactions = pd.DataFrame({
        "user_id": [f"U{u:05d}" for u in arr[:, 0]],
        "item_id": items["item_id"].to_numpy()[arr[:, 1].astype(int)],
        "timestamp": arr[:, 2].astype("int64"),
        "event_type": arr[:, 3].astype(str),
        "value": 1.0,
    })
    users = pd.DataFrame({
        "user_id": [f"U{u:05d}" for u in range(n_users)],
        "segment": rng.choice(["new", "regular", "vip"], n_users, p=[0.3, 0.6, 0.1]),
        "preferred": user_pref,
    })
    return Dataset("synthetic-retail", validate_interactions(interactions), validate_items(items), validate_users(users))
