"""Segments by k-means with k chosen by silhouette, personas named from centroid traits, and a
churn propensity model; exported to ``curated.c360_segments`` for the engagement app.

Personas: each centroid is described by its z-scores on value (monetary), activity (recency)
and frequency, e.g. "High-value active regulars" or "Low-spend lapsed one-off buyers"; a
segment with many support tickets gets "needing support". Names follow from the data, so the
same rules name segments of any shop.

Churn: the label is "no purchase in the last ``window_days`` before the reference date",
learned from features computed at ``reference - window``; the model (logistic regression on
scaled log features) then scores every customer's current features.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from laketown.errors import LaketownError

CLUSTER_FEATURES = ["recency_days", "frequency", "monetary", "tickets"]
EXPORT_SCHEMA = pa.schema([
    ("customer_id", pa.string()), ("email", pa.string()), ("given_name", pa.string()), ("surname", pa.string()),
    ("segment", pa.string()), ("persona", pa.string()), ("churn_propensity", pa.float64()),
    ("exported_at", pa.timestamp("us", tz="UTC")),
])


@dataclass
class Segmentation:
    k: int
    labels: np.ndarray
    silhouettes: dict[int, float]
    personas: list[dict[str, Any]] = field(default_factory=list)


def _matrix(features: pa.Table) -> np.ndarray:
    cols = [np.log1p(np.clip(np.asarray(features.column(c).to_numpy(zero_copy_only=False), dtype=float), 0, None))
            for c in CLUSTER_FEATURES]
    return np.column_stack(cols)


def _name(z: dict[str, float], mean_frequency: float = 1.0) -> str:
    support = " needing support" if z["tickets"] > 0.8 else ""
    if mean_frequency < 0.5:
        return "Prospects who never bought" + support
    value = "High-value" if z["monetary"] > 0.5 else "Low-spend" if z["monetary"] < -0.5 else "Mid-value"
    activity = "lapsed" if z["recency_days"] > 0.5 else "active" if z["recency_days"] < -0.5 else "steady"
    freq = "regulars" if z["frequency"] > 0.5 else "one-off buyers" if z["frequency"] < -0.5 else "shoppers"
    return f"{value} {activity} {freq}{support}"


_QUALIFIERS = {"recency_days": ("more recent", "less recent"), "frequency": ("fewer orders", "more orders"),
               "monetary": ("lower spend", "higher spend"), "tickets": ("fewer tickets", "more tickets")}


def _distinct_names(zs: dict[int, dict[str, float]], freq: dict[int, float]) -> dict[int, str]:
    """A name per centroid; centroids sharing a name get the trait that sets each apart
    ("more recent", "higher spend", ...), then a number if that is not enough."""
    base = {c: _name(z, freq[c]) for c, z in zs.items()}
    out = dict(base)
    for name in set(base.values()):
        group = [c for c in base if base[c] == name]
        if len(group) < 2:
            continue
        for c in group:
            others = {f: np.mean([zs[o][f] for o in group if o != c]) for f in CLUSTER_FEATURES}
            f = max(CLUSTER_FEATURES, key=lambda k: abs(zs[c][k] - others[k]))
            out[c] = f"{name} ({_QUALIFIERS[f][int(zs[c][f] > others[f])]})"
    seen: dict[str, int] = {}
    for c in sorted(out):
        seen[out[c]] = seen.get(out[c], 0) + 1
        if seen[out[c]] > 1:
            out[c] = f"{out[c]} #{seen[out[c]]}"
    return out


def segment(features: pa.Table, k_range: range = range(2, 9), seed: int = 0, sample: int = 2000) -> Segmentation:
    """K-means over log RFM + tickets (standardized); k with the best silhouette (on a sample)."""
    from threadpoolctl import threadpool_limits

    # small matrices: one BLAS/OpenMP thread is 10x faster than many fighting over 2 cores
    with threadpool_limits(1):
        return _segment(features, k_range, seed, sample)


def _segment(features: pa.Table, k_range: range, seed: int, sample: int) -> Segmentation:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    n = features.num_rows
    if n < 3:
        raise LaketownError(f"segmentation needs at least 3 customers; got {n}")
    x = StandardScaler().fit_transform(_matrix(features))
    rng = np.random.default_rng(seed)
    idx = rng.choice(n, size=min(n, sample), replace=False)
    scores, fits = {}, {}
    xs = x[idx]  # fitted and scored on a sample, then every customer is assigned
    for k in k_range:
        if k >= len(xs):
            break
        km = KMeans(n_clusters=k, n_init=2, random_state=seed).fit(xs)
        if len(set(km.labels_)) < 2:
            continue
        scores[k] = float(silhouette_score(xs, km.labels_))
        fits[k] = km
    if not scores:
        raise LaketownError("every k gave a single cluster on this data; it has too little variety to segment")
    best = max(scores, key=scores.get)
    labels = fits[best].predict(x)
    clv = np.asarray(features.column("clv_12m").to_numpy(zero_copy_only=False), dtype=float)
    zs = {c: {f: float(x[labels == c, i].mean()) for i, f in enumerate(CLUSTER_FEATURES)}
          for c in range(best) if (labels == c).any()}
    raw = np.column_stack([np.asarray(features.column(c).to_numpy(zero_copy_only=False), dtype=float) for c in CLUSTER_FEATURES])
    names = _distinct_names(zs, {c: float(raw[labels == c, CLUSTER_FEATURES.index("frequency")].mean()) for c in zs})
    personas = []
    for c, name in names.items():
        member = labels == c
        personas.append({
            "segment": f"S{c}", "persona": name, "size": int(member.sum()), "share": round(float(member.mean()), 4),
            **{f"mean_{f}": round(float(raw[member, i].mean()), 2) for i, f in enumerate(CLUSTER_FEATURES)},
            "mean_clv_12m": round(float(clv[member].mean()), 2),
        })
    return Segmentation(best, labels, scores, personas)


def churn_model(ws: Any, window_days: int = 90, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """Train churn propensity on a time split of the orders; returns (predict, metrics)."""
    import duckdb
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from laketown.apps.customer360.features import rfm
    from laketown.apps.customer360.names import CLEAN_ORDERS, IDENTITIES

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.register("o", ws.lake.table(CLEAN_ORDERS).scan(columns=["record_id", "amount", "ordered_at"]))
    con.register("i", ws.lake.table(IDENTITIES).scan(columns=["record_id", "customer_id"]))
    tx = con.execute("SELECT i.customer_id, o.ordered_at AS ts, o.amount FROM o JOIN i USING (record_id)").to_arrow_table()
    con.close()
    if tx.num_rows == 0:
        raise LaketownError("no orders linked to customers: run ingest and resolve first")
    ref = max(tx.column("ts").to_pylist())
    cutoff = ref - dt.timedelta(days=window_days)
    past = rfm(tx.filter(pa.compute.less_equal(tx.column("ts"), pa.scalar(cutoff, tx.schema.field("ts").type))), as_of=cutoff)
    later = set(tx.filter(pa.compute.greater(tx.column("ts"), pa.scalar(cutoff, tx.schema.field("ts").type)))
                .column("customer_id").to_pylist())
    y = np.array([0 if c in later else 1 for c in past.column("customer_id").to_pylist()])
    x = _churn_x(past)
    metrics: dict[str, Any] = {"window_days": window_days, "customers": len(y), "churn_rate": round(float(y.mean()), 4)}
    if len(set(y)) < 2 or len(y) < 20:
        raise LaketownError(f"churn model needs both churned and active customers; got {len(y)} customers, churn rate {y.mean():.2f}")
    xtr, xte, ytr, yte, _, rte = train_test_split(x, y, past.column("recency_days").to_numpy(), test_size=0.25,
                                                    random_state=seed, stratify=y)
    model = LogisticRegression(max_iter=500).fit(xtr, ytr)
    metrics["auc_roc"] = round(float(roc_auc_score(yte, model.predict_proba(xte)[:, 1])), 4)
    metrics["baseline"] = {"name": "recency only", "auc_roc": round(float(roc_auc_score(yte, rte)), 4)}
    final = LogisticRegression(max_iter=500).fit(x, y)
    return (lambda feats: final.predict_proba(_churn_x(feats))[:, 1]), metrics


def _churn_x(feats: pa.Table) -> np.ndarray:
    cols = ["recency_days", "frequency", "monetary", "avg_order_value", "tenure_days", "orders_per_year"]
    return np.column_stack([np.log1p(np.clip(np.asarray(feats.column(c).to_numpy(zero_copy_only=False), dtype=float), 0, None))
                            for c in cols])


def export(ws: Any, features: pa.Table, seg: Segmentation, propensity: np.ndarray) -> int:
    """Write ``curated.c360_segments`` (replacing the previous export) and the personas."""
    from laketown.apps.customer360.names import CUSTOMERS, FEATURES, PERSONAS, SEGMENTS

    golden = {r["customer_id"]: r for r in ws.lake.table(CUSTOMERS).scan(
        columns=["customer_id", "email", "given_name", "surname"]).to_pylist()}
    names = {p["segment"]: p["persona"] for p in seg.personas}
    now = dt.datetime.now(dt.UTC)
    ids = features.column("customer_id").to_pylist()
    rows = pa.table({
        "customer_id": ids,
        "email": [golden.get(c, {}).get("email") for c in ids],
        "given_name": [golden.get(c, {}).get("given_name") for c in ids],
        "surname": [golden.get(c, {}).get("surname") for c in ids],
        "segment": [f"S{label}" for label in seg.labels],
        "persona": [names[f"S{label}"] for label in seg.labels],
        "churn_propensity": pa.array(np.round(propensity, 4), pa.float64()),
        "exported_at": [now] * len(ids),
    }, schema=EXPORT_SCHEMA)
    ws.lake.create_table(SEGMENTS, schema=EXPORT_SCHEMA, exist_ok=True).overwrite(rows)
    feats = features.append_column("segment", rows.column("segment")).append_column(
        "churn_propensity", rows.column("churn_propensity"))
    ws.lake.write(FEATURES, feats, mode="overwrite")
    ws.lake.write(PERSONAS, pa.Table.from_pylist(seg.personas), mode="overwrite")
    return rows.num_rows


def run(ws: Any, seed: int = 0) -> dict[str, Any]:
    """Features, segments, personas, churn propensity, export. Returns the metrics."""
    from laketown.apps.customer360.features import customer_features

    feats = customer_features(ws)
    seg = segment(feats, seed=seed)
    try:
        predict, churn = churn_model(ws, seed=seed)
        propensity = predict(feats)
    except LaketownError as exc:
        churn, propensity = {"error": str(exc)}, np.full(feats.num_rows, np.nan)
    exported = export(ws, feats, seg, propensity)
    return {"customers": feats.num_rows, "k": seg.k, "silhouette": {str(k): round(v, 4) for k, v in seg.silhouettes.items()},
            "personas": [{"persona": p["persona"], "size": p["size"]} for p in seg.personas], "churn": churn,
            "curated.c360_segments": exported}
