"""``laketown iot ...``: simulate a fleet through the whole flow, evaluate models on any data."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="IoT telemetry: simulate a fleet, evaluate the RUL and anomaly models.", no_args_is_help=True)


def _workspace() -> Any:
    from laketown.cli import open_workspace

    return open_workspace()


def _print(obj: Any) -> None:
    typer.echo(json.dumps(obj, default=str))


def _read(path: Path) -> Any:
    import pandas as pd

    from laketown.errors import ConfigError

    if not path.exists():
        raise ConfigError(f"data file {str(path)!r} does not exist")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    sep = {".tsv": "\t"}.get(path.suffix)
    return pd.read_csv(path, sep=sep, engine="python") if sep is None else pd.read_csv(path, sep=sep)


@app.command()
def simulate(
    machines: Annotated[int, typer.Option(help="Devices in the fleet.")] = 12,
    ticks: Annotated[int, typer.Option(help="Readings per device (simulated seconds).")] = 600,
    broker: Annotated[str | None, typer.Option(
        help="amqtt (in-process) or mosquitto; default: the [iot] broker setting (amqtt).")] = None,
    seed: Annotated[int, typer.Option(help="Fleet seed.")] = 7,
    live: Annotated[float, typer.Option(help="Then keep streaming for this many wall seconds at --speedup.")] = 0.0,
    speedup: Annotated[float, typer.Option(help="Simulated seconds per wall second when live.")] = 10.0,
) -> None:
    """Run a simulated fleet through broker, ingest, streams, windows, lake, models and alerts;
    print the measured figures as one JSON object."""
    from laketown.apps.iot.pipeline import run_fleet

    ws = _workspace()
    try:
        _print(run_fleet(ws, machines=machines, ticks=ticks, broker=broker, seed=seed, live_s=live, speedup=speedup))
    finally:
        ws.close()


@app.command("evaluate-rul")
def evaluate_rul(
    data: Annotated[Path, typer.Option("--data", help="CSV/TSV/Parquet: one row per unit and time step.")],
    unit: Annotated[str, typer.Option("--unit", help="Column naming the unit (engine, machine).")],
    time_col: Annotated[str, typer.Option("--time", help="Column with the time step / cycle.")],
    target: Annotated[str, typer.Option("--target", help="Column with the remaining useful life.")],
    test_fraction: Annotated[float, typer.Option(help="Share of units held out for testing.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the unit split.")] = 0,
) -> None:
    """Gradient boosting on rolling features vs linear regression, RMSE on held-out units."""
    from laketown.apps.iot.models import evaluate_rul as run
    from laketown.apps.iot.models import split_units

    df = _read(data)
    train, test = split_units(df, unit, test_fraction, seed)
    t0 = time.perf_counter()
    out = run(train, test, unit, time_col, target)
    out.pop("model_object", None)
    _print({"area": "iot", "dataset": data.name, "protocol": f"rul-unit-split-{int(test_fraction * 100)}",
            **out, "wall_s": round(time.perf_counter() - t0, 2)})


@app.command("evaluate-anomaly")
def evaluate_anomaly(
    data: Annotated[Path, typer.Option("--data", help="CSV/TSV/Parquet of readings with a label column.")],
    time_col: Annotated[str, typer.Option("--time", help="Column with the time.")],
    label: Annotated[str, typer.Option("--label", help="Column: true/1/non-empty marks an anomaly.")],
    key: Annotated[str | None, typer.Option("--key", help="Column naming the device (one series per device).")] = None,
    settings: Annotated[str, typer.Option(help="Comma-separated operating-setting columns (not scored).")] = "",
    counter: Annotated[str | None, typer.Option(help="Usage-counter column (e.g. cycles): a drop means renewed.")] = None,
    train_fraction: Annotated[float, typer.Option(help="Leading share of time the detector learns from.")] = 0.3,
) -> None:
    """The streaming detector vs a rolling z-score, precision/recall/F1 on the later readings."""
    from laketown.apps.iot.models import evaluate_anomaly as run

    df = _read(data)
    t0 = time.perf_counter()
    cols = [c for c in settings.split(",") if c]
    out = run(df, time_col, label, key=key, settings=cols, counter=counter, train_fraction=train_fraction)
    _print({"area": "iot", "dataset": data.name, "protocol": f"anomaly-time-split-{int(train_fraction * 100)}",
            **out, "wall_s": round(time.perf_counter() - t0, 2)})
