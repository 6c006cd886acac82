"""Predictive maintenance: a streaming anomaly detector and a remaining-useful-life model.

:class:`AnomalyDetector` keeps, per device and sensor, a level that follows slow wear (an
exponentially weighted mean of the reading with the operating settings' effect removed). A
reading is anomalous when it is far from that level in units of the sensor's noise (spike,
drift), when it repeats the previous reading exactly (a stuck sensor: real readings carry
noise), or when it is missing (dropout). Settings effects and noise levels are learned from
lake data (:meth:`AnomalyDetector.fit`); flagged readings do not move the level. Scoring is
vectorized across devices: a micro-batch is processed in rounds, one reading per device each.
A renewed machine (maintenance, replacement) jumps back to its early levels on most sensors
at once, where an injected fault touches one: a reading in which at least half of the sensors
are far from the level, each in the direction of the device's first level (and that far from
it), starts a new level instead of being flagged. A usage counter (``counter``, e.g. cycles)
going down marks a renewal too, when the data has one.

:class:`RulModel` predicts remaining useful life from per-unit rolling features (the readings,
their rolling means over 5 and 20 steps, an exponentially weighted mean and the steps seen)
with gradient boosting; optionally on a piecewise-linear target (capped at ``cap``, the usual
C-MAPSS practice: early in life, wear is not yet visible).
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from laketown.errors import ConfigError


def numeric_columns(df: pd.DataFrame, exclude: Sequence[str]) -> list[str]:
    return [c for c in df.columns if c not in exclude and pd.api.types.is_numeric_dtype(df[c])
            and not pd.api.types.is_bool_dtype(df[c])]


def _require(df: pd.DataFrame, cols: Sequence[str | None]) -> None:
    missing = [c for c in cols if c is not None and c not in df.columns]
    if missing:
        raise ConfigError(f"column {missing[0]!r} is not in the data; columns: {', '.join(map(str, df.columns))}")


# -- anomaly detection ------------------------------------------------------------------------------

@dataclass
class AnomalyDetector:
    """Streaming per-device detector (see the module docstring). ``threshold`` is in noise
    units; ``alpha`` is how fast the level follows the readings."""

    sensors: list[str]
    settings: list[str] = field(default_factory=list)
    threshold: float = 5.0
    alpha: float = 0.3
    reset_after: int = 30  # readings in a row far from the level: a new normal (e.g. after maintenance)
    counter: str | None = None  # a usage counter (e.g. cycles); when it goes down the machine was renewed
    coef: np.ndarray | None = None  # (settings + 1, sensors)
    sigma: np.ndarray | None = None  # (sensors,)
    state: dict[str, Any] = field(default_factory=dict, repr=False)

    def fit(self, df: pd.DataFrame, key: str | None = None, time: str | None = None) -> AnomalyDetector:
        """Learn each sensor's dependence on the settings and its noise (robust: anomalies
        in the training data barely move a median)."""
        _require(df, [*self.sensors, *self.settings, key, time])
        df = df.sort_values([c for c in (key, time) if c]) if (key or time) else df
        x = df[self.sensors].to_numpy(float)
        s = np.column_stack([df[self.settings].to_numpy(float), np.ones(len(df))]) if self.settings else np.ones((len(df), 1))
        ok = ~np.isnan(x).any(axis=1)
        self.coef, *_ = np.linalg.lstsq(s[ok], x[ok], rcond=None)
        r = x - s @ self.coef
        groups = df[key].to_numpy() if key else np.zeros(len(df))
        same = np.r_[False, groups[1:] == groups[:-1]]
        d = np.diff(r, axis=0, prepend=np.nan)[same]
        d = d[~np.isnan(d).any(axis=1)]
        mad = np.median(np.abs(d - np.median(d, axis=0)), axis=0)
        self.sigma = np.maximum(1.4826 * mad / np.sqrt(2), 1e-9)
        self.state = {}
        return self

    def _residual(self, df: pd.DataFrame) -> np.ndarray:
        x = df[self.sensors].to_numpy(float)
        s = np.column_stack([df[self.settings].to_numpy(float), np.ones(len(df))]) if self.settings else np.ones((len(df), 1))
        return x - s @ self.coef

    def score(self, df: pd.DataFrame, key: str) -> pd.DataFrame:
        """Score a micro-batch (rows in time order per device); keeps state across calls.
        Returns ``score`` (largest |z|), ``anomaly`` (bool), ``kind`` and ``sensor`` per row."""
        if self.coef is None:
            raise ConfigError("the anomaly detector is not trained; call fit() on lake data first")
        n, k = len(df), len(self.sensors)
        raw = df[self.sensors].to_numpy(float)
        res = self._residual(df)
        keys = df[key].astype(str).to_numpy()
        index = self.state.setdefault("index", {})
        for dev in pd.unique(keys):
            if dev not in index:
                index[dev] = len(index)
        dev_i = np.array([index[d] for d in keys], dtype=np.int64)
        size = len(index)
        level = _grow(self.state.get("level"), size, k)
        prev = _grow(self.state.get("prev"), size, k)
        run = np.nan_to_num(_grow(self.state.get("run"), size, k), nan=0.0)
        last_count = _grow(self.state.get("count"), size, 1)[:, 0]
        base = _grow(self.state.get("base"), size, k)
        need = max(2, -(-k // 2))
        counts = df[self.counter].to_numpy(float) if self.counter else None
        z_out = np.zeros(n)
        flag = np.zeros(n, dtype=bool)
        kind = np.full(n, "", dtype=object)
        sensor = np.full(n, "", dtype=object)
        rounds = pd.Series(dev_i).groupby(dev_i).cumcount().to_numpy()
        names = np.array(self.sensors, dtype=object)
        for r in range(int(rounds.max()) + 1 if n else 0):
            rows = np.flatnonzero(rounds == r)
            d = dev_i[rows]
            x, e = raw[rows], res[rows]
            if counts is not None:
                renewed = counts[rows] < last_count[d]
                level[d[renewed]] = np.nan
                last_count[d] = counts[rows]
            lv, pv, bv = level[d], prev[d], base[d]
            z = np.abs(e - lv) / self.sigma
            with np.errstate(invalid="ignore"):
                back = ((z > self.threshold) & (np.sign(e - lv) == np.sign(bv - lv))
                        & (np.abs(bv - lv) > self.threshold * self.sigma))
            renew = back.sum(axis=1) >= need
            if renew.any():
                lv = np.where(renew[:, None], np.nan, lv)
                bv = np.where(renew[:, None], e, bv)
            base[d] = np.where(np.isnan(bv), e, bv)
            z = np.where(np.isnan(lv), 0.0, z)
            missing = np.isnan(x)
            stuck = (x == pv) & ~missing
            far = np.nan_to_num(z, nan=0.0) > self.threshold
            bad = far | stuck | missing
            any_bad = bad.any(axis=1)
            zmax = np.nan_to_num(z, nan=0.0).max(axis=1)
            z_out[rows] = np.where(missing.any(axis=1) | stuck.any(axis=1), np.maximum(zmax, self.threshold * 2), zmax)
            flag[rows] = any_bad
            which = np.argmax(np.where(bad, np.nan_to_num(z, nan=np.inf) + 1, 0), axis=1)
            kind[rows] = np.where(~any_bad, "", np.where(missing[np.arange(len(rows)), which], "dropout",
                                   np.where(stuck[np.arange(len(rows)), which], "stuck", "deviation")))
            sensor[rows] = np.where(any_bad, names[which], "")
            # the level follows good readings only; the first reading of a device starts it
            run[d] = np.where(far, run[d] + 1, 0)
            reset = run[d] >= self.reset_after
            upd = ~bad & ~np.isnan(e)
            new = np.where(np.isnan(lv) | reset, e, lv + self.alpha * (e - lv))
            level[d] = np.where(upd | np.isnan(lv) | (reset & ~np.isnan(e)), new, lv)
            run[d] = np.where(reset, 0, run[d])
            prev[d] = np.where(missing, pv, x)
        self.state.update(level=level, prev=prev, run=run, count=last_count[:, None], base=base)
        return pd.DataFrame({"score": z_out, "anomaly": flag, "kind": kind.astype(str), "sensor": sensor.astype(str)},
                            index=df.index)


def _grow(a: np.ndarray | None, rows: int, cols: int) -> np.ndarray:
    if a is None:
        return np.full((rows, cols), np.nan)
    if a.shape[0] >= rows:
        return a
    return np.vstack([a, np.full((rows - a.shape[0], cols), np.nan)])


def rolling_zscore(df: pd.DataFrame, key: str | None, sensors: Sequence[str], window: int = 30,
                   threshold: float = 3.0) -> np.ndarray:
    """The baseline: a reading is anomalous when any sensor is more than ``threshold`` standard
    deviations from the mean of the device's previous ``window`` readings (or is missing)."""
    g = df.groupby(key, sort=False) if key else None
    flags = np.zeros(len(df), dtype=bool)
    for s in sensors:
        x = df[s].astype(float)
        roll = (g[s] if g is not None else x).rolling(window, min_periods=5)
        mean = roll.mean().shift(1) if g is None else roll.mean().reset_index(level=0, drop=True).groupby(df[key]).shift(1)
        std = roll.std().shift(1) if g is None else roll.std().reset_index(level=0, drop=True).groupby(df[key]).shift(1)
        z = ((x - mean) / std.replace(0, np.nan)).abs()
        flags |= (z > threshold).to_numpy() | x.isna().to_numpy()
    return flags


