"""``laketown engagement churn ...``: evaluate Laketown's churn model against logistic regression
on any CSV/Parquet file, train the Telco churn model, score customers. A thin skin over
:mod:`churn` and :mod:`churn_models`."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Churn model: evaluate on any file, train on IBM Telco, score customers.", no_args_is_help=True)


def _ws() -> Any:
    from laketown.cli import open_workspace

    return open_workspace()


def _print(obj: Any) -> None:
    typer.echo(json.dumps(obj, default=str))


def _one_line_errors(fn: Callable[..., None]) -> Callable[..., None]:
    """A Laketown error ends the command with one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        from laketown.errors import LaketownError

        try:
            fn(*args, **kwargs)
        except LaketownError as exc:
            sys.stderr.write(f"error: {exc}\n")
            raise typer.Exit(2) from None

    return run


@app.command()
@_one_line_errors
def evaluate(
    data: Annotated[Path, typer.Option("--data", help="CSV or Parquet file, one row per customer.")],
    label: Annotated[str, typer.Option("--label", help="Churn label column: yes/no, true/false or 1/0.")],
    id: Annotated[str | None, typer.Option("--id", help="Customer id column (left out of the features).")] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds on the training 80 % to pick the model.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the stratified 80/20 split.")] = 42,
) -> None:
    """Laketown's churn model vs logistic regression on any file; prints ONE JSON object.

    Both train on the same stratified 80 % split and are tested on the other 20 %; the baseline
    has one-hot categories and scaled numbers. Numbers and categories are found by themselves."""
    from laketown.apps.engagement.churn_data import read_table_file
    from laketown.apps.engagement.churn_models import (
        binary_labels,
        compare,
        infer_columns,
    )
    from laketown.errors import LaketownError

    if folds < 2:
        raise LaketownError(f"--folds must be at least 2; got {folds}")
    df = read_table_file(data)
    for name, col in (("--label", label), ("--id", id)):
        if col is not None and col not in df.columns:
            raise LaketownError(f"{name} {col!r} is not a column of {data.name}; columns: {', '.join(map(str, df.columns))}")
    y = binary_labels(df[label], label)
    X, cols = infer_columns(df, exclude=tuple(c for c in (label, id) if c))
    result = compare(X, y, cols, folds=folds, seed=seed, report=False)
    lt, base = result["laketown"], result["baseline"]
    _print({
        "area": "engagement", "dataset": data.name, "protocol": "stratified-80-20",
        "laketown": lt, "baseline": base,
        "ratio": {"auc_roc": round(lt["auc_roc"] / base["auc_roc"], 4)},
        "cv_auc": result["cv_auc"], "rows": result["rows"],
        "columns": {"numeric": cols.numeric, "categorical": cols.categorical, "dropped": cols.dropped},
    })


@app.command()
@_one_line_errors
def train(
    folds: Annotated[int, typer.Option(help="Cross-validation folds on the training 80 % to pick the model.")] = 3,
) -> None:
    """Train, evaluate and register the churn model on IBM Telco; prints the report.

    Engagement features are added when raw.engagement_events names Telco customers."""
    from laketown.apps.engagement.churn import train as run

    _print(run(_ws(), folds=folds))


@app.command()
@_one_line_errors
def score(
    version: Annotated[int | None, typer.Option(help="Model version (the latest when left out).")] = None,
) -> None:
    """Score every customer into curated.engagement_churn_scores and refresh the churn_risk segment."""
    from laketown.apps.engagement.churn import score as run

    _print(run(_ws(), version))


@app.command()
@_one_line_errors
def report() -> None:
    """The newest churn model's evaluation report (AUC, average precision, calibration, top features)."""
    from laketown.apps.engagement.churn import latest_report
    from laketown.errors import LaketownError

    found = latest_report(_ws())
    if found is None:
        raise LaketownError("no churn model trained yet; run `laketown engagement churn train`")
    _print(found)
