"""The ``laketown`` command: a thin skin over ``laketown.connect()``.

Each platform part and app adds its own sub-command group (``laketown stream ...``).
"""

from __future__ import annotations

import importlib
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from laketown.errors import LaketownError

app = typer.Typer(
    name="laketown",
    help="Laketown: a local-first lakehouse (Iceberg + DuckDB + streams) and the apps built on it.\n\n"
    "The workspace folder is ./laketown-data unless LAKETOWN__WORKSPACE or --workspace says otherwise.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
table_app = typer.Typer(help="Inspect one lake table.", no_args_is_help=True)
app.add_typer(table_app, name="table")
sink_app = typer.Typer(help="Deliver streams into lake tables, exactly once (Firehose).", no_args_is_help=True)
app.add_typer(sink_app, name="sink")
console = Console()
err_console = Console(stderr=True)

# Sub-command groups of other packages, imported only if present: name -> "module:attr".
SUBCOMMANDS = {
    "stream": ("laketown.streams.cli:app", "Create, feed, read and watch streams."),
    "gov": ("laketown.governance.cli:app", "Principals, API keys, grants, masks, row filters, tags, audit, catalog."),
}

_state: dict[str, Any] = {}


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


@app.callback()
def _root(
    workspace: Annotated[
        Path | None, typer.Option("--workspace", "-w", help="Workspace folder (default ./laketown-data).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="A laketown.toml settings file.")] = None,
) -> None:
    _state["workspace"] = workspace
    _state["config"] = config


def open_workspace() -> Any:
    """The workspace named by --workspace / --config / the environment."""
    import laketown

    overrides = {"workspace": _state["workspace"]} if _state.get("workspace") else {}
    return laketown.connect(_state.get("config"), **overrides)


def print_arrow(table: Any, fmt: OutputFormat = OutputFormat.table, title: str | None = None) -> None:
    """Print an Arrow table as a rich table, CSV or JSON lines."""
    if fmt is OutputFormat.csv:
        import pyarrow.csv as pcsv

        buf = __import__("io").BytesIO()
        pcsv.write_csv(table, buf)
        sys.stdout.write(buf.getvalue().decode())
        return
    if fmt is OutputFormat.json:
        for row in table.to_pylist():
            sys.stdout.write(json.dumps(row, default=str) + "\n")
        return
    out = RichTable(title=title, show_lines=False, header_style="bold cyan")
    for name in table.column_names:
        out.add_column(name)
    for row in table.to_pylist():
        out.add_row(*["" if v is None else escape(str(v)) for v in row.values()])
    console.print(out)


@app.command()
def init() -> None:
    """Create the workspace folder, its catalog and the zones raw, clean and curated."""
    ws = open_workspace()
    ws.lake  # creates catalog and zones
    cfg = ws.write_config()
    console.print(f"workspace ready at [bold]{ws.path}[/] (settings: {cfg.name})")


@app.command()
def tables(zone: Annotated[str | None, typer.Argument(help="raw, clean or curated; all when left out.")] = None) -> None:
    """List the lake's tables with rows and snapshot counts."""
    import pyarrow as pa

    ws = open_workspace()
    rows = []
    for name in ws.lake.list_tables(zone):
        st = ws.table(name).stats()
        rows.append({"table": name, "rows": st["rows"], "files": st["data_files"], "snapshots": st["snapshots"]})
    if not rows:
        console.print("no tables yet; `laketown demo --no-serve` builds a sample lake")
        return
    print_arrow(pa.Table.from_pylist(rows))


@table_app.command("show")
def table_show(
    name: Annotated[str, typer.Argument(help="ZONE.TABLE, e.g. raw.sample_orders")],
    rows: Annotated[int, typer.Option(help="Sample rows to print.")] = 10,
) -> None:
    """Schema, statistics, snapshots and a sample of one table."""
    import pyarrow as pa

    ws = open_workspace()
    t = ws.table(name)
    st = t.stats()
    parts = ", ".join(st["partitioning"]) or "none"
    console.print(f"[bold]{name}[/]  rows={st['rows']}  files={st['data_files']}  bytes={st['bytes']}  "
                  f"partitioned by: {escape(parts)}", highlight=False)
    print_arrow(pa.Table.from_pylist([{"column": f.name, "type": str(f.type), "nullable": f.nullable} for f in t.schema]),
                title="schema")
    snaps = [{"snapshot_id": s["snapshot_id"], "time": s["timestamp"].isoformat(timespec="seconds"),
              "operation": s["operation"], "rows": s["summary"].get("total-records")} for s in t.snapshots()]
    if snaps:
        print_arrow(pa.Table.from_pylist(snaps[-10:]), title="snapshots (latest 10)")
    print_arrow(t.scan(limit=rows), title=f"sample ({rows} rows)")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="Read-only SQL; lake tables are zone.table. '-' reads stdin.")],
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, csv or json (one object a line).")] = OutputFormat.table,  # noqa: A002
    max_rows: Annotated[int | None, typer.Option(help="Cap on rows printed (default: sql.max_rows).")] = None,
) -> None:
    """Run SQL over the lake with DuckDB and print the result."""
    ws = open_workspace()
    if query == "-":
        query = sys.stdin.read()
    res = ws.query(query, max_rows=max_rows or ws.settings.sql.max_rows)
    print_arrow(res.table, format)
    if res.truncated and format is OutputFormat.table:
        err_console.print(f"[yellow]showing the first {res.table.num_rows} rows; raise --max-rows for more[/]")


