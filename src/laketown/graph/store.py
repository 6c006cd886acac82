"""A pyoxigraph store on disk, written by one process, read by query workers.

Readers never share the writer's handle: :class:`~laketown.graph.runner.QueryRunner` workers
open the folder read-only and reopen it when the *generation* file says a writer committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from laketown.errors import MissingExtraError

GENERATION_FILE = "generation"
DATA_DIR = "store"


def oxigraph() -> Any:
    """The pyoxigraph module, or an error naming the extra to install."""
    try:
        import pyoxigraph
    except ImportError as exc:  # pragma: no cover - the extra is installed in tests
        raise MissingExtraError("the knowledge graph", "c360", exc) from exc
    return pyoxigraph


def generation(folder: str | Path) -> int:
    """How many commits the store in ``folder`` has seen (0 when none)."""
    path = Path(folder) / GENERATION_FILE
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


class GraphStore:
    """An RDF store in ``folder`` (created when missing). Writes go through :meth:`replace`
    or :meth:`extend`; each bumps the generation that readers watch."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._store = oxigraph().Store(str(self.folder / DATA_DIR))

    def __repr__(self) -> str:
        return f"GraphStore({str(self.folder)!r}, quads={len(self)})"

    def __len__(self) -> int:
        return len(self._store)

    @property
    def store(self) -> Any:
        """The pyoxigraph ``Store`` (for in-process reads that need no deadline)."""
        return self._store

    def _bump(self) -> None:
        self._store.flush()
        tmp = self.folder / (GENERATION_FILE + ".tmp")
        tmp.write_text(str(generation(self.folder) + 1))
        tmp.replace(self.folder / GENERATION_FILE)

    def extend(self, quads: Iterable[Any]) -> None:
        """Add quads (pyoxigraph ``Quad`` or ``Triple``) in one bulk load."""
        self._store.bulk_extend(quads)
        self._bump()

    def replace(self, quads: Iterable[Any]) -> None:
        """Replace the whole content with ``quads``."""
        self._store.clear()
        self._store.bulk_extend(quads)
        self._bump()

    def load_text(self, data: str | bytes, fmt: str = "nt") -> None:
        """Add RDF text: ``nt`` (N-Triples), ``nq``, ``ttl``, ``trig``."""
        ox = oxigraph()
        formats = {"nt": ox.RdfFormat.N_TRIPLES, "nq": ox.RdfFormat.N_QUADS,
                   "ttl": ox.RdfFormat.TURTLE, "trig": ox.RdfFormat.TRIG}
        self._store.bulk_load(data, format=formats[fmt])
        self._bump()

    def query(self, sparql: str, **kwargs: Any) -> Any:
        """Run a query in this process (no deadline): for trusted, bounded queries."""
        return self._store.query(sparql, **kwargs)

    def close(self) -> None:
        self._store.flush()
        self._store = None
