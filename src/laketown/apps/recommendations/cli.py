"""``laketown recs ...``: evaluate recipes on any interactions file, train, recommend."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Recommendations: evaluate recipes, train solutions, recommend.", no_args_is_help=True)


class Protocol(str, Enum):
    msr = "msr"
    personalize = "personalize"


def _workspace() -> Any:
    from laketown.cli import open_workspace

    return open_workspace()


def _print(obj: Any) -> None:
    typer.echo(json.dumps(obj, default=str))


@app.command()
def evaluate(
    interactions: Annotated[Path, typer.Option("--interactions", help="CSV, TSV or Parquet file of interactions.")],
    user: Annotated[str | None, typer.Option("--user", help="Column holding the user id (default user_id).")] = None,
    item: Annotated[str | None, typer.Option("--item", help="Column holding the item id (default item_id).")] = None,
    time: Annotated[str | None, typer.Option("--time", help="Column holding the time (default timestamp).")] = None,
    rating: Annotated[str | None, typer.Option("--rating", help="Column holding a rating/value (optional).")] = None,
    protocol: Annotated[Protocol, typer.Option(help="msr (stratified 75/25) or personalize (90/10 users).")] = Protocol.msr,
    no_tune: Annotated[bool, typer.Option("--no-tune", help="Skip the EASE lambda search.")] = False,
) -> None:
    """Every recipe and the baselines on your data, printed as ONE JSON object."""
    from laketown.apps.recommendations.data import load_interactions_file
    from laketown.apps.recommendations.offline import compare

    df = load_interactions_file(interactions, user=user, item=item, time=time, rating=rating)
    _print(compare(df, protocol=protocol.value, dataset=interactions.name, tune=not no_tune))


@app.command()
def train(
    dataset: Annotated[str, typer.Option(help="movielens-100k, retail, lake (raw.recs_* tables) or a file.")] = "lake",
    recipe: Annotated[str, typer.Option(help="user-personalization (chosen by metrics) or a recipe name.")] = "user-personalization",
    protocol: Annotated[Protocol, typer.Option(help="Offline metrics protocol.")] = Protocol.personalize,
    batch: Annotated[bool, typer.Option(help="Also write curated.recs_batch.")] = True,
) -> None:
    """Train a solution version, store it in the workspace (served by the API) and print its metrics."""
    from laketown.apps.recommendations import batch as batch_mod
    from laketown.apps.recommendations import solutions
    from laketown.apps.recommendations.pipeline import load_dataset

    ws = _workspace()
    ds = load_dataset(ws, dataset)
    sol = solutions.train_solution(ds, recipe=recipe, protocol=protocol.value)
    solutions.save(sol, ws)
    out = sol.summary()
    if batch:
        out["batch_rows"] = batch_mod.write_batch(ws, sol)
    _print(out)


@app.command()
def recommend(
    user_id: Annotated[str, typer.Argument(help="The user to recommend for.")],
    n: Annotated[int, typer.Option(help="How many items.")] = 10,
    filter: Annotated[str | None, typer.Option("--filter", help='e.g. EXCLUDE ItemID WHERE Interactions.event_type IN ("purchase")')] = None,
    filter_values: Annotated[str | None, typer.Option(help='JSON object, e.g. {"GENRES": ["Comedy"]}')] = None,
) -> None:
    """Recommendations from the workspace's current solution, as JSON."""
    from laketown.apps.recommendations import solutions
    from laketown.apps.recommendations.service import RecsService

    svc = RecsService(solutions.load(_workspace()))
    _print(svc.recommend(user_id, n=n, filter=filter, filter_values=filter_values))