def prf(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    tp = int((truth & pred).sum())
    p = tp / max(int(pred.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4)}


def evaluate_anomaly(df: pd.DataFrame, time: str, label: str, key: str | None = None,
                     settings: Sequence[str] = (), counter: str | None = None,
                     train_fraction: float = 0.3) -> dict[str, Any]:
    """Detector vs rolling z-score on labelled data: the detector learns from the first
    ``train_fraction`` of time, both are scored on the rest (labels are used only to score)."""
    _require(df, [time, label, key, counter, *settings])
    df = df.sort_values([time] + ([key] if key else [])).reset_index(drop=True)
    truth_all = _truthy(df[label])
    sensors = numeric_columns(df, [time, label, key or "", *settings, "rul", "cycle", "seq", "received_ms"])
    if not sensors:
        raise ConfigError("no numeric sensor columns to score besides the time, label and key columns")
    cut = df[time].quantile(train_fraction)
    train, test = df[df[time] <= cut], df[df[time] > cut]
    truth = truth_all[test.index.to_numpy()]
    group = key or "__all"
    if key is None:
        train, test = train.assign(__all="all"), test.assign(__all="all")
    t0 = _now()
    det = AnomalyDetector(sensors, list(settings), counter=counter).fit(train, key=group, time=time)
    det.score(train, group)  # brings each device's state up to the start of the test period
    pred = det.score(test, group)["anomaly"].to_numpy()
    ours = {"model": "ewm-level-stuck-dropout", **prf(truth, pred), "train_s": round(_now() - t0, 3)}
    full = df
    base_flags = rolling_zscore(full, key, sensors)[test.index.to_numpy()]
    base = {"name": "rolling-zscore-30", **prf(truth, base_flags)}
    return {"laketown": ours, "baseline": base,
            "ratio": {"f1": round(ours["f1"] / base["f1"], 3) if base["f1"] else None},
            "rows": len(test), "anomalies": int(truth.sum())}


def _truthy(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.fillna(0).astype(bool).to_numpy()
    s = col.fillna("").astype(str).str.strip().str.lower()
    return ~s.isin(["", "0", "false", "no", "normal", "none"]).to_numpy()


def _now() -> float:
    return time.perf_counter()


# -- remaining useful life -----------------------------------------------------------------------------

def rul_features(df: pd.DataFrame, unit: str, time: str, sensors: Sequence[str]) -> pd.DataFrame:
    """Per-unit rolling features (rows must be sorted by unit, then time)."""
    g = df.groupby(unit, sort=False)
    out = {time: df[time].astype(float), "steps": g.cumcount().astype(float)}
    for s in sensors:
        x = df[s].astype(float)
        out[s] = x
        gs = x.groupby(df[unit].to_numpy(), sort=False)
        out[f"{s}_r5"] = gs.rolling(5, min_periods=1).mean().reset_index(level=0, drop=True)
        out[f"{s}_r20"] = gs.rolling(20, min_periods=1).mean().reset_index(level=0, drop=True)
        out[f"{s}_ewm"] = gs.ewm(alpha=0.1).mean().reset_index(level=0, drop=True)
    return pd.DataFrame(out, index=df.index)


@dataclass
class RulModel:
    sensors: list[str]
    unit: str
    time: str
    cap: float | None = None
    model: Any = None

    def fit(self, df: pd.DataFrame, target: str) -> RulModel:
        from sklearn.ensemble import HistGradientBoostingRegressor

        df = df.sort_values([self.unit, self.time])
        x = rul_features(df, self.unit, self.time, self.sensors)
        y = df[target].to_numpy(float)
        y = y if self.cap is None else np.minimum(y, self.cap)
        self.model = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, max_leaf_nodes=31,
                                                   min_samples_leaf=40, random_state=0).fit(x, y)
        return self

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predictions in the order of ``df``'s rows."""
        if self.model is None:
            raise ConfigError("the RUL model is not trained; call fit() first")
        order = df.sort_values([self.unit, self.time]).index
        x = rul_features(df.loc[order], self.unit, self.time, self.sensors)
        pred = pd.Series(np.maximum(self.model.predict(x), 0.0), index=order)
        return pred.loc[df.index].to_numpy()


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y, float) - np.asarray(p, float)) ** 2)))


