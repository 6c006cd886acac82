"""The main job: build the lake, run every pipeline, print measured figures.

Each step is a function ``step(ws, progress) -> dict`` named in :data:`STEPS`; apps add theirs.
Batch steps are idempotent (tables are overwritten); the streams step appends new events each run.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

from laketown.apps import resolve
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

# name -> "module:function"
STEPS: dict[str, str] = {
    "sample": "laketown.demo:sample_step",
    "streams": "laketown.demo:streams_step",
}
LIVE_STREAM = "sample_order_events"
LIVE_TABLE = "raw.sample_order_events"


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


def _order_events(start: int, n: int) -> list[dict[str, Any]]:
    from laketown import sample_data

    t = sample_data.orders(rows=n, seed=start + 1)
    rows = t.to_pylist()
    for i, row in enumerate(rows):
        row["order_id"] = start + i + 1
        row["ordered_at"] = row["ordered_at"].isoformat()
    return rows


def streams_step(ws: Any, progress: Progress) -> dict[str, Any]:
    """Order events through a durable stream into the lake with the exactly-once sink."""
    from laketown import sample_data
    from laketown.streams.delivery import DeliverySink

    n = 50_000
    task = progress.add_task("order events stream -> lake", total=n)
    ws.streams.create_stream(LIVE_STREAM, partitions=2, exist_ok=True)
    if not ws.lake.exists(LIVE_TABLE):
        ws.lake.create_table(LIVE_TABLE, schema=sample_data.orders(rows=1).schema, partition_by=["day(ordered_at)"])
    already = ws.table(LIVE_TABLE).count()
    start = sum(ws.streams.describe(LIVE_STREAM).end_offsets.values())
    t0 = time.perf_counter()
    with ws.streams.producer(LIVE_STREAM) as prod:
        for lo in range(0, n, 5_000):
            prod.produce_json(_order_events(start + lo, 5_000), key_field="customer_id")
    produce_s = time.perf_counter() - t0
    sink = DeliverySink(ws.lake, ws.streams, LIVE_STREAM, LIVE_TABLE, buffer_records=25_000,
                        buffer_seconds=0.5, name="demo-order-events")
    t0 = time.perf_counter()
    while sink.stats.records_in < n:
        got = sink.step()
        progress.update(task, completed=sink.stats.records_in)
        if not got and time.perf_counter() - t0 > 60:
            break
    sink.close()
    deliver_s = time.perf_counter() - t0
    total = ws.sql(f"SELECT count(*) AS n FROM {LIVE_TABLE}").column("n")[0].as_py()
    return {
        "stream": LIVE_STREAM, "produced": n, "produce_records_per_s": round(n / produce_s),
        "delivered": total - already, "deliver_records_per_s": round(n / deliver_s), LIVE_TABLE: total,
    }


class LiveFeed:
    """While the demo serves: order events keep flowing into the stream and the sink keeps
    delivering them, so the console's Streams page and the tables move."""

    def __init__(self, ws: Any, base_url: str, events_per_s: int = 200):
        import threading

        from laketown.apps import live_feeds
        from laketown.streams.delivery import DeliverySink

        self.ws, self.rate = ws, events_per_s
        self._stop = threading.Event()
        self.sink = DeliverySink(ws.lake, ws.streams, LIVE_STREAM, LIVE_TABLE, buffer_seconds=1.0,
                                 name="demo-order-events")
        self.threads = [threading.Thread(target=self._produce, daemon=True, name="demo-producer"),
                        threading.Thread(target=self.sink.run, daemon=True, name="demo-sink")]
        self.threads += [threading.Thread(target=feed, args=(ws, base_url, self._stop), daemon=True,
                                          name=f"demo-{feed.__module__}") for feed in live_feeds()]

    def _produce(self) -> None:
        start = sum(self.ws.streams.describe(LIVE_STREAM).end_offsets.values())
        with self.ws.streams.producer(LIVE_STREAM) as prod:
            while not self._stop.wait(1.0):
                prod.produce_json(_order_events(start, self.rate), key_field="customer_id")
                start += self.rate

    def start(self) -> LiveFeed:
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.sink.stop()
        for t in self.threads:
            t.join(timeout=10)


def run_demo(ws: Any, console: Console | None = None) -> dict[str, Any]:
    """Run every demo step in order; returns the summary printed by ``laketown demo``."""
    console = console or Console()
    summary: dict[str, Any] = {"workspace": str(ws.path)}
    started = time.perf_counter()
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:
        from laketown.apps import demo_steps

        steps = {name: resolve(target) for name, target in STEPS.items()}
        steps.update(demo_steps())
        for name, step in steps.items():
            t0 = time.perf_counter()
            result = step(ws, progress)
            result["wall_s"] = round(time.perf_counter() - t0, 2)
            summary[name] = result
    summary["tables"] = ws.lake.list_tables()
    summary["wall_s"] = round(time.perf_counter() - started, 2)
    return summary
