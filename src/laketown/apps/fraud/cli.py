"""``laketown fraud``: simulate transactions, train and evaluate the fraud models on the
simulator, the IEEE-CIS data or any CSV/Parquet file. A thin skin over the Python API."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Fraud detection: simulate, train, evaluate.", no_args_is_help=True)


def _ws() -> Any:
    from laketown.cli import open_workspace

    return open_workspace()


def _print(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")


@app.command()
def simulate(
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 5_000,
    terminals: Annotated[int, typer.Option(help="Number of terminals.")] = 10_000,
    days: Annotated[int, typer.Option(help="Days to simulate.")] = 183,
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD).")] = "2018-04-01",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 0,
) -> None:
    """Simulate card payments with the handbook's fraud scenarios into raw.fraud_transactions."""
    from laketown.apps.fraud.data import SIMULATED_TABLE, write_simulation
    from laketown.apps.fraud.simulator import SimulationSpec

    spec = SimulationSpec(customers, terminals, days, date.fromisoformat(start), seed)
    data = write_simulation(_ws(), spec)
    _print({"table": SIMULATED_TABLE, "rows": data.num_rows, "fraud_rate": round(float(data["tx_fraud"].to_numpy().mean()), 5)})


DataOpt = Annotated[Path | None, typer.Option("--data", help="CSV or Parquet file; the simulator's table when left out.")]
LabelOpt = Annotated[str | None, typer.Option("--label", help="0/1 fraud label column.")]
TimeOpt = Annotated[str | None, typer.Option("--time", help="Timestamp column (ISO 8601 or epoch seconds).")]
IdOpt = Annotated[str | None, typer.Option("--id", help="Transaction id column (row number when left out).")]
EntityOpt = Annotated[list[str] | None, typer.Option("--entity", help="Entity column(s) for window features; a+b combines.")]
AmountOpt = Annotated[str | None, typer.Option("--amount", help="Amount column (found by name when left out).")]


def _load(ws: Any, data: Path | None, label: str | None, time: str | None, id_: str | None,
          entity: list[str] | None, amount: str | None) -> tuple[str, Any, Any]:
    """(lake table, feature set, loaded data or None) for the simulator or a user's file."""
    from laketown.apps.fraud.data import SIMULATED_TABLE, USER_TABLE, prepare, read_file
    from laketown.apps.fraud.features import FeatureSet, laketown_features
    from laketown.errors import LaketownError

    if data is None:
        if not ws.lake.exists(SIMULATED_TABLE):
            raise LaketownError(f"no {SIMULATED_TABLE} yet: run `laketown fraud simulate` or give --data FILE")
        return SIMULATED_TABLE, FeatureSet(laketown_features()), None
    if not label or not time:
        raise LaketownError("--data needs --label COL and --time COL")
    loaded = prepare(read_file(data), label, time, id_, entity or [], amount, source=data.name)
    ws.lake.write(USER_TABLE, loaded.table, mode="overwrite")
    return USER_TABLE, loaded.feature_set(), loaded


@app.command()
def train(
    data: DataOpt = None, label: LabelOpt = None, time: TimeOpt = None, id: IdOpt = None,
    entity: EntityOpt = None, amount: AmountOpt = None,
    delay_days: Annotated[int, typer.Option(help="Days between training and test (labels arrive late).")] = 7,
    test_days: Annotated[int, typer.Option(help="Days held out for the test metrics.")] = 7,
) -> None:
    """Train the anomaly model and the classifier and register them in MLflow."""
    from laketown.apps.fraud.training import train as run

    ws = _ws()
    table, fs, _ = _load(ws, data, label, time, id, entity, amount)
    from laketown.apps.fraud.models import GENERIC_PARAMS, LAKETOWN_PARAMS

    params = LAKETOWN_PARAMS if data is None else GENERIC_PARAMS
    result = run(ws, table, fs, delay_days, test_days, params, card=fs.entities[0][0] if fs.entities else None)
    _print({"table": table, "model_versions": result.versions, "rows": result.rows, **result.metrics})


@app.command()
def evaluate(
    data: DataOpt = None, label: LabelOpt = None, time: TimeOpt = None, id: IdOpt = None,
    entity: EntityOpt = None, amount: AmountOpt = None,
) -> None:
    """Train on the earliest 80 % by time, test on the latest 20 %: Laketown's model against a
    plain LightGBM on the raw columns; prints one JSON summary line."""
    from laketown.apps.fraud.benchmarking import compare_time_split

    ws = _ws()
    table, fs, loaded = _load(ws, data, label, time, id, entity, amount)
    plain = loaded.raw_feature_set() if loaded is not None else None
    _print(compare_time_split(ws, table, fs, plain, dataset=data.name if data else "simulator"))
