"""``laketown stream ...``: create, list, feed, read and watch streams from the shell.

A thin skin over :func:`laketown.streams.open_backend`; every command does what the Python
API does, nothing more.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from laketown.errors import LaketownError

app = typer.Typer(help="Create, feed, read and watch streams.", no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
err_console = Console(stderr=True)
_state: dict[str, Any] = {}


class Start(str, Enum):
    earliest = "earliest"
    latest = "latest"


@app.callback()
def _settings(
    workspace: Annotated[Path | None, typer.Option("--workspace", "-w", help="Workspace folder.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="A laketown.toml settings file.")] = None,
) -> None:
    """Load settings (defaults < laketown.toml < LAKETOWN__* env < options)."""
    from laketown.config import load_settings

    root = sys.modules.get("laketown.cli")  # options given to the root command, when mounted there
    root_state = getattr(root, "_state", {}) if root is not None else {}
    workspace = workspace or root_state.get("workspace")
    config = config or root_state.get("config")
    overrides = {"workspace": workspace} if workspace else {}
    _state["settings"] = load_settings(config, **overrides)


def _backend() -> Any:
    from laketown.streams import open_backend

    if "settings" not in _state:
        _settings()
    return open_backend(_state["settings"])


def _fail(exc: Exception) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {escape(str(exc))}")
    return typer.Exit(1)


@app.command()
def create(
    name: str,
    partitions: Annotated[int, typer.Option("--partitions", "-p", min=1, help="Number of partitions.")] = 1,
    retention_ms: Annotated[int | None, typer.Option(help="Drop records older than this (ms).")] = None,
    retention_bytes: Annotated[int | None, typer.Option(help="Keep at most this many bytes per partition.")] = None,
    exist_ok: Annotated[bool, typer.Option("--exist-ok", help="Succeed if the stream already exists.")] = False,
) -> None:
    """Create a stream."""
    try:
        backend = _backend()
        info = backend.create_stream(name, partitions, retention_ms, retention_bytes, exist_ok=exist_ok)
        backend.close()
    except LaketownError as exc:
        raise _fail(exc) from None
    console.print(f"stream [bold]{escape(info.name)}[/bold] with {info.partitions} partition(s)")


@app.command("list")
def list_() -> None:
    """List streams with their partitions, records and retention."""
    try:
        backend = _backend()
        infos = backend.list_streams()
        backend.close()
    except LaketownError as exc:
        raise _fail(exc) from None
    table = Table(header_style="bold cyan")
    for col in ("stream", "partitions", "end offsets (sum)", "retention ms", "retention bytes"):
        table.add_column(col, justify="left" if col == "stream" else "right")
    for info in infos:
        table.add_row(
            escape(info.name),
            str(info.partitions),
            str(sum(info.end_offsets.values())),
            "-" if info.retention_ms is None else str(info.retention_ms),
            "-" if info.retention_bytes is None else str(info.retention_bytes),
        )
    console.print(table)


@app.command()
def produce(
    name: str,
    values: Annotated[list[str] | None, typer.Argument(help="Values to send; none: one per line of stdin.")] = None,
    key: Annotated[str | None, typer.Option("--key", "-k", help="Key of every record.")] = None,
    key_field: Annotated[
        str | None, typer.Option("--key-field", help="Values are JSON objects; this field is the key.")
    ] = None,
) -> None:
    """Send records: each value (JSON or plain text) as one record, UTF-8 encoded."""
    lines = values if values else [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not lines:
        raise _fail(ValueError("nothing to produce: give values as arguments or lines on stdin"))
    keys = None
    if key is not None:
        keys = [key.encode()] * len(lines)
    elif key_field is not None:
        keys = []
        for i, line in enumerate(lines, 1):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _fail(ValueError(f"value {i} is not JSON ({exc.msg}); --key-field needs JSON objects")) from None
            field = obj.get(key_field) if isinstance(obj, dict) else None
            keys.append(None if field is None else str(field).encode())
    try:
        backend = _backend()
        with backend.producer(name) as producer:
            ack = producer.produce([line.encode() for line in lines], keys=keys)
        backend.close()
    except LaketownError as exc:
        raise _fail(exc) from None
    spread = ", ".join(f"{p}: {ack.partitions.count(p)}" for p in sorted(set(ack.partitions)))
    console.print(f"produced {len(ack)} record(s) to [bold]{escape(name)}[/bold] (partition: records {spread})")


def _text(value: bytes | None) -> str:
    if value is None:
        return ""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.hex()


@app.command()
def consume(
    name: str,
    group: Annotated[str | None, typer.Option("--group", "-g", help="Consumer group; commits after printing.")] = None,
    start: Annotated[Start, typer.Option("--from", help="Where to start without a committed offset.")] = Start.earliest,
    max_records: Annotated[int | None, typer.Option("--max", "-n", min=1, help="Stop after this many records.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep waiting for new records (Ctrl-C stops).")
    ] = False,
) -> None:
    """Print records; without --follow, stop when the stream has no more."""
    try:
        backend = _backend()
        consumer = backend.consumer(name, group=group, start=start.value)
    except LaketownError as exc:
        raise _fail(exc) from None
    shown = 0
    table = Table(header_style="bold cyan")
    for col in ("partition", "offset", "timestamp", "key", "value"):
        table.add_column(col)
    try:
        while max_records is None or shown < max_records:
            limit = 10_000 if max_records is None else max_records - shown
            batch = consumer.poll(max_records=limit, timeout_s=1.0)
            if batch.num_rows == 0:
                if follow:
                    continue
                break
            for row in batch.to_pylist():
                when = dt.datetime.fromtimestamp(row["timestamp_ms"] / 1000, dt.UTC).isoformat(timespec="milliseconds")
                cells = (str(row["partition"]), str(row["offset"]), when, _text(row["key"]), _text(row["value"]))
                if follow:
                    console.print(" ".join(escape(c) for c in cells), soft_wrap=True)
                else:
                    table.add_row(*(escape(c) for c in cells))
            shown += batch.num_rows
            if group is not None:
                consumer.commit()
    except KeyboardInterrupt:
        pass
    except LaketownError as exc:
        raise _fail(exc) from None
    finally:
        consumer.close()
        backend.close()
    if not follow:
        console.print(table)
        console.print(f"{shown} record(s)")


@app.command()
def lag(
    name: str,
    group: Annotated[str, typer.Option("--group", "-g", help="Consumer group.")],
) -> None:
    """Records each partition holds beyond the group's committed offset."""
    try:
        backend = _backend()
        info = backend.describe(name)
        done = backend.committed(name, group)
        behind = backend.lag(name, group)
        backend.close()
    except LaketownError as exc:
        raise _fail(exc) from None
    table = Table(header_style="bold cyan", title=f"{name} / {group}")
    for col in ("partition", "end offset", "committed", "lag"):
        table.add_column(col, justify="right")
    for p, end in sorted(info.end_offsets.items()):
        table.add_row(str(p), str(end), "-" if p not in done else str(done[p]), str(behind.get(p, 0)))
    table.add_row("total", "", "", str(sum(behind.values())), style="bold")
    console.print(table)
