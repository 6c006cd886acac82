"""A small deterministic sample dataset (a web shop's orders) for the demo and the tests.

Generated with NumPy from a seed, so every run gives the same rows and nothing is downloaded.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

COUNTRIES = ["DE", "FR", "GB", "IT", "NL", "PL", "SE", "US"]
CATEGORIES = ["books", "electronics", "garden", "home", "sports", "toys"]


def orders(rows: int = 100_000, customers: int = 5_000, days: int = 90, seed: int = 7) -> pa.Table:
    """Orders with id, customer, country, category, quantity, unit price and UTC time."""
    rng = np.random.default_rng(seed)
    start = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() * 1_000_000)
    ts = np.sort(start + rng.integers(0, days * 86_400_000_000, rows))
    customer = rng.zipf(1.6, rows) % customers
    country = np.array(COUNTRIES)[customer % len(COUNTRIES)]
    category = np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), rows)]
    base = {"books": 14.0, "electronics": 120.0, "garden": 35.0, "home": 45.0, "sports": 60.0, "toys": 25.0}
    price = np.round(np.array([base[c] for c in CATEGORIES])[np.searchsorted(CATEGORIES, category)]
                     * rng.lognormal(0.0, 0.35, rows), 2)
    return pa.table(
        {
            "order_id": pa.array(np.arange(1, rows + 1), pa.int64()),
            "customer_id": pa.array(customer.astype(np.int64)),
            "country": pa.array(country.tolist(), pa.string()),
            "category": pa.array(category.tolist(), pa.string()),
            "quantity": pa.array(rng.integers(1, 5, rows).astype(np.int32)),
            "unit_price": pa.array(price),
            "ordered_at": pa.array(ts, pa.timestamp("us", tz="UTC")),
        }
    )


DAILY_REVENUE_SQL = """
SELECT CAST(ordered_at AS DATE) AS day, country,
       count(*) AS orders, round(sum(quantity * unit_price), 2) AS revenue
FROM raw.sample_orders
GROUP BY ALL
ORDER BY day, country
"""
