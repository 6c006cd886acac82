"""The IoT step of ``laketown demo`` (and ``laketown iot simulate``): a simulated fleet through
broker -> edge agents -> ingest -> streams -> windows -> lake -> models -> alerts."""

from __future__ import annotations

import threading
import time
from typing import Any

from laketown.apps.iot.broker import broker_kind


def run_fleet(ws: Any, machines: int = 12, ticks: int = 600, broker: str | None = None, seed: int = 7,
              live_s: float = 0.0, speedup: float = 10.0, progress: Any = None, task: Any = None) -> dict[str, Any]:
    """Simulate, process and measure; with ``live_s`` keep streaming in real time afterwards."""
    from laketown.apps.iot.flow import IotFlow, train_models, training_history

    def step() -> None:
        if progress is not None and task is not None:
            progress.advance(task)

    kind = broker or broker_kind(ws)
    t0 = time.perf_counter()
    det, rul, train = train_models(ws, training_history(60, seed + 1000, 900))
    step()
    with IotFlow(ws, kind, machines=machines, seed=seed) as flow:
        flow.use_models(det, rul)
        step()
        t1 = time.perf_counter()
        flow.simulate(ticks)
        ingest_s = time.perf_counter() - t1
        step()
        processed = flow.process_until_idle()
        step()
        if live_s > 0:
            flow.start_jobs()
            _stream_live(flow, live_s, speedup)
        stats = flow.ingest.stats
        return {
            "broker": kind, "devices": machines, "records": stats.records, "messages": stats.messages,
            "duplicates_dropped": stats.duplicates, "errors": stats.errors, "rule_records": stats.rule_records,
            "ingest_records_per_s": round(stats.records / max(ingest_s, 1e-9), 1),
            "raw.iot_telemetry": processed["raw_rows"],
            "curated.iot_metrics_1m": ws.table("curated.iot_metrics_1m").count(),
            "curated.iot_metrics_5m": ws.table("curated.iot_metrics_5m").count(),
            "alert_events": flow.alerts.events_sent, "open_alerts": len(flow.alerts.open_alerts()),
            "models": train, "wall_s": round(time.perf_counter() - t0, 2),
        }


def _stream_live(flow: Any, seconds: float, speedup: float) -> None:
    ticks = flow.fleet.realtime(speedup)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        flow.publish(next(ticks))


def demo_step(ws: Any, progress: Any) -> dict[str, Any]:
    """A 12-machine fleet for 10 simulated minutes through the whole flow (the live fleet of
    the served demo is :func:`live_fleet`)."""
    task = progress.add_task("iot", total=4)
    return run_fleet(ws, machines=12, ticks=600, progress=progress, task=task)


def live_fleet(ws: Any, base_url: str, stop: threading.Event) -> None:
    """The demo's live traffic while the console is served: the fleet keeps streaming (one
    reading per device per second) through broker, ingest, windows and alerts."""
    status = start_background_fleet(ws)
    if "streaming" not in status:
        import logging

        logging.getLogger(__name__).warning("IoT live fleet did not start: %s", status)


def start_background_fleet(ws: Any, machines: int = 12, speedup: float = 1.0) -> str:
    """Keep a fleet streaming through the whole flow in a daemon thread (for the live console)."""
    from laketown.apps.iot.flow import IotFlow
    from laketown.apps.iot.models import load_latest

    ready = threading.Event()
    info: dict[str, Any] = {}

    def run() -> None:
        try:
            flow = IotFlow(ws, broker_kind(ws), machines=machines, seed=11)
            flow.fleet.start_ms = int(time.time() * 1000) // 1000 * 1000
            det, rul = load_latest(ws, "iot-anomaly"), load_latest(ws, "iot-rul")
            if det is None or rul is None:
                flow.train(history_machines=30, ticks=600)
            else:
                flow.use_models(det, rul)
            flow.start_jobs()
        except Exception as exc:  # noqa: BLE001 - reported in the demo summary instead of killing the demo
            info["error"] = f"{type(exc).__name__}: {exc}"
            ready.set()
            return
        ready.set()
        ticks = flow.fleet.realtime(speedup)
        while True:
            flow.publish(next(ticks))

    threading.Thread(target=run, name="iot-live-fleet", daemon=True).start()
    ready.wait(120)
    return info.get("error", f"{machines} devices streaming, 1 reading/s each")
