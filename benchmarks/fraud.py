"""Fraud detection: model quality on the handbook's simulator and on IEEE-CIS, and the signed
scoring API's latency and throughput, each against a baseline measured in the same run.

* simulator, handbook protocol (train 7 days from 2018-07-25, 7-day delay, test 7 days, known
  compromised cards left out of the test): AUC ROC, average precision, card precision@100 of
  Laketown's model (its features + tuned LightGBM + calibration) vs a plain LightGBM (library
  defaults) on the handbook's 15 features;
* IEEE-CIS, time-ordered 80/20 (default run, or ``--ieee``): Laketown vs a plain LightGBM on the
  raw columns; test labels never reach a feature;
* API: a real uvicorn server on 127.0.0.1 and a free port, signed requests of one transaction at
  200 requests/s (p50/p99), then saturation throughput with one and with 100 transactions per
  request, vs a bare FastAPI endpoint calling the same booster on precomputed features.

Prints JSON lines; the last is the summary. ``--quick`` (under a minute) simulates 2,000
customers over 80 days and runs the API phases for a few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request

import laketown
from laketown.apps.fraud.feed import http_post
from laketown.apps.fraud.benchmarking import summary
from laketown.apps.fraud.data import IEEE_TABLE, SIMULATED_TABLE, prepare_ieee, write_simulation
from laketown.apps.fraud.evaluation import handbook_split, score_metrics
from laketown.apps.fraud.features import FeatureSet, handbook_features, laketown_features
from laketown.apps.fraud.models import (
    ANOMALY,
    CLASSIFIER,
    LAKETOWN_PARAMS,
    PLAIN_PARAMS,
    matrix,
    train_anomaly,
    train_classifier,
)
from laketown.apps.fraud.simulator import SimulationSpec

HANDBOOK_START = date(2018, 7, 25)


def emit(obj: dict) -> None:
    print(json.dumps(obj, default=str), flush=True)


# -- model quality ------------------------------------------------------------------------------
def simulator_quality(ws, quick: bool) -> tuple[dict, dict, list[dict], object]:
    spec = SimulationSpec(customers=2_000, terminals=4_000, days=80) if quick else SimulationSpec()
    t0 = time.perf_counter()
    data = write_simulation(ws, spec)
    sim_s = time.perf_counter() - t0
    emit({"step": "simulate", "rows": data.num_rows, "fraud_rate": round(float(data["tx_fraud"].to_numpy().mean()), 5),
          "wall_s": round(sim_s, 2)})
    fs = FeatureSet(laketown_features())
    t0 = time.perf_counter()
    feats = fs.compute_offline(ws, SIMULATED_TABLE)
    emit({"step": "features_sql", "rows": feats.num_rows, "features": len(fs.names), "wall_s": round(time.perf_counter() - t0, 2)})
    day = feats["tx_time_days"].to_numpy()
    card = feats["customer_id"].to_numpy()
    y = feats["tx_fraud"].to_numpy().astype(np.int8)
    start = 45 if quick else (HANDBOOK_START - spec.start).days
    split = handbook_split(day, card, y, start)
    hb = [f.name for f in handbook_features()]

    def run(names, params, calibrate, name):
        X = matrix(feats, names)
        t = time.perf_counter()
        clf = train_classifier(X[split.train], y[split.train], names, params, calibrate=calibrate)
        train_s = time.perf_counter() - t
        score = clf.probability(X[split.test])
        out = {"model": name, **score_metrics(y[split.test], score, card[split.test], day[split.test]),
               "train_s": round(train_s, 2), "features": len(names)}
        emit({"step": "simulator_model", **out})
        return out, clf, X

    base, _, _ = run(hb, PLAIN_PARAMS, False, "plain-lightgbm-15-handbook-features")
    lt, clf, X = run(fs.names, LAKETOWN_PARAMS, True, "laketown-lightgbm-calibrated")
    variants = [dict(lt), run(hb, LAKETOWN_PARAMS, True, "laketown-params-15-handbook-features")[0]]
    if not quick:
        variants.append(run(fs.names, PLAIN_PARAMS, False, "plain-params-laketown-features")[0])
    # register what the API serves: this classifier and an anomaly model on the same rows
    from laketown.ml.registry import ModelRegistry

    clf.feature_set = fs
    ano = train_anomaly(X[split.train], fs.names)
    lt["anomaly_auc_roc"] = score_metrics(y[split.test], ano.score(X[split.test]))["auc_roc"]
    reg = ModelRegistry(ws)
    snap = ws.table(SIMULATED_TABLE).stats()["snapshot_id"]
    reg.log_model(CLASSIFIER, clf, clf.params, {k: v for k, v in lt.items() if isinstance(v, float)}, fs.names, snap)
    reg.log_model(ANOMALY, ano, {"n_estimators": 100}, {"auc_roc": lt["anomaly_auc_roc"]}, fs.names, snap)
    return lt, base, variants, (feats, fs, clf)


def ieee_quality(ws) -> tuple[dict, dict]:
    from laketown.apps.fraud.benchmarking import compare_time_split

    t0 = time.perf_counter()
    loaded = prepare_ieee(ws)
    ws.lake.write(IEEE_TABLE, loaded.table, mode="overwrite")
    emit({"step": "ieee_load", "rows": loaded.table.num_rows, "wall_s": round(time.perf_counter() - t0, 2)})
    out = compare_time_split(ws, IEEE_TABLE, loaded.feature_set(), loaded.raw_feature_set(), "ieee-cis")
    emit({"step": "ieee", **out})
    return out["laketown"], out["baseline"]


# -- API ----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(kind: str, workspace: str, port: int, secret: str) -> None:
    """Run in a child process: the Laketown router, or a bare endpoint on the same booster."""
    import uvicorn

    ws = laketown.connect(workspace)
    app = FastAPI()
    if kind == "laketown":
        from laketown.apps.fraud.api import create_router
        from laketown.apps.fraud.scoring import scorer_for

        router = create_router(ws, scorer=scorer_for(ws), keys={"bench": secret})
        router.service.cases.writer.start().result()  # the case writer process is up before load
        app.include_router(router)
    else:
        from laketown.apps.fraud.scoring import load_models

        booster = load_models(ws).classifier.booster

        @app.post("/score")
        async def score(request: Request) -> dict:
            rows = np.asarray((await request.json())["features"], dtype=np.float64)
            return {"probability": booster.predict(rows, num_threads=1).tolist()}

    @app.get("/ping")
    async def ping() -> dict:
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_server(kind: str, workspace: str, secret: str) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--workspace", workspace,
                             "--port", str(port), "--secret", secret], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/ping", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{kind} server did not answer within 180 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Client:
    """Builds request bodies and headers for one side (signed Laketown or bare)."""

    def __init__(self, kind: str, base: str, secret: str, txs: list[dict], feats: np.ndarray):
        self.kind, self.base, self.secret, self.txs, self.feats = kind, base, secret, txs, feats
        self.query = ""
        self.local = threading.local()
        self.counter = iter(range(10**12))
        self.lock = threading.Lock()

    def post(self, path: str, body: bytes, headers: dict) -> int:
        """POST over this thread's keep-alive connection (the feed's standard-library client:
        the load generator shares the machine, so it should cost as little CPU as possible)."""
        post = getattr(self.local, "post", None)
        if post is None:
            post = self.local.post = http_post(self.base)
        return post(path, body, headers)

    def request(self, batch: int = 1, since: float | None = None) -> tuple[float, bool]:
        """One request; the latency counts from ``since`` (its scheduled time) when given."""
        from laketown.apps.fraud.signing import sign

        with self.lock:
            i = next(self.counter)
        idx = [(i * batch + j) % len(self.txs) for j in range(batch)]
        if self.kind == "laketown":
            txs = [{**self.txs[k], "transaction_id": f"bench-{i}-{j}"} for j, k in enumerate(idx)]
            body = json.dumps(txs[0] if batch == 1 else {"transactions": txs}).encode()
            path = "/api/fraud/score"
            headers = {**sign("POST", path + self.query, body, "bench", self.secret), "content-type": "application/json"}
            path += self.query
        else:
            body = json.dumps({"features": np.nan_to_num(self.feats[idx], nan=-1.0).tolist()}).encode()
            path = "/score"
            headers = {"content-type": "application/json"}
        t = time.perf_counter() if since is None else since
        status = self.post(path, body, headers)
        return (time.perf_counter() - t) * 1000, status == 200


def fixed_rate(client: Client, rate: float, seconds: float) -> dict:
    """Open loop: one request every 1/rate s for ``seconds``; latency of each from the time it
    was due (so a stalled server is not hidden by requests waiting to be sent)."""
    n = int(rate * seconds)
    results: list[tuple[float, bool]] = []
    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = []
        start = time.perf_counter()
        for k in range(n):
            due = start + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(client.request, 1, due))
        results = [f.result() for f in futures]
        wall = time.perf_counter() - start
    lat = np.array([r[0] for r in results])
    return {"requests": n, "errors": int(sum(not r[1] for r in results)), "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2), "achieved_rps": round(n / wall, 1)}


def saturation(client: Client, seconds: float, batch: int, workers: int = 8) -> dict:
    """Closed loop: ``workers`` clients send back to back for ``seconds``."""
    done = [0] * workers
    errors = [0] * workers
    stop = time.perf_counter() + seconds

    def loop(w: int) -> None:
        while time.perf_counter() < stop:
            _, ok = client.request(batch)
            done[w] += 1
            errors[w] += not ok

    t0 = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"requests_per_s": round(sum(done) / wall, 1), "records_per_s": round(sum(done) * batch / wall, 1),
            "errors": sum(errors), "batch": batch}


def api_benchmark(ws, model_bundle, quick: bool) -> tuple[dict, dict]:
    feats, fs, _ = model_bundle
    last_day = int(feats["tx_time_days"].to_numpy().max())
    rows = feats.filter(feats["tx_time_days"].to_numpy() == last_day).slice(0, 2000)
    X = matrix(rows, fs.names)
    txs = []
    for r in rows.select(["transaction_id", "tx_datetime", "tx_amount", "customer_id", "terminal_id"]).to_pylist():
        txs.append({"transaction_id": str(r["transaction_id"]), "timestamp": (r["tx_datetime"] + timedelta(days=1)).isoformat(),
                    "amount": r["tx_amount"], "customer_id": r["customer_id"], "terminal_id": r["terminal_id"]})
    secret = secrets.token_urlsafe(24)
    rate_s, sat_s = (4, 2) if quick else (15, 5)
    out = {}
    for kind in ("laketown", "bare"):
        proc, base = start_server(kind, str(ws.path), secret)
        try:
            client = Client(kind, base, secret, txs, X)
            for _ in range(50):
                client.request()  # warm up connections and code paths
            rate = fixed_rate(client, 200, rate_s)
            single = saturation(client, sat_s, 1)
            batch = saturation(client, sat_s, 100, workers=4)
            if kind == "laketown":  # the same load with SHAP reasons only for flagged transactions
                client.query = "?reasons=flagged"
                flagged = fixed_rate(client, 200, rate_s)
                emit({"step": "api", "server": kind, "reasons": "flagged", **flagged})
        finally:
            stop_server(proc)
        out[kind] = {"p50_ms": rate["p50_ms"], "p99_ms": rate["p99_ms"], "errors_at_200rps": rate["errors"],
                     **({"p99_ms_reasons_flagged": flagged["p99_ms"]} if kind == "laketown" else {}),
                     "achieved_rps": rate["achieved_rps"], "single_requests_per_s": single["requests_per_s"],
                     "batch_records_per_s": batch["records_per_s"]}
        emit({"step": "api", "server": kind, **rate, "saturation_single": single, "saturation_batch100": batch})
    return out["laketown"], out["bare"]


def lake_latency(samples: int = 10) -> dict:
    """Time from a signed score request's 200 to the transaction being queryable in
    curated.fraud_scored_transactions, through `laketown serve` (API -> stream -> sink -> lake)."""
    import json as _json
    import urllib.request
    from datetime import UTC, datetime

    from laketown.apps.fraud.data import SIMULATED_TABLE, write_simulation
    from laketown.apps.fraud.feed import recent_pairs
    from laketown.apps.fraud.features import FeatureSet, laketown_features
    from laketown.apps.fraud.signing import load_keys, sign
    from laketown.apps.fraud.simulator import SimulationSpec
    from laketown.apps.fraud.training import train

    with tempfile.TemporaryDirectory(prefix="laketown-bench-fraud-lake-") as tmp:
        ws = laketown.connect(Path(tmp) / "ws")
        write_simulation(ws, SimulationSpec(customers=300, terminals=600, days=40, seed=3))
        train(ws, SIMULATED_TABLE, FeatureSet(laketown_features()))
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "laketown", "-w", str(ws.path), "serve", "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(240):
                try:
                    urllib.request.urlopen(base + "/health", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.25)
            keys = load_keys(ws)
            key_id = "default" if "default" in keys else next(iter(keys))
            post, pairs, seen = http_post(base), recent_pairs(ws), []
            for i in range(samples):
                pick = pairs[i % len(pairs)]
                tx = {"transaction_id": f"lat-{i}", "timestamp": datetime.now(UTC).isoformat(),
                      "amount": float(pick["tx_amount"]), "customer_id": pick["customer_id"],
                      "terminal_id": pick["terminal_id"]}
                body = _json.dumps(tx).encode()
                assert post("/api/fraud/score", body, {**sign("POST", "/api/fraud/score", body, key_id, keys[key_id]),
                                                       "content-type": "application/json"}) == 200
                t0 = time.perf_counter()
                while time.perf_counter() - t0 < 30:
                    try:
                        n = ws.sql("SELECT count(*) AS n FROM curated.fraud_scored_transactions "
                                   f"WHERE transaction_id = 'lat-{i}'").column("n")[0].as_py()
                    except Exception:  # noqa: BLE001 - the table may not have a snapshot yet
                        n = 0
                    if n:
                        break
                    time.sleep(0.05)
                seen.append((time.perf_counter() - t0) * 1000)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            ws.close()
    seen.sort()
    out = {"lake_visible_p50_ms": round(seen[len(seen) // 2]), "lake_visible_max_ms": round(seen[-1])}
    emit({"step": "lake_latency", "samples": samples, **out})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="reduced run, under a minute")
    ap.add_argument("--ieee", action="store_true", help="include IEEE-CIS in a --quick run")
    ap.add_argument("--no-ieee", action="store_true", help="skip IEEE-CIS in the default run")
    ap.add_argument("--no-api", action="store_true", help="skip the API phases")
    ap.add_argument("--lake", action="store_true", help="include the API -> lake latency in a --quick run")
    ap.add_argument("--workspace", help="workspace folder (default: a temporary one)")
    ap.add_argument("--serve", choices=["laketown", "bare"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--secret", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.workspace, args.port, args.secret)
        return
    started = time.perf_counter()
    tmp = None if args.workspace else tempfile.TemporaryDirectory(prefix="laketown-bench-fraud-")
    ws = laketown.connect(Path(args.workspace or tmp.name) / "ws")
    cache = Path(os.environ.get("LAKETOWN_BENCH_CACHE", ""))
    if cache.is_dir():  # reuse a fetched IEEE-CIS wheel across temporary workspaces
        for wheel in cache.glob("*.whl"):
            target = ws.cache_dir / wheel.name
            if not target.exists():
                target.symlink_to(wheel)
    try:
        lt, base, variants, bundle = simulator_quality(ws, args.quick)
        protocol = "handbook-train7-delay7-test7"
        if (not args.quick and not args.no_ieee) or args.ieee:
            ilt, ibase = ieee_quality(ws)
            for key in ("auc_roc", "average_precision"):
                lt[f"ieee_{key}"], base[f"ieee_{key}"] = ilt[key], ibase[key]
            protocol += "; ieee-cis time-ordered-80-20"
        if not args.no_api:
            alt, abase = api_benchmark(ws, bundle, args.quick)
            lt.update(alt)
            base.update({k: v for k, v in abase.items()})
            protocol += "; api 200 signed req/s, one transaction each"
        if not args.quick or args.lake:
            lt.update(lake_latency())
            protocol += "; scored -> queryable in the lake through laketown serve"
        base["name"] = "plain-lightgbm (simulator: 15 handbook features; ieee: raw columns; api: bare fastapi + same booster)"
        out = summary("handbook-simulator" + ("-quick" if args.quick else "") + (" + ieee-cis" if "ieee" in protocol else ""),
                      protocol, lt, base, variants)
        out["wall_s"] = round(time.perf_counter() - started, 1)
        emit(out)
    finally:
        ws.close()
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
