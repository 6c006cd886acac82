"""``laketown c360 link``: link or de-duplicate any user's tables (a thin skin over
:func:`laketown.apps.customer360.identity.link.link`). The Customer 360 CLI calls
:func:`register` to add the command to its typer app."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer


def link_command(
    left: Annotated[Path, typer.Option("--left", help="CSV or Parquet file (the table to de-duplicate, or the left table).")],
    id_col: Annotated[str, typer.Option("--id", help="Unique id column (in both files).")],
    right: Annotated[Path | None, typer.Option("--right", help="Second file to link with --left; leave out to de-duplicate.")] = None,
    truth: Annotated[Path | None, typer.Option("--truth", help="CSV of true id pairs (first two columns) to measure precision, recall and F1.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the clusters (CSV or .parquet); default <left>.clusters.csv.")] = None,
    threshold: Annotated[float, typer.Option(help="Match probability at which two records link.")] = 0.5,
) -> None:
    """Link two tables or de-duplicate one, whatever their columns: each shared column's kind
    (names, addresses, phone, e-mail, dates, postcodes, free text...) picks its comparison.
    Prints one JSON object (precision/recall/f1 with --truth); writes id, side, cluster_id."""
    from laketown.apps.customer360.identity import link as linking
    from laketown.errors import LaketownError

    try:
        if not 0.0 < threshold < 1.0:
            raise linking.LinkError(f"--threshold must be between 0 and 1; got {threshold}")
        tables = [linking.read_table(left)] + ([linking.read_table(right)] if right else [])
        truth_table = linking.read_table(truth) if truth else None
        with _phases() as say:
            result = linking.link(tables[0], tables[1] if right else None, id_col, truth_table, threshold, progress=say)
        path = linking.write_clusters(result, out or left.with_name(left.stem + ".clusters.csv"))
    except LaketownError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    dataset = left.name + (f"+{right.name}" if right else "")
    summary = result.summary(dataset)
    summary["out"] = str(path)
    sys.stdout.write(json.dumps(summary, default=str) + "\n")


@contextmanager
def _phases() -> Iterator[Callable[[str], None]]:
    """A spinner on stderr naming the current phase (stdout keeps the one JSON object)."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("reading", total=None)
        yield lambda phase: bar.update(task, description=phase)


def register(app: typer.Typer) -> None:
    """Add ``link`` to ``app`` (the Customer 360 command group)."""
    app.command("link")(link_command)
