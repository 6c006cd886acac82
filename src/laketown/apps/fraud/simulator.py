"""A deterministic card-payment simulator with the three fraud scenarios of the Fraud Detection
Handbook (Le Borgne et al., 2022, chapter 3.2), vectorised with NumPy.

Customers and terminals sit on a 100 x 100 grid; a customer pays at terminals within
``radius``. Each day a customer makes Poisson(mean_nb_tx_per_day) payments at normally
distributed times of day with normally distributed amounts. Fraud:

1. every amount above 220 is fraud;
2. each day ``compromised_terminals`` random terminals are compromised for the next 28 days:
   all their transactions are fraud;
3. each day ``compromised_customers`` random customers are compromised for 14 days: a third of
   their transactions have their amount multiplied by 5 and are fraud.

The handbook picks exactly a third of each window's transactions; here each transaction is
picked with probability 1/3 per covering window, which keeps the rates and stays vectorised.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from laketown.errors import LaketownError

DAY_S = 86_400


@dataclass(frozen=True)
class SimulationSpec:
    """Parameters of one simulation; the handbook's defaults give ~1.75M transactions."""

    customers: int = 5_000
    terminals: int = 10_000
    days: int = 183
    start: date = date(2018, 4, 1)
    seed: int = 0
    radius: float = 5.0
    compromised_terminals: int = 2
    terminal_compromise_days: int = 28
    compromised_customers: int = 3
    customer_compromise_days: int = 14

    def check(self) -> None:
        for name in ("customers", "terminals", "days"):
            if getattr(self, name) < 1:
                raise LaketownError(f"simulation {name} must be at least 1; got {getattr(self, name)}")


def _available_terminals(cust_xy: np.ndarray, term_xy: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of the terminals within ``radius`` of each customer (offsets, terminal ids)."""
    counts, lists = [], []
    r2 = radius * radius
    for lo in range(0, len(cust_xy), 512):
        block = cust_xy[lo : lo + 512]
        d2 = ((block[:, None, :] - term_xy[None, :, :]) ** 2).sum(axis=2)
        rows, cols = np.nonzero(d2 < r2)
        counts.append(np.bincount(rows, minlength=len(block)))
        lists.append(cols)
    offsets = np.r_[0, np.cumsum(np.concatenate(counts))]
    return offsets, np.concatenate(lists)


def _compromised(rng: np.random.Generator, n_items: int, per_day: int, duration: int, days: int) -> np.ndarray:
    """(items x days) count of compromise windows covering each item on each day."""
    cover = np.zeros((n_items, days + duration), dtype=np.int16)
    per_day = min(per_day, n_items)
    for day in range(days):
        picked = rng.choice(n_items, size=per_day, replace=False)
        cover[picked, day : day + duration] += 1
    return cover[:, :days]


def simulate(spec: SimulationSpec | None = None, **overrides: object) -> pa.Table:
    """Simulate transactions, sorted by time, as Arrow with the columns ``transaction_id``,
    ``tx_datetime``, ``customer_id``, ``terminal_id``, ``tx_amount``, ``tx_time_seconds``,
    ``tx_time_days``, ``tx_fraud`` and ``tx_fraud_scenario`` (0 = genuine)."""
    spec = spec or SimulationSpec()
    if overrides:
        spec = SimulationSpec(**{**spec.__dict__, **overrides})
    spec.check()
    rng = np.random.default_rng(spec.seed)
    nc, nt, days = spec.customers, spec.terminals, spec.days

    cust_xy = rng.uniform(0, 100, size=(nc, 2))
    mean_amount = rng.uniform(5, 100, size=nc)
    std_amount = mean_amount / 2
    tx_per_day = rng.uniform(0, 4, size=nc)
    term_xy = rng.uniform(0, 100, size=(nt, 2))
    offsets, term_lists = _available_terminals(cust_xy, term_xy, spec.radius)
    n_avail = np.diff(offsets)

    counts = rng.poisson(np.repeat(tx_per_day[:, None], days, axis=1))  # customers x days
    counts[n_avail == 0] = 0
    flat = counts.ravel()
    customer = np.repeat(np.repeat(np.arange(nc), days), flat)
    day = np.repeat(np.tile(np.arange(days), nc), flat)
    n = customer.size
    seconds = np.rint(rng.normal(DAY_S / 2, 20_000, size=n)).astype(np.int64)
    amount = rng.normal(mean_amount[customer], std_amount[customer])
    redraw = rng.uniform(0, 2 * mean_amount[customer])
    amount = np.round(np.where(amount < 0, redraw, amount), 2)
    pick = np.floor(rng.uniform(size=n) * n_avail[customer]).astype(np.int64)
    terminal = term_lists[offsets[customer] + pick]
    keep = (seconds >= 0) & (seconds < DAY_S)
    customer, day, seconds, amount, terminal = customer[keep], day[keep], seconds[keep], amount[keep], terminal[keep]

    scenario = np.where(amount > 220, 1, 0).astype(np.int8)
    term_cover = _compromised(rng, nt, spec.compromised_terminals, spec.terminal_compromise_days, days)
    scenario[term_cover[terminal, day] > 0] = 2
    cust_cover = _compromised(rng, nc, spec.compromised_customers, spec.customer_compromise_days, days)
    windows = cust_cover[customer, day]
    hit = (windows > 0) & (rng.uniform(size=customer.size) < 1 - (2 / 3) ** windows)
    amount = np.where(hit, np.round(amount * 5, 2), amount)
    scenario[hit] = 3

    time_s = day.astype(np.int64) * DAY_S + seconds
    order = np.lexsort((terminal, customer, time_s))
    time_s, customer, terminal, amount, scenario, day = (
        a[order] for a in (time_s, customer, terminal, amount, scenario, day)
    )
    start_s = calendar.timegm(spec.start.timetuple())
    ts = (start_s + time_s) * 1_000_000
    return pa.table(
        {
            "transaction_id": pa.array(np.arange(time_s.size, dtype=np.int64)),
            "tx_datetime": pa.array(ts, type=pa.timestamp("us")),
            "customer_id": pa.array(customer.astype(np.int64)),
            "terminal_id": pa.array(terminal.astype(np.int64)),
            "tx_amount": pa.array(amount),
            "tx_time_seconds": pa.array(time_s),
            "tx_time_days": pa.array(day.astype(np.int64)),
            "tx_fraud": pa.array((scenario > 0).astype(np.int8)),
            "tx_fraud_scenario": pa.array(scenario),
        }
    )

