"""Asset models and hierarchies (IoT SiteWise): attributes, measurements, transforms, metrics.

A metric is an aggregate of a measurement or transform over tumbling windows of 1 minute to
1 day, aligned to UTC, with SiteWise's boundaries: a window covers ``(start, end]`` (start
exclusive, end inclusive) and its value is stamped at ``end``. A reading exactly on a boundary
belongs to the window that *ends* there. Assets form a tree (site -> line -> machine); a
metric of a parent is computed over the readings of every machine below it (exact, not an
average of averages).

Transforms are expressions over the measurements in the rules language
(:func:`laketown.apps.iot.rules.parse_expression`), e.g. ``temp * 9 / 5 + 32``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from laketown.apps.iot.rules import Node, evaluate, parse_expression
from laketown.errors import ConfigError
from laketown.streams.processor.windows import parse_duration

MIN_WINDOW_MS, MAX_WINDOW_MS = 60_000, 86_400_000
AGGREGATES = ("avg", "min", "max", "sum", "count", "stddev")
ASSETS_TABLE = "curated.iot_assets"


@dataclass(frozen=True)
class Metric:
    """``agg`` of ``source`` (a measurement or transform) over tumbling ``window`` windows."""

    agg: str
    source: str
    window: str = "1m"

    @property
    def window_ms(self) -> int:
        return sitewise_window_ms(self.window)


def sitewise_window_ms(window: str | int) -> int:
    ms = parse_duration(window, "metric window")
    if not MIN_WINDOW_MS <= ms <= MAX_WINDOW_MS or MAX_WINDOW_MS % ms:
        raise ConfigError(
            f"metric window {window!r} is not allowed: use 1 minute to 1 day, dividing a day evenly "
            "(e.g. 1m, 5m, 15m, 1h, 1d), so windows align to UTC")
    return ms


def window_end(ts_ms: np.ndarray, window_ms: int) -> np.ndarray:
    """The end of the ``(start, end]`` window holding each timestamp (UTC-aligned)."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    return -((-ts) // window_ms) * window_ms  # ceiling division: a reading on a boundary ends that window


@dataclass
class AssetModel:
    name: str
    measurements: tuple[str, ...]
    attributes: dict[str, Any] = field(default_factory=dict)  # defaults
    transforms: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    _parsed: dict[str, Node] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        known = set(self.measurements)
        for name, expr in self.transforms.items():
            node = parse_expression(expr)
            unknown = node.columns() - known
            if unknown:
                raise ConfigError(f"transform {name!r} of model {self.name!r} uses unknown "
                                  f"{min(unknown)!r}; measurements: {', '.join(self.measurements)}")
            self._parsed[name] = node
            known.add(name)
        for name, metric in self.metrics.items():
            if metric.agg not in AGGREGATES:
                raise ConfigError(f"metric {name!r}: unknown aggregate {metric.agg!r}; use one of {', '.join(AGGREGATES)}")
            if metric.source not in known:
                raise ConfigError(f"metric {name!r}: {metric.source!r} is neither a measurement nor a transform "
                                  f"of model {self.name!r}")
            metric.window_ms  # noqa: B018 - validates the window now

    def with_transforms(self, readings: pa.Table) -> pa.Table:
        """``readings`` plus one column per transform."""
        for name, node in self._parsed.items():
            value = evaluate(node, readings)
            if isinstance(value, pa.Scalar):
                value = pa.array([value.as_py()] * readings.num_rows)
            readings = readings.append_column(name, value)
        return readings


@dataclass
class Asset:
    name: str
    model: str | None = None  # None: a grouping asset (site, line) with the children's metrics
    parent: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