@sink_app.command("start")
def sink_start(
    stream: Annotated[str, typer.Argument(help="The stream to read.")],
    table: Annotated[str, typer.Argument(help="The lake table to write, ZONE.TABLE (created from the first records if missing).")],
    partitions: Annotated[str | None, typer.Option(help="Comma-separated partitions (default: all).")] = None,
    buffer_records: Annotated[int, typer.Option(help="Commit after this many records...")] = 100_000,
    buffer_mb: Annotated[float, typer.Option(help="...or this many MB of values...")] = 16.0,
    buffer_seconds: Annotated[float, typer.Option(help="...or this many seconds, whichever comes first.")] = 1.0,
    dead_letter_table: Annotated[str, typer.Option(help="Where bad records go.")] = "raw.dead_letters",
    ignore_unknown_fields: Annotated[bool, typer.Option(help="Drop JSON fields the table lacks instead of dead-lettering.")] = False,
    name: Annotated[str | None, typer.Option(help="Job name shown in the console (default derived).")] = None,
    key: Annotated[list[str] | None, typer.Option(help="Key column(s): a record repeated by an at-least-once producer replaces, not duplicates.")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after this long (default: run until Ctrl-C).")] = None,
    idle_exit: Annotated[float | None, typer.Option(help="Stop after this many seconds without records.")] = None,
    exit_with_parent: Annotated[bool, typer.Option(hidden=True, help="Stop when the parent process is gone.")] = False,
) -> None:
    """Run a delivery sink: JSON records of STREAM into TABLE, offsets committed with the data.

    A restarted sink resumes where the table says it stopped: no gap, no duplicate. Records that
    do not fit the table's schema go to the dead-letter table with the reason."""
    from laketown.streams.delivery import DeliverySink, infer_table_schema

    ws = open_workspace()
    if not ws.lake.exists(table):
        schema = infer_table_schema(ws.streams, stream)
        ws.lake.create_table(table, schema=schema)
        err_console.print(f"created {table} from the first records of {stream}: "
                          + ", ".join(f"{f.name} {f.type}" for f in schema))
    parts = [int(p) for p in partitions.split(",")] if partitions else None
    sink = DeliverySink(ws.lake, ws.streams, stream, table, partitions=parts, buffer_records=buffer_records,
                        buffer_bytes=int(buffer_mb * (1 << 20)), buffer_seconds=buffer_seconds,
                        dead_letter_table=dead_letter_table,
                        unknown_fields="ignore" if ignore_unknown_fields else "error", name=name,
                        key_columns=key or ())
    err_console.print(f"sink {sink.name}: {stream} partitions {sink.partitions} -> {table} (Ctrl-C stops)")
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sink.stop())  # stop after committing what is buffered
    if exit_with_parent:  # started by `laketown serve`: a server killed with -9 leaves no orphan sink
        import os
        import threading

        parent = os.getppid()

        def watch() -> None:
            while not sink._stop.wait(1.0):
                if os.getppid() != parent:
                    sink.stop()

        threading.Thread(target=watch, daemon=True).start()
    try:
        stats = sink.run(max_seconds=max_seconds, idle_exit_s=idle_exit)
    except KeyboardInterrupt:
        sink.close()
        stats = sink.stats
    console.print_json(json.dumps({"sink": sink.name, **stats.as_dict()}, default=str))


def load_job(target: str) -> Any:
    """``path/to/jobs.py:name`` or ``package.module:name`` -> the Job object (or a function
    returning one)."""
    import importlib.util

    from laketown.streams.processor import Job

    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise LaketownError(f"give the job as FILE.py:NAME or MODULE:NAME, got {target!r}")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise LaketownError(f"job file {where!r} does not exist")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    else:
        module = importlib.import_module(where)
    if not hasattr(module, attr):
        names = ", ".join(n for n in dir(module) if isinstance(getattr(module, n), Job)) or "none"
        raise LaketownError(f"{where} has no {attr!r}; jobs defined there: {names}")
    job = getattr(module, attr)
    job = job() if callable(job) and not isinstance(job, Job) else job
    if not isinstance(job, Job):
        raise LaketownError(f"{target} is a {type(job).__name__}, not a laketown.streams.processor.Job")
    return job


