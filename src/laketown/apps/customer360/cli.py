"""``laketown c360 ...``: generate sources, ingest, resolve, segment, query the graph, serve
profiles; ``link`` (identity resolution on any files) comes from the identity package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Customer 360: sources -> raw -> clean, identities, graph, segments, next best actions.",
                  no_args_is_help=True)


def _workspace() -> Any:
    from laketown.cli import open_workspace

    return open_workspace()


def _print(obj: Any) -> None:
    typer.echo(json.dumps(obj, default=str))


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


@app.command()
def generate(
    records: Annotated[int, typer.Option(min=10, help="Identity source records (CRM + shop + help desk), 10k to 1M.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
    batch: Annotated[int, typer.Option(min=0, help="0 for the first delivery; 1, 2, ... for later ones (new people, new ids, later times).")] = 0,
) -> None:
    """Fill the source systems: CRM CSVs in the landing folder, the shop database, the help
    desk, the events stream; the ground truth goes to raw.c360_ground_truth."""
    from laketown.apps.customer360 import generator, sources

    ws = _workspace()
    _print(sources.play_sources(ws, generator.generate(records, seed=seed, batch=batch), tag=f"batch{batch}"))


@app.command()
def ingest(
    helpdesk_url: Annotated[str | None, typer.Option(help="The help desk API (default: a local server over the workspace's desk).")] = None,
    db_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the shop database (default: SQLite in the workspace).")] = None,
) -> None:
    """Run every connector once (new files, rows past the cursor, changed tickets, events),
    then standardize raw -> clean with the quarantine."""
    from laketown.apps.customer360 import sources, standardize
    from laketown.errors import LaketownError

    ws = _workspace()
    try:
        out = sources.ingest_all(ws, helpdesk_url=helpdesk_url, db_url=db_url)
        out["standardized"] = standardize.run(ws)
    except LaketownError as exc:
        _fail(exc)
    _print(out)


@app.command()
def resolve(full: Annotated[bool, typer.Option("--full", help="Rebuild instead of resolving only new and changed records.")] = False) -> None:
    """Resolve clean.c360_source_records into customers and golden records."""
    from laketown.apps.customer360 import pipeline
    from laketown.errors import LaketownError

    ws = _workspace()
    try:
        out = pipeline.resolve(ws, full=full)
    except LaketownError as exc:
        _fail(exc)
    _print({**out, "identity_vs_truth": pipeline.truth_check(ws)})


@app.command()
def segment(seed: Annotated[int, typer.Option(help="Seed of k-means.")] = 0) -> None:
    """RFM/CLV features, segments (k by silhouette), personas, churn propensity; export to
    curated.c360_segments; then rebuild the graph."""
    from laketown.apps.customer360 import graph, segments
    from laketown.errors import LaketownError

    ws = _workspace()
    try:
        out = segments.run(ws, seed=seed)
        out["graph"] = graph.build(ws)
    except LaketownError as exc:
        _fail(exc)
    _print(out)


@app.command()
def run(
    records: Annotated[int, typer.Option(min=10, help="Identity source records to generate.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Everything once: generate, ingest, standardize, resolve, segment, graph."""
    from laketown.apps.customer360 import pipeline

    _print(pipeline.run_all(_workspace(), records=records, seed=seed))


@app.command()
def refresh(full: Annotated[bool, typer.Option("--full", help="Rebuild identities instead of resolving only new and changed records.")] = False) -> None:
    """A scheduled run: ingest every source, standardize, resolve, segment, export, graph."""
    from laketown.apps.customer360 import pipeline
    from laketown.errors import LaketownError

    try:
        _print(pipeline.refresh(_workspace(), full=full))
    except LaketownError as exc:
        _fail(exc)


@app.command()
def cdnow() -> None:
    """RFM and 12-month CLV on the real CDNOW transactions (fetched on first use), with the
    CLV checked on the holdout period beside a naive baseline; one JSON object."""
    from laketown.apps.customer360 import cdnow as cd
    from laketown.errors import LaketownError

    ws = _workspace()
    try:
        _print(cd.evaluate(ws.cache_dir))
    except LaketownError as exc:
        _fail(exc)


@app.command()
def profile(customer_id: Annotated[str, typer.Argument(help="A customer id (see `c360 search`).")]) -> None:
    """The unified profile of one customer, as JSON."""
    from laketown.apps.customer360.service import Customer360
    from laketown.errors import LaketownError

    svc = Customer360(_workspace())
    try:
        _print(svc.profile(customer_id))
    except LaketownError as exc:
        _fail(exc)
    finally:
        svc.close()


@app.command()
def search(q: Annotated[str, typer.Argument(help="Name, email, postcode, phone or id.")]) -> None:
    """Customers matching every word of Q."""
    from laketown.apps.customer360.service import Customer360
    from laketown.errors import LaketownError

    try:
        _print(Customer360(_workspace()).search(q))
    except LaketownError as exc:
        _fail(exc)


@app.command()
def sparql(
    query: Annotated[str | None, typer.Argument(help="A SPARQL query (or use --file / --named).")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read the query from this file.")] = None,
    named: Annotated[str | None, typer.Option(help="A named query: journey, household_members, also_bought, neighbourhood, segment_sizes.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE for a named query.")] = None,
    format: Annotated[str, typer.Option("--format", help="json, csv, tsv or xml.")] = "csv",
    timeout_s: Annotated[float, typer.Option(help="Stop the query after this many seconds.")] = 10.0,
) -> None:
    """Run a read-only SPARQL query over the knowledge graph (with a deadline)."""
    from laketown.apps.customer360.graph import runner
    from laketown.apps.customer360.queries import LIBRARY
    from laketown.errors import LaketownError

    ws = _workspace()
    r = runner(ws, timeout_s=timeout_s)
    try:
        if named:
            params = dict(p.split("=", 1) for p in (param or []) if "=" in p)
            text = LIBRARY.render(named, **params)
        elif file:
            text = file.read_text()
        elif query:
            text = query
        else:
            raise LaketownError("give a query, --file FILE or --named NAME")
        typer.echo(r.query(text, fmt=format).body.decode())
    except LaketownError as exc:
        _fail(exc)
    finally:
        r.close()


def _register_link() -> None:
    """``c360 link``, owned by the identity package (added when its CLI module exists)."""
    import importlib.util

    if importlib.util.find_spec("laketown.apps.customer360.identity.cli") is None:
        return
    from laketown.apps.customer360.identity.cli import register

    register(app)


_register_link()