class AssetTree:
    """Asset models and assets; machines are the leaves that carry readings (asset name = device id)."""

    def __init__(self, models: Iterable[AssetModel] = (), assets: Iterable[Asset] = ()):
        self.models = {m.name: m for m in models}
        self.assets: dict[str, Asset] = {}
        for a in assets:
            self.add(a)

    def add(self, asset: Asset) -> None:
        if asset.model is not None and asset.model not in self.models:
            raise ConfigError(f"asset {asset.name!r}: unknown model {asset.model!r}; models: {', '.join(self.models)}")
        if asset.parent is not None and asset.parent not in self.assets:
            raise ConfigError(f"asset {asset.name!r}: parent {asset.parent!r} does not exist; add parents first")
        self.assets[asset.name] = asset

    def children(self, name: str) -> list[str]:
        return [a.name for a in self.assets.values() if a.parent == name]

    def leaves_under(self, name: str) -> list[str]:
        kids = self.children(name)
        return [name] if not kids else [leaf for k in kids for leaf in self.leaves_under(k)]

    def path(self, name: str) -> list[str]:
        out = []
        node: str | None = name
        while node is not None:
            out.append(node)
            node = self.assets[node].parent
        return out[::-1]

    def as_table(self) -> pa.Table:
        """One row per machine with its line and site (the lookup table of the processing jobs)."""
        rows = []
        for a in self.assets.values():
            if a.model is None:
                continue
            path = self.path(a.name)
            rows.append({"device_id": a.name, "model": a.model, "line": path[-2] if len(path) > 1 else None,
                         "site": path[0] if len(path) > 2 else None, **{k: str(v) for k, v in a.attributes.items()}})
        return pa.Table.from_pylist(rows)

    def as_dict(self) -> list[dict[str, Any]]:
        def node(name: str) -> dict[str, Any]:
            a = self.assets[name]
            return {"name": name, "model": a.model, "attributes": a.attributes,
                    "children": [node(c) for c in self.children(name)]}
        return [node(a.name) for a in self.assets.values() if a.parent is None]

    def metrics(self, readings: pa.Table, asset: str, metric_names: Iterable[str] | None = None,
                ts_column: str = "ts", device_column: str = "device_id") -> pa.Table:
        """Metric values of ``asset`` (a machine, or a line/site over every machine below it):
        ``metric, window_end (ms), value``, one row per metric and window with readings."""
        leaves = self.leaves_under(asset)
        leaf_models = {self.assets[leaf].model for leaf in leaves}
        if len(leaf_models) != 1:
            raise ConfigError(f"asset {asset!r} has machines of several models {sorted(map(str, leaf_models))}; "
                              "metrics aggregate one model's measurements")
        model = self.models[leaf_models.pop()]
        devices = readings.column(device_column).to_numpy(zero_copy_only=False)
        rows = readings.filter(pa.array(np.isin(devices, leaves)))
        rows = model.with_transforms(rows)
        ts = rows.column(ts_column).to_numpy(zero_copy_only=False).astype(np.int64)
        out: list[dict[str, Any]] = []
        for name in metric_names or model.metrics:
            m = model.metrics[name]
            ends = window_end(ts, m.window_ms)
            vals = rows.column(m.source).to_numpy(zero_copy_only=False).astype(float)
            for end in np.unique(ends):
                v = vals[ends == end]
                out.append({"metric": name, "window_end": int(end), "value": _aggregate(m.agg, v)})
        return pa.Table.from_pylist(out, schema=pa.schema(
            [("metric", pa.string()), ("window_end", pa.int64()), ("value", pa.float64())]))


def _aggregate(agg: str, v: np.ndarray) -> float | None:
    v = v[~np.isnan(v)]
    if agg == "count":
        return float(v.size)
    if not v.size:
        return None
    if agg == "stddev":
        return float(np.std(v, ddof=1)) if v.size > 1 else None
    return float({"avg": np.mean, "min": np.min, "max": np.max, "sum": np.sum}[agg](v))


def machine_model(measurements: Iterable[str]) -> AssetModel:
    """The model of a simulated machine: its sensors, a Fahrenheit transform and 1m/5m metrics."""
    ms = tuple(measurements)
    metrics: dict[str, Metric] = {}
    for s in ms:
        metrics[f"{s}_avg_1m"] = Metric("avg", s, "1m")
        metrics[f"{s}_max_5m"] = Metric("max", s, "5m")
    transforms = {"temp_f": "temp * 9 / 5 + 32"} if "temp" in ms else {}
    if transforms:
        metrics["temp_f_avg_1h"] = Metric("avg", "temp_f", "1h")
    return AssetModel("machine", ms, {"vendor": "sim"}, transforms, metrics)


def fleet_tree(device_ids: Iterable[str], measurements: Iterable[str], sites: int = 2, lines_per_site: int = 2) -> AssetTree:
    """Sites -> lines -> machines for a fleet, machines spread round-robin over the lines."""
    tree = AssetTree([machine_model(measurements)])
    lines = []
    for s in range(sites):
        site = f"site-{s + 1}"
        tree.add(Asset(site, attributes={"region": ["eu", "us", "apac"][s % 3]}))
        for ln in range(lines_per_site):
            line = f"{site}-line-{ln + 1}"
            tree.add(Asset(line, parent=site))
            lines.append(line)
    for i, dev in enumerate(device_ids):
        tree.add(Asset(dev, "machine", parent=lines[i % len(lines)], attributes={"serial": f"SN{i:06d}"}))
    return tree


def models_from_mapping(spec: Mapping[str, Any]) -> AssetModel:
    """An asset model from plain data (e.g. loaded from JSON)."""
    metrics = {k: Metric(**v) for k, v in spec.get("metrics", {}).items()}
    return AssetModel(spec["name"], tuple(spec["measurements"]), dict(spec.get("attributes", {})),
                      dict(spec.get("transforms", {})), metrics)
