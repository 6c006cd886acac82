"""The main job: build the lake, run every pipeline, print measured figures.

Each step is a function ``step(ws, progress) -> dict`` named in :data:`STEPS`; apps add theirs.
Steps are idempotent: running the demo twice in one workspace gives the same tables.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

# name -> "module:function"
STEPS: dict[str, str] = {
    "sample": "laketown.demo:sample_step",
}


def sample_step(ws: Any, progress: Progress) -> dict[str, Any]:
    """Load the sample orders into raw and derive curated daily revenue with SQL."""
    from laketown import sample_data

    task = progress.add_task("sample orders", total=3)
    orders = sample_data.orders()
    progress.advance(task)
    raw = ws.lake.write("raw.sample_orders", orders, mode="overwrite", partition_by=["month(ordered_at)"])
    progress.advance(task)
    daily = ws.sql(sample_data.DAILY_REVENUE_SQL)
    ws.lake.write("curated.sample_daily_revenue", daily, mode="overwrite")
    progress.advance(task)
    top = ws.sql(
        "SELECT country, sum(revenue) AS revenue FROM curated.sample_daily_revenue GROUP BY ALL ORDER BY 2 DESC LIMIT 1"
    ).to_pylist()[0]
    return {
        "raw.sample_orders": raw.count(),
        "curated.sample_daily_revenue": ws.table("curated.sample_daily_revenue").count(),
        "top_country": top["country"],
        "top_country_revenue": round(top["revenue"], 2),
    }


def run_demo(ws: Any, console: Console | None = None) -> dict[str, Any]:
    """Run every demo step in order; returns the summary printed by ``laketown demo``."""
    console = console or Console()
    summary: dict[str, Any] = {"workspace": str(ws.path)}
    started = time.perf_counter()
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:
        for name, target in STEPS.items():
            module_name, _, attr = target.partition(":")
            step = getattr(importlib.import_module(module_name), attr)
            t0 = time.perf_counter()
            result = step(ws, progress)
            result["wall_s"] = round(time.perf_counter() - t0, 2)
            summary[name] = result
    summary["tables"] = ws.lake.list_tables()
    summary["wall_s"] = round(time.perf_counter() - started, 2)
    return summary
