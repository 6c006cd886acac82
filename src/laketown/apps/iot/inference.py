"""Micro-batch inference: anomaly scores on the telemetry stream, RUL on window results,
alerts, fleet status.

:class:`Inference` is the callback of the ``iot-inference`` processor job: each delivered
batch of decoded readings is scored by the anomaly detector (stateful per device). Its
:meth:`Inference.on_windows` is a callback of the 1-minute window job: each delivery of window
results (one row per device and window) is scored by the RUL model, whose rolling features run
over each device's recent windows. Both turn into alert observations for the
:class:`~laketown.apps.iot.alerts.AlertManager` and into the per-device summary in
``<workspace>/iot/fleet_status.json`` for the console.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from laketown.apps.iot.alerts import AlertManager, Observation
from laketown.apps.iot.ingest import TELEMETRY_STREAM
from laketown.apps.iot.models import AnomalyDetector, RulModel
from laketown.streams.processor import Job

TAIL = 25  # windows per device kept for the RUL model's rolling features
LOW_RUL = (60.0, 25.0)  # warning, critical (cycles)
RUL_WINDOW = "1m"  # the window job whose results the RUL model scores
RUL_TIME = "cycle_last"  # the usage counter at the window's end


def rul_feature_columns() -> list[str]:
    from laketown.apps.iot.simulator import SENSORS

    return [f"{s}_mean" for s in SENSORS]


def life_units(df: pd.DataFrame, counter: str = "cycle") -> pd.Series:
    """``device|n``: a device's n-th life (its usage counter going down = renewed)."""
    renew = df.groupby("device_id", sort=False)[counter].diff().lt(0)
    n = renew.groupby(df["device_id"], sort=False).cumsum()
    return df["device_id"].astype(str) + "|" + n.astype(str)


def status_path(ws: Any) -> Path:
    return Path(ws.path) / "iot" / "fleet_status.json"


class Inference:
    """Scores micro-batches and raises alerts (see the module docstring)."""

    def __init__(self, ws: Any, detector: AnomalyDetector, rul: RulModel | None, alerts: AlertManager):
        self.ws, self.detector, self.rul, self.alerts = ws, detector, rul, alerts
        self.tail: pd.DataFrame | None = None
        self.status: dict[str, dict[str, Any]] = {}
        self.batches = 0
        self.window_batches = 0
        self.alert_latency_ms: list[float] = []
        self._lock = threading.Lock()  # the two callbacks run on two job threads

    def job(self) -> Job:
        from laketown.apps.iot.simulator import SENSORS, SETTINGS

        schema = pa.schema([("device_id", pa.string()), ("ts", pa.int64()), ("cycle", pa.int64()),
                            *[(c, pa.float64()) for c in (*SETTINGS, *SENSORS)]])
        return (Job("iot-inference", source=TELEMETRY_STREAM)
                .decode_json(time_field="ts", schema=schema).to_callback(self))

    def __call__(self, batch: pa.Table) -> None:
        if not batch.num_rows:
            return
        cols = [c for c in batch.column_names if not c.startswith("__")]
        df = batch.select(cols).to_pandas().sort_values(["device_id", "ts"], kind="stable").reset_index(drop=True)
        scores = self.detector.score(df, "device_id")
        now_ms = int(time.time() * 1000)
        obs: list[Observation] = []
        df = df.assign(score=scores["score"].to_numpy(), anomaly=scores["anomaly"].to_numpy(),
                       kind=scores["kind"].to_numpy(), sensor=scores["sensor"].to_numpy())
        for dev, g in df.groupby("device_id", sort=False):
            flagged = g[g["anomaly"]]
            last = g.iloc[-1]
            ts = int(last["ts"])
            if len(flagged):
                worst = flagged.loc[flagged["score"].idxmax()]
                sev = "critical" if len(flagged) >= 3 else "warning"
                obs.append(Observation(str(dev), "anomaly", True, ts, sev, float(worst["score"]),
                                       f"{worst['kind']} on {worst['sensor']}"))
                if "sent_ms" in g:
                    self.alert_latency_ms.append(now_ms - float(flagged["sent_ms"].min()))
            else:
                obs.append(Observation(str(dev), "anomaly", False, ts))
            with self._lock:
                st = self.status.setdefault(str(dev), {"device_id": str(dev), "rul": None, "anomalies": 0})
                st.update(last_ts=ts, anomalies=len(flagged) + int(st.get("anomalies", 0)),
                          temp=None if pd.isna(last.get("temp")) else round(float(last["temp"]), 2))
        with self._lock:
            self.alerts.observe(obs)
            self.batches += 1
            self._write_status()

    def on_windows(self, results: pa.Table) -> None:
        """RUL for each device from its newest window results (the window job's callback)."""
        if self.rul is None or not results.num_rows or RUL_TIME not in results.column_names:
            return
        cols = ["device_id", "window_end", RUL_TIME, *rul_feature_columns()]
        df = results.select([c for c in cols if c in results.column_names]).to_pandas()
        df["window_end"] = pd.to_datetime(df["window_end"], utc=True).astype("int64") // 1_000_000
        pred = self._rul(df)
        obs: list[Observation] = []
        with self._lock:
            for dev, r in pred.items():
                sev = "critical" if r < LOW_RUL[1] else "warning"
                obs.append(Observation(str(dev), "low_rul", r < LOW_RUL[0], int(df["window_end"].max()), sev, r,
                                       f"predicted RUL {r:.0f} cycles"))
                st = self.status.setdefault(str(dev), {"device_id": str(dev), "anomalies": 0, "temp": None,
                                                       "last_ts": None})
                st["rul"] = round(float(r), 1)
            self.alerts.observe(obs)
            self.window_batches += 1
            self._write_status()

    def _rul(self, df: pd.DataFrame) -> dict[str, float]:
        """The prediction at each device's newest window; an updated window (late readings)
        replaces the earlier result of the same window."""
        both = df if self.tail is None else pd.concat([self.tail, df], ignore_index=True)
        both = (both.drop_duplicates(["device_id", "window_end"], keep="last")
                .sort_values(["device_id", "window_end"], kind="stable").reset_index(drop=True))
        both["unit"] = life_units(both, RUL_TIME)
        pred = self.rul.predict(both)
        self.tail = both.groupby("device_id", sort=False).tail(TAIL).drop(columns=["unit"])
        last = both.groupby("device_id", sort=False).tail(1).index
        fresh = set(df["device_id"].astype(str))
        return {str(both.at[i, "device_id"]): float(pred[i]) for i in last
                if str(both.at[i, "device_id"]) in fresh and not np.isnan(pred[i])}

    def _write_status(self) -> None:
        open_by_dev: dict[str, str] = {}
        for a in self.alerts.open_alerts():
            if a["device_id"] not in open_by_dev or a["severity"] == "critical":
                open_by_dev[a["device_id"]] = a["severity"]
        devices = []
        for dev, s in sorted(self.status.items()):
            devices.append({**s, "health": {"critical": "critical", "warning": "warning"}.get(open_by_dev.get(dev, ""), "ok")})
        path = status_path(self.ws)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"updated_ms": int(time.time() * 1000), "devices": devices,
                                   "alerts": self.alerts.open_alerts()}, default=str))
        os.replace(tmp, path)
