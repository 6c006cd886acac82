"""A pyoxigraph store on disk, written by one process, read by query workers.

Readers never share the writer's handle: :class:`~laketown.graph.runner.QueryRunner` workers
open the current store read-only and reopen it when the *generation* file changes. A
:meth:`GraphStore.replace` builds the new content in a fresh folder and only then points the
generation at it, so readers never see a half-built graph, and a reader still on the
previous folder keeps working (the one before that is removed).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from laketown.errors import MissingExtraError

GENERATION_FILE = "generation"  # which store-<n> folder is current
VERSION_FILE = "version"  # bumped on every commit: readers reopen when it changes


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


def version(folder: str | Path) -> int:
    """A number that changes with every commit to the store in ``folder``."""
    try:
        return int((Path(folder) / VERSION_FILE).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def data_dir(folder: str | Path, gen: int | None = None) -> Path:
    """The RocksDB folder holding generation ``gen`` (the current one by default)."""
    folder = Path(folder)
    gen = generation(folder) if gen is None else gen
    return folder / f"store-{gen}"


class GraphStore:
    """An RDF store in ``folder`` (created when missing). Writes go through :meth:`replace`
    or :meth:`extend`; each bumps the generation that readers watch."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._store = oxigraph().Store(str(data_dir(self.folder)))

    def __repr__(self) -> str:
        return f"GraphStore({str(self.folder)!r}, quads={len(self)})"

    def __len__(self) -> int:
        return len(self._store)

    @property
    def store(self) -> Any:
        """The pyoxigraph ``Store`` (for in-process reads that need no deadline)."""
        return self._store

    def _set_generation(self, gen: int) -> None:
        tmp = self.folder / (GENERATION_FILE + ".tmp")
        tmp.write_text(str(gen))
        tmp.replace(self.folder / GENERATION_FILE)

    def _bump_version(self) -> None:
        tmp = self.folder / (VERSION_FILE + ".tmp")
        tmp.write_text(str(version(self.folder) + 1))
        tmp.replace(self.folder / VERSION_FILE)

    def extend(self, quads: Iterable[Any]) -> None:
        """Add quads (pyoxigraph ``Quad``) in one bulk load, in place."""
        self._store.bulk_extend(quads)
        self._store.flush()
        self._bump_version()

    def replace(self, quads: Iterable[Any]) -> None:
        """Replace the whole content with ``quads``: built aside, then switched to."""
        self._switch(lambda store: store.bulk_extend(quads))

    def replace_text(self, chunks: Iterable[bytes | str], fmt: str = "nt") -> None:
        """Replace the whole content with RDF text (``nt``, ``nq``, ``ttl``, ``trig``), given in
        chunks of whole statements; parsed and loaded in bulk by pyoxigraph (fast)."""
        ox = oxigraph()
        formats = {"nt": ox.RdfFormat.N_TRIPLES, "nq": ox.RdfFormat.N_QUADS,
                   "ttl": ox.RdfFormat.TURTLE, "trig": ox.RdfFormat.TRIG}

        def load(store: Any) -> None:
            for chunk in chunks:
                if chunk:
                    store.bulk_load(chunk, format=formats[fmt])

        self._switch(load)

    def _switch(self, fill: Any) -> None:
        ox = oxigraph()
        old = generation(self.folder)
        new = old + 1
        target = data_dir(self.folder, new)
        if target.exists():  # left by a crashed build
            shutil.rmtree(target)
        fresh = ox.Store(str(target))
        fill(fresh)
        fresh.flush()
        self._store = fresh
        self._set_generation(new)
        self._bump_version()
        for stale in self.folder.glob("store-*"):
            suffix = stale.name.removeprefix("store-")
            if suffix.isdigit() and int(suffix) < old:
                shutil.rmtree(stale, ignore_errors=True)

    def query(self, sparql: str, **kwargs: Any) -> Any:
        """Run a query in this process (no deadline): for trusted, bounded queries."""
        return self._store.query(sparql, **kwargs)

    def close(self) -> None:
        self._store.flush()
        self._store = None
