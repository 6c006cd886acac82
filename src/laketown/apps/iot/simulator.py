"""A deterministic fleet of machines that degrade to failure, with injected anomalies.

Each machine runs in cycles (one reading per cycle, ``interval_ms`` apart on the simulated
clock). Its health falls from 1 to 0 over a life drawn per machine, sensors drift with wear
and with three operating settings, plus noise. Anomalies (spike, drift, stuck, dropout) are
injected on single sensors and recorded as ground truth, as is the remaining useful life (RUL,
in cycles). Everything is vectorized over machines: thousands of devices per tick are cheap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laketown.errors import ConfigError

SENSORS = ("temp", "pressure", "vibration", "rpm", "current", "flow")
SETTINGS = ("setting1", "setting2", "setting3")
ANOMALY_KINDS = ("spike", "drift", "stuck", "dropout")
# sensor base level, sensitivity to wear, noise std, sensitivity to setting1
_BASE = np.array([60.0, 30.0, 0.5, 1500.0, 12.0, 100.0])
_WEAR = np.array([25.0, -6.0, 1.5, -120.0, 4.0, -25.0])
_NOISE = np.array([0.6, 0.3, 0.03, 8.0, 0.15, 1.0])
_SETTING = np.array([4.0, 2.0, 0.05, 60.0, 0.8, 6.0])


@dataclass
class Fleet:
    """``machines`` simulated devices; ``seed`` fixes everything (lives, noise, anomalies).

    ``anomaly_rate`` is the chance per machine per cycle that an anomaly starts; ``start_ms``
    is the simulated time of cycle 0; a machine that reaches its end of life is replaced by a
    new one (its cycle count restarts), so the fleet streams for ever."""

    machines: int = 10
    seed: int = 7
    interval_ms: int = 1000
    start_ms: int = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    life_cycles: tuple[int, int] = (150, 350)
    anomaly_rate: float = 0.004
    prefix: str = "m"
    cycle: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.machines < 1:
            raise ConfigError(f"a fleet needs at least one machine, got machines={self.machines}")
        lo, hi = self.life_cycles
        if not 1 < lo <= hi:
            raise ConfigError(f"life_cycles must be (low, high) with 1 < low <= high, got {self.life_cycles}")
        self.rng = np.random.default_rng(self.seed)
        n = self.machines
        self.ids = np.array([f"{self.prefix}{i:05d}" for i in range(n)])
        self.life = self.rng.integers(lo, hi + 1, n)
        self.cycle = self.rng.integers(0, lo // 2, n)  # machines are at different ages at start
        self.offset = self.rng.normal(0, 1, (n, len(SENSORS))) * _NOISE * 3
        self.tick = 0
        # anomaly state per machine: kind index (-1 none), sensor, steps left, magnitude, stuck value
        self._kind = np.full(n, -1)
        self._sensor = np.zeros(n, dtype=int)
        self._left = np.zeros(n, dtype=int)
        self._mag = np.zeros(n)
        self._stuck = np.zeros(n)
        self._age = np.zeros(n, dtype=int)

    @property
    def now_ms(self) -> int:
        """Simulated time of the next tick."""
        return self.start_ms + self.tick * self.interval_ms

    def step(self) -> pa.Table:
        """One reading per machine: ``device_id, ts, cycle, settings..., sensors..., rul,
        anomaly, anomaly_sensor`` (``anomaly`` is empty when the reading is normal)."""
        n, rng = self.machines, self.rng
        ts = self.now_ms
        frac = np.clip(self.cycle / self.life, 0, 1)
        wear = frac ** 2.2
        settings = np.stack([rng.choice([0.0, 0.5, 1.0], n), rng.uniform(0, 1, n), np.full(n, 100.0)], axis=1)
        values = (_BASE + self.offset + wear[:, None] * _WEAR + settings[:, :1] * _SETTING
                  + rng.normal(0, 1, (n, len(SENSORS))) * _NOISE)
        anomaly, anomaly_sensor = self._inject(values)
        rul = self.life - self.cycle
        table = pa.table({
            "device_id": pa.array(self.ids),
            "ts": pa.array(np.full(n, ts, dtype=np.int64)),
            "cycle": pa.array(self.cycle.astype(np.int64)),
            **{name: pa.array(settings[:, i]) for i, name in enumerate(SETTINGS)},
            **{name: pa.array(values[:, i], mask=np.isnan(values[:, i])) for i, name in enumerate(SENSORS)},
            "rul": pa.array(rul.astype(np.int64)),
            "anomaly": pa.array(anomaly),
            "anomaly_sensor": pa.array(anomaly_sensor),
        })
        self.tick += 1
        self.cycle = self.cycle + 1
        failed = self.cycle > self.life
        if failed.any():  # replaced by a new machine of the same id
            self.cycle[failed] = 0
            self.life[failed] = rng.integers(self.life_cycles[0], self.life_cycles[1] + 1, int(failed.sum()))
            self._kind[failed] = -1
        return table

    def _inject(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, rng = self.machines, self.rng
        start = (self._kind < 0) & (rng.random(n) < self.anomaly_rate)
        idx = np.flatnonzero(start)
        if idx.size:
            kinds = rng.integers(0, len(ANOMALY_KINDS), idx.size)
            self._kind[idx] = kinds
            self._sensor[idx] = rng.integers(0, len(SENSORS), idx.size)
            self._left[idx] = np.where(kinds == 0, 1, rng.integers(8, 25, idx.size))
            self._mag[idx] = rng.choice([-1.0, 1.0], idx.size) * rng.uniform(6, 12, idx.size)
            self._age[idx] = 0
            self._stuck[idx] = values[idx, self._sensor[idx]]
        active = np.flatnonzero(self._kind >= 0)
        anomaly = np.full(n, "", dtype=object)
        sensor = np.full(n, "", dtype=object)
        for kind_i, kind in enumerate(ANOMALY_KINDS):
            rows = active[self._kind[active] == kind_i]
            if not rows.size:
                continue
            cols = self._sensor[rows]
            scale = _NOISE[cols]
            if kind == "spike":
                values[rows, cols] += self._mag[rows] * scale * 1.5
            elif kind == "drift":
                values[rows, cols] += self._mag[rows] * scale * 0.25 * (self._age[rows] + 1)
            elif kind == "stuck":
                values[rows, cols] = self._stuck[rows]
            else:
                values[rows, cols] = np.nan
            anomaly[rows] = kind
            sensor[rows] = np.array(SENSORS)[cols]
        self._age[active] += 1
        self._left[active] -= 1
        self._kind[active[self._left[active] <= 0]] = -1
        return anomaly.astype(str), sensor.astype(str)

    def run(self, ticks: int) -> pa.Table:
        """``ticks`` readings per machine as one table (in time order)."""
        return pa.concat_tables([self.step() for _ in range(ticks)])

    def run_to_failure(self, max_ticks: int | None = None) -> pa.Table:
        """Readings until every machine has failed at least once (for RUL training)."""
        ticks = max_ticks or int(self.life.max()) + 1
        return self.run(ticks)

    def realtime(self, speedup: float = 60.0):
        """Yield ticks paced by the wall clock, ``speedup`` simulated seconds per second."""
        t0 = time.monotonic()
        while True:
            yield self.step()
            due = t0 + self.tick * self.interval_ms / 1000 / speedup
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)


def payloads(readings: pa.Table) -> list[dict]:
    """The messages a device sends for ``readings``: measurements and settings, without the
    ground-truth columns (RUL, anomaly labels); a missing reading (NaN) is sent as null."""
    t = readings.drop_columns(["rul", "anomaly", "anomaly_sensor"])
    for i, f in enumerate(t.schema):
        if pa.types.is_floating(f.type):
            col = t.column(i)
            t = t.set_column(i, f, pc.if_else(pc.is_nan(col), pa.scalar(None, f.type), col))
    return t.to_pylist()