def evaluate_rul(train: pd.DataFrame, test: pd.DataFrame, unit: str, time: str, target: str,
                 cap: float = 125.0) -> dict[str, Any]:
    """Gradient boosting on rolling features vs linear regression on the raw columns, both
    scored on ``test``. Two protocols: ``rmse`` against the true RUL (models trained on it), and
    ``rmse_capped`` against the RUL capped at ``cap`` (models trained on, and clipped to, the
    capped target: the C-MAPSS convention of the published figures)."""
    from sklearn.linear_model import LinearRegression

    _require(train, [unit, time, target])
    sensors = numeric_columns(train, [unit, time, target])
    if not sensors:
        raise ConfigError("no numeric sensor columns besides the unit, time and target columns")
    y = test[target].to_numpy(float)
    cols = [time, *sensors]
    fill = train[cols].mean()  # the baseline cannot take missing readings: column means stand in
    x_train, x_test = train[cols].fillna(fill).to_numpy(float), test[cols].fillna(fill).to_numpy(float)
    ours: dict[str, Any] = {"model": "hist-gradient-boosting-rolling"}
    base: dict[str, Any] = {"name": "linear-regression"}
    model = None
    for metric, c in (("rmse", None), ("rmse_capped", cap)):
        t0 = _now()
        m = RulModel(sensors, unit, time, c).fit(train, target)
        train_s = _now() - t0
        truth = y if c is None else np.minimum(y, c)
        ours[metric] = round(rmse(truth, m.predict(test)), 3)
        t_train = train[target].to_numpy(float) if c is None else np.minimum(train[target].to_numpy(float), c)
        lin = LinearRegression().fit(x_train, t_train)
        pred = np.clip(lin.predict(x_test), 0, c)
        base[metric] = round(rmse(truth, pred), 3)
        if c is None:
            model, ours["train_s"] = m, round(train_s, 3)
    return {"laketown": ours, "baseline": base,
            "ratio": {k: round(ours[k] / base[k], 3) for k in ("rmse", "rmse_capped")},
            "units": {"train": int(train[unit].nunique()), "test": int(test[unit].nunique())}, "model_object": model}


