"""Micro-batch inference on the telemetry stream: anomaly scores, RUL, alerts, fleet status.

:class:`Inference` is the callback of the ``iot-inference`` processor job: each delivered
batch of decoded records is scored by the anomaly detector (stateful per device) and the RUL
model (rolling features over each device's recent readings), turned into alert observations
for the :class:`~laketown.apps.iot.alerts.AlertManager`, and summarized per device into
``<workspace>/iot/fleet_status.json`` for the console.
"""

from __future__ import annotations

import json
import os
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

TAIL = 25  # readings per device kept for the RUL model's rolling features
LOW_RUL = (60.0, 25.0)  # warning, critical (cycles)


def life_units(df: pd.DataFrame) -> pd.Series:
    """``device|n``: a device's n-th life (its usage counter ``cycle`` going down = renewed)."""
    renew = df.groupby("device_id", sort=False)["cycle"].diff().lt(0)
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
        self.alert_latency_ms: list[float] = []

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
        rul = self._rul(df)
        now_ms = int(time.time() * 1000)
        obs: list[Observation] = []
        df = df.assign(score=scores["score"].to_numpy(), anomaly=scores["anomaly"].to_numpy(),
                       kind=scores["kind"].to_numpy(), sensor=scores["sensor"].to_numpy(), rul_pred=rul)
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
            r = float(last["rul_pred"]) if not np.isnan(last["rul_pred"]) else None
            if r is not None:
                sev = "critical" if r < LOW_RUL[1] else "warning"
                obs.append(Observation(str(dev), "low_rul", r < LOW_RUL[0], ts, sev, r,
                                       f"predicted RUL {r:.0f} cycles"))
            self.status[str(dev)] = {
                "device_id": str(dev), "last_ts": ts, "rul": None if r is None else round(r, 1),
                "anomalies": len(flagged) + int(self.status.get(str(dev), {}).get("anomalies", 0)),
                "temp": None if pd.isna(last.get("temp")) else round(float(last["temp"]), 2),
            }
        self.alerts.observe(obs)
        self.batches += 1
        self._write_status()

    def _rul(self, df: pd.DataFrame) -> np.ndarray:
        if self.rul is None or "cycle" not in df:
            return np.full(len(df), np.nan)
        df = df.assign(__new=True)
        both = df if self.tail is None else pd.concat([self.tail.assign(__new=False), df], ignore_index=True)
        both = both.sort_values(["device_id", "ts"], kind="stable").reset_index(drop=True)
        both["unit"] = life_units(both)
        pred = self.rul.predict(both)
        self.tail = both.groupby("device_id", sort=False).tail(TAIL).drop(columns=["__new", "unit"])
        # df is sorted like both and its rows come after the tail's, so the new rows line up
        return pred[both["__new"].to_numpy(dtype=bool)]

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
