"""Quality of a clustering against ground truth: pairwise and whole-cluster precision,
recall and F1, counted without listing pairs (so a million records cost one group-by)."""

from __future__ import annotations

import duckdb
import pyarrow as pa


def _prf(tp: float, predicted: float, actual: float) -> dict[str, float]:
    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 5), "recall": round(recall, 5), "f1": round(f1, 5)}


def cluster_quality(record_ids: pa.Array, predicted: pa.Array, truth: pa.Array) -> dict[str, dict[str, float]]:
    """``pairwise``: pairs of records put together vs truly together; ``cluster``: clusters
    reproduced exactly (same member set) over predicted and over true clusters."""
    con = duckdb.connect()
    con.register("t", pa.table({"r": record_ids, "c": predicted, "p": truth}))
    tp, pred, act = con.execute(
        """
        SELECT (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM t GROUP BY c, p)),
               (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM t GROUP BY c)),
               (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM t GROUP BY p))
        """
    ).fetchone()
    exact, n_pred, n_true = con.execute(
        """
        WITH cs AS (SELECT c, count(*) n, count(DISTINCT p) np, any_value(p) p FROM t GROUP BY c),
             ps AS (SELECT p, count(*) n FROM t GROUP BY p)
        SELECT (SELECT count(*) FROM cs JOIN ps USING (p) WHERE cs.np = 1 AND cs.n = ps.n),
               (SELECT count(*) FROM cs), (SELECT count(*) FROM ps)
        """
    ).fetchone()
    con.close()
    cluster = _prf(exact, n_pred, n_true)
    return {"pairwise": _prf(float(tp or 0), float(pred or 0), float(act or 0)), "cluster": cluster}


def pair_quality(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, float]:
    """Precision, recall and F1 of predicted id pairs against true id pairs (order ignored)."""
    norm = lambda pairs: {tuple(sorted(p)) for p in pairs}
    pred, true = norm(predicted), norm(truth)
    return _prf(len(pred & true), len(pred), len(true))
