"""The index of Laketown's apps: where each one's CLI, demo step and web page live.

This is the composition root for apps: the root CLI and ``laketown serve``/``demo`` read it.
Apps never import each other; platform packages never import this module.
An entry names ``module:attribute`` strings, imported only when used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AppSpec:
    name: str  # the CLI group: `laketown <name> ...`
    title: str
    cli: str | None = None  # "module:typer app"
    demo: str | None = None  # "module:function(ws, progress) -> dict"
    mount: str | None = None  # "module:function(app, ws) -> None" (API router + console page)
    sinks: str | None = None  # "module:list of (stream, table, [sink start options])" run by `serve`
    live: str | None = None  # "module:function(ws, base_url, stop_event)": the demo's live traffic


APPS: list[AppSpec] = [
    AppSpec("iot", "IoT telemetry", cli="laketown.apps.iot.cli:app",
            demo="laketown.apps.iot.pipeline:demo_step", mount="laketown.apps.iot.console:mount",
            live="laketown.apps.iot.pipeline:live_fleet"),
    AppSpec(
        "fraud", "Fraud detection",
        cli="laketown.apps.fraud.cli:app",
        demo="laketown.apps.fraud.pipeline:demo_step",
        mount="laketown.apps.fraud.console:mount",
        sinks="laketown.apps.fraud.console:SINKS",
        live="laketown.apps.fraud.feed:live_feed",
    ),
    AppSpec(
        "recs", "Recommendations",
        cli="laketown.apps.recommendations.cli:app",
        demo="laketown.apps.recommendations.pipeline:demo_step",
        mount="laketown.apps.recommendations.console:mount",
        sinks="laketown.apps.recommendations.console:SINKS",
    ),
    AppSpec(
        "c360", "Customer 360",
        cli="laketown.apps.customer360.cli:app",
        demo="laketown.apps.customer360.pipeline:demo_step",
        mount="laketown.apps.customer360.console:mount",
        sinks="laketown.apps.customer360.console:SINKS",
    ),
    AppSpec(
        "engagement", "Customer engagement",
        cli="laketown.apps.engagement.cli:app",
        demo="laketown.apps.engagement.pipeline:demo_step",
        mount="laketown.apps.engagement.console:mount",
        sinks="laketown.apps.engagement.events:SINKS",
        live="laketown.apps.engagement.live:live_engagement",
    ),
]


def resolve(target: str) -> Any:
    """Import ``module:attribute``."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def mount_all(app: Any, ws: Any) -> None:
    """Mount every app's API router and console page on a server app."""
    for spec in APPS:
        if spec.mount:
            resolve(spec.mount)(app, ws)


def sinks() -> list[tuple[str, str, list[str]]]:
    """The delivery sinks the apps need while the server runs: (stream, table, options)."""
    out = []
    for spec in APPS:
        if spec.sinks:
            out.extend(resolve(spec.sinks))
    return out


def live_feeds() -> list[Any]:
    """The apps' live-traffic functions for the demo."""
    return [resolve(spec.live) for spec in APPS if spec.live]


def demo_steps() -> dict[str, Any]:
    """Demo steps of the apps, in order."""
    return {spec.name: resolve(spec.demo) for spec in APPS if spec.demo}