def split_units(df: pd.DataFrame, unit: str, test_fraction: float = 0.2, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    units = np.array(sorted(df[unit].unique(), key=str))
    rng = np.random.default_rng(seed)
    test_units = set(rng.choice(units, max(1, round(len(units) * test_fraction)), replace=False).tolist())
    mask = df[unit].isin(test_units)
    return df[~mask], df[mask]


# -- registration (until the platform's model registry lands) ------------------------------------------

def register(ws: Any, name: str, model: Any, metrics: dict[str, Any]) -> Path:
    """Store a trained model and its metrics under ``<workspace>/iot/models/<name>/`` (the hook
    the platform's MLflow registry will take over)."""
    folder = Path(ws.path) / "iot" / "models" / name
    folder.mkdir(parents=True, exist_ok=True)
    version = len(list(folder.glob("v*.pkl"))) + 1
    with open(folder / f"v{version}.pkl", "wb") as f:
        pickle.dump(model, f)
    (folder / f"v{version}.json").write_text(json.dumps({"version": version, "metrics": metrics}, default=str))
    return folder / f"v{version}.pkl"


def load_latest(ws: Any, name: str) -> Any | None:
    folder = Path(ws.path) / "iot" / "models" / name
    versions = sorted(folder.glob("v*.pkl"), key=lambda p: int(p.stem[1:])) if folder.exists() else []
    if not versions:
        return None
    with open(versions[-1], "rb") as f:
        return pickle.load(f)
