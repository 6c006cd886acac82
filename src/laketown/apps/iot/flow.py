"""The whole IoT flow in one object: registry -> broker -> edge agents -> ingest -> streams ->
raw delivery, window jobs, inference and alerts. Used by the demo, ``laketown iot simulate``,
the benchmark and the end-to-end tests; the broker kind is the only thing that changes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from laketown.apps.iot import processing
from laketown.apps.iot.alerts import AlertManager, stream_sink, table_sink, webhook_sink
from laketown.apps.iot.assets import ASSETS_TABLE, AssetTree, fleet_tree
from laketown.apps.iot.broker import Broker, open_broker
from laketown.apps.iot.edge import EdgeAgent
from laketown.apps.iot.inference import (
    RUL_TIME,
    RUL_WINDOW,
    Inference,
    life_units,
    rul_feature_columns,
)
from laketown.apps.iot.ingest import Ingest
from laketown.apps.iot.models import AnomalyDetector, RulModel, register
from laketown.apps.iot.registry import DeviceRegistry
from laketown.apps.iot.rules import Rule
from laketown.apps.iot.simulator import SENSORS, SETTINGS, Fleet, payloads
from laketown.streams.delivery import processor_table_writer
from laketown.streams.processor import Runner
from laketown.streams.processor.windows import parse_duration

TRAINING_TABLE = "curated.iot_training"
DEFAULT_RULES = [Rule("hot", "SELECT device_id, ts, temp FROM 'devices/+/telemetry' WHERE temp > 85", "iot_hot")]


def training_history(machines: int, seed: int, ticks: int = 900) -> pa.Table:
    """A labelled history of a fleet (maintenance logs give RUL; inspections the anomalies)."""
    return Fleet(machines=machines, seed=seed).run(ticks)


def train_models(ws: Any, history: pa.Table | None = None) -> tuple[AnomalyDetector, RulModel, dict[str, Any]]:
    """Fit the detector and the RUL model on ``curated.iot_training`` (written from ``history``
    first when given) and register both."""
    if history is not None:
        ws.lake.write(TRAINING_TABLE, history, mode="overwrite")
    df = ws.table(TRAINING_TABLE).to_arrow().to_pandas().sort_values(["device_id", "ts"]).reset_index(drop=True)
    t0 = time.perf_counter()
    det = AnomalyDetector(list(SENSORS), list(SETTINGS), counter="cycle").fit(df, key="device_id", time="ts")
    rul = train_rul_on_windows(df)
    metrics = {"rows": len(df), "train_s": round(time.perf_counter() - t0, 2)}
    register(ws, "iot-anomaly", det, metrics)
    register(ws, "iot-rul", rul, metrics)
    return det, rul, metrics


def train_rul_on_windows(readings: pd.DataFrame) -> RulModel:
    """The RUL model scores the 1-minute window results: train it on the same windows of the
    labelled history (one row per device and minute, target = RUL at the window's end)."""
    w = processing.windows_of(readings, parse_duration(RUL_WINDOW, "RUL window"))
    w["unit"] = life_units(w, RUL_TIME)
    return RulModel(rul_feature_columns(), "unit", RUL_TIME).fit(w, "rul")


class IotFlow:
    """A running fleet pipeline on ``ws`` with broker ``broker_kind``."""

    def __init__(self, ws: Any, broker_kind: str = "amqtt", machines: int = 12, seed: int = 7,
                 interval_ms: int = 1000, batch_records: int = 50, webhook: str | None = None,
                 broker_options: dict[str, Any] | None = None):
        self.ws = ws
        self.root = Path(ws.path) / "iot"
        self.fleet = Fleet(machines=machines, seed=seed, interval_ms=interval_ms)
        self.registry = DeviceRegistry.for_workspace(ws)
        self.tree: AssetTree = fleet_tree(self.fleet.ids.tolist(), SENSORS)
        ws.lake.write(ASSETS_TABLE, self.tree.as_table(), mode="overwrite")
        self.registry.create_type("machine", {"sensors": len(SENSORS)})
        secrets: dict[str, str] = {}
        for line in {a.parent for a in self.tree.assets.values() if a.model}:
            self.registry.create_group(line)
            ids = [a.name for a in self.tree.assets.values() if a.parent == line]
            secrets.update(self.registry.register_many(ids, thing_type="machine", thing_group=line))
        self.broker: Broker = open_broker(broker_kind, self.registry, self.root / f"broker-{broker_kind}",
                                          **(broker_options or {})).start()
        # a persistent session: the broker queues device messages while ingest reconnects
        self.ingest = Ingest(ws.streams, self.broker.host, self.broker.port, self.broker.service_credentials,
                             rules=DEFAULT_RULES, state_path=str(self.root / "ingest-seq.json"),
                             clean_session=False).start()
        if not self.ingest.wait_ready():
            raise TimeoutError(f"ingest could not subscribe on the {broker_kind} broker")
        self.agents = {
            dev: EdgeAgent(dev, secrets[dev], self.broker.host, self.broker.port, self.root / "edge" / f"{dev}.db",
                           batch_records=batch_records).start()
            for dev in self.fleet.ids.tolist()
        }
        self.submitted = 0
        self.window_results: list[pa.Table] = []
        sinks = [stream_sink(ws.streams), table_sink(ws.lake)] + ([webhook_sink(webhook)] if webhook else [])
        self.alerts = AlertManager(clear_after=3, sinks=sinks)
        self.inference: Inference | None = None
        self._runners: list[tuple[Runner, threading.Thread]] = []

    # -- devices -----------------------------------------------------------------------------
    def publish(self, readings: pa.Table, extra: dict[str, Any] | None = None) -> int:
        """Hand each device's readings to its edge agent."""
        by_device: dict[str, list[dict[str, Any]]] = {}
        for rec in payloads(readings):
            dev = rec.pop("device_id")
            if extra:
                rec.update(extra)
            by_device.setdefault(str(dev), []).append(rec)
        n = sum(self.agents[dev].submit(recs) for dev, recs in by_device.items())
        self.submitted += n
        return n

    def simulate(self, ticks: int, chunk: int = 20) -> pa.Table:
        """``ticks`` readings per device, handed over ``chunk`` ticks at a time, each chunk
        ingested before the next (devices stay within the jobs' out-of-orderness)."""
        parts = []
        for start in range(0, ticks, chunk):
            readings = self.fleet.run(min(chunk, ticks - start))
            self.publish(readings)
            self.wait_ingested()
            parts.append(readings)
        return pa.concat_tables(parts)

    def wait_ingested(self, timeout_s: float = 120.0) -> bool:
        """Until every submitted record is acknowledged by the broker and produced to the stream."""
        deadline = time.monotonic() + timeout_s
        for agent in self.agents.values():
            agent.flush(max(0.1, deadline - time.monotonic()))
        while self.ingest.stats.records < self.submitted and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.ingest.stats.records >= self.submitted

    # -- processing ---------------------------------------------------------------------------
    def train(self, history_machines: int = 60, ticks: int = 900) -> dict[str, Any]:
        det, rul, metrics = train_models(self.ws, training_history(history_machines, self.fleet.seed + 1000, ticks))
        self.use_models(det, rul)
        return metrics

    def use_models(self, detector: AnomalyDetector, rul: RulModel) -> None:
        """Score with models trained elsewhere (training before the flow starts is faster:
        the booster's threads do not compete with the agents and the broker)."""
        self.inference = Inference(self.ws, detector, rul, self.alerts)

    def jobs(self, windows: tuple[str, ...] = ("1m", "5m")) -> list[Any]:
        out = [processing.window_job(self.ws, w, on_results=self._window_callback(w, first=w == windows[0]))
               for w in windows]
        if self.inference is not None:
            out.append(self.inference.job())
        return out

    def _window_callback(self, size: str, first: bool) -> Any:
        """Window results go to the live charts (first window size) and to the RUL model."""
        rul = self.inference.on_windows if self.inference is not None and size == RUL_WINDOW else None
        if not first and rul is None:
            return None

        def deliver(results: pa.Table) -> None:
            if first:
                self.window_results.append(results)
            if rul is not None:
                rul(results)

        return deliver

    def process_until_idle(self, windows: tuple[str, ...] = ("1m", "5m")) -> dict[str, Any]:
        """Run the delivery sink and every job over what the streams hold, then stop (bounded input)."""
        sink = processing.raw_sink(self.ws, buffer_seconds=0.5)
        raw = sink.run(idle_exit_s=1.0).records_written
        sink.close()
        writer = processor_table_writer(self.ws.lake)
        stats = {}
        for job in self.jobs(windows):
            r = Runner(job, self.ws.streams, processing.checkpoint_dir(self.ws), table_writer=writer,
                       checkpoint_every_s=1.0)
            stats[job.name] = r.run(max_idle_polls=3, flush_on_stop=job.window_spec is not None).__dict__
        return {"raw_rows": raw, "jobs": stats}

    def start_jobs(self, windows: tuple[str, ...] = ("1m", "5m"), checkpoint_every_s: float = 0.5) -> None:
        """Run every job in a background thread until :meth:`close` (live mode)."""
        writer = processor_table_writer(self.ws.lake)
        for job in self.jobs(windows):
            r = Runner(job, self.ws.streams, processing.checkpoint_dir(self.ws), table_writer=writer,
                       checkpoint_every_s=checkpoint_every_s)
            t = threading.Thread(target=r.run, name=f"job-{job.name}", daemon=True)
            t.start()
            self._runners.append((r, t))

    def close(self) -> None:
        for r, _ in self._runners:
            r.stop()
        for _, t in self._runners:
            t.join(timeout=30)
        for agent in self.agents.values():
            agent.close()
        self.ingest.close()
        self.broker.stop()
        self.registry.close()

    def __enter__(self) -> IotFlow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