@app.command("run")
def run_job(
    job: Annotated[str, typer.Argument(help="The job: FILE.py:NAME or MODULE:NAME (a Job, or a function returning one).")],
    stop_after: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    idle_polls: Annotated[int | None, typer.Option(help="Stop after this many empty polls in a row.")] = None,
    flush_on_stop: Annotated[bool, typer.Option(help="Fire every open window when stopping (bounded input).")] = False,
    checkpoint_every: Annotated[float, typer.Option(help="Seconds between checkpoints.")] = 2.0,
) -> None:
    """Run a stream processor job as one worker of its consumer group.

    Start more workers with the same command to split the partitions; state is checkpointed
    with the input offsets under <workspace>/checkpoints/<job>, so a restarted worker continues
    with exactly the same results. to_table outputs go to the lake exactly once."""
    from laketown.streams.delivery import processor_table_writer
    from laketown.streams.processor import run
    from laketown.streams.status import write_status

    ws = open_workspace()
    the_job = load_job(job)
    started = __import__("time").time()

    def report(runner: Any) -> bool:
        st = runner.stats
        elapsed = max(__import__("time").time() - started, 1e-9)
        write_status(ws.path, f"job-{the_job.name}", {
            "kind": "processor", "stream": the_job.source, "records_in": st.records, "records_out": st.results,
            "late": st.late, "errors": st.errors, "checkpoints": st.checkpoints,
            "partitions": sorted(st.partitions), "records_per_s": round(st.records / elapsed, 1),
        })
        return False

    err_console.print(f"job {the_job.name}: reading {the_job.source} (Ctrl-C stops after a checkpoint)")
    stats = run(the_job, ws.streams, ws.path / "checkpoints" / the_job.name, stop_after=stop_after,
                max_idle_polls=idle_polls, flush_on_stop=flush_on_stop, checkpoint_every_s=checkpoint_every,
                table_writer=processor_table_writer(ws.lake), until=report)
    out = {k: (sorted(v) if isinstance(v, set) else v) for k, v in stats.__dict__.items()}
    console.print_json(json.dumps({"job": the_job.name, **out}))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default server.host = 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default server.port = 8000).")] = None,
) -> None:
    """Serve the console and the REST API."""
    serve_workspace(open_workspace(), host=host, port=port)


def serve_workspace(ws: Any, host: str | None = None, port: int | None = None) -> None:
    """Serve the console, the platform API and every app's API and page."""
    from laketown.apps import mount_all, sinks
    from laketown.server import create_app, serve as run_server

    app = create_app(ws)
    mount_all(app, ws)
    # each app's sinks run as their own processes: an Iceberg commit must not stall requests
    children = [start_sink_process(ws, stream, table, options) for stream, table, options in sinks()]
    try:
        run_server(ws, host=host, port=port, app=app)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except Exception:  # noqa: BLE001 - it would not stop in time: end it
                child.kill()


def start_sink_process(ws: Any, stream: str, table: str, options: list[str]) -> Any:
    """``laketown sink start STREAM TABLE OPTIONS`` as a child process of the server (its log
    goes to ``<workspace>/jobs/<stream>.log``); stopped with the server."""
    import subprocess

    log_dir = ws.path / "jobs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"sink-{stream}.log", "ab")  # noqa: SIM115 - kept open for the child's life
    cmd = [sys.executable, "-m", "laketown", "-w", str(ws.path), "sink", "start", stream, table,
           "--exit-with-parent", *options]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


@app.command()
def demo(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after the summary instead of serving.")] = False,
    host: Annotated[str | None, typer.Option(help="Bind address for the console.")] = None,
    port: Annotated[int | None, typer.Option(help="Port for the console.")] = None,
) -> None:
    """Build the lake from the bundled generators, run the pipelines, print a summary, then serve."""
    from laketown.demo import run_demo

    ws = open_workspace()
    summary = run_demo(ws, console)
    console.print_json(json.dumps(summary, default=str))
    if not no_serve:
        from laketown.demo import LiveFeed

        settings = ws.settings.server
        link = f"http://{host or settings.host}:{settings.port if port is None else port}/"
        feed = LiveFeed(ws, link).start()
        if settings.auth:
            link += f"#key={ws.governance.console_key()}"
        console.print("live order events flow into raw.sample_order_events while the console is served")
        console.print(f"[bold]console:[/] {link}  (the link signs you in as admin; keep it private)", soft_wrap=True)
        try:
            serve_workspace(ws, host=host, port=port)
        finally:
            feed.stop()


def _mount_subcommands() -> None:
    from laketown.apps import APPS

    groups = dict(SUBCOMMANDS)
    groups.update({spec.name: (spec.cli, f"The {spec.title} app.") for spec in APPS if spec.cli})
    for name, (target, help_text) in groups.items():
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        app.add_typer(getattr(module, attr), name=name, help=help_text)


def main() -> None:
    """Entry point: runs the CLI and turns Laketown errors into one clear line and exit code 2."""
    _mount_subcommands()
    try:
        app()
    except LaketownError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
