"""Backend short names -> classes, imported only when asked for.

A backend lives in its own module; importing ``laketown`` imports none of them. When the
module needs an optional dependency that is missing, the error names the extra to install.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from laketown.errors import ConfigError, MissingExtraError


@dataclass(frozen=True)
class BackendSpec:
    kind: str
    name: str
    target: str  # "package.module:Class"
    extra: str | None = None  # pip extra that provides its dependencies


_BACKENDS: dict[tuple[str, str], BackendSpec] = {}


def register(kind: str, name: str, target: str, extra: str | None = None) -> None:
    """Register a backend class by dotted path; nothing is imported until :func:`load`."""
    _BACKENDS[(kind, name)] = BackendSpec(kind, name, target, extra)


def names(kind: str) -> list[str]:
    """Short names registered for a backend kind, sorted."""
    return sorted(name for (k, name) in _BACKENDS if k == kind)


def load(kind: str, name: str) -> type:
    """Import and return the class registered as ``name`` for ``kind``."""
    spec = _BACKENDS.get((kind, name))
    if spec is None:
        raise ConfigError(
            f"unknown {kind} backend {name!r}; known {kind} backends: {', '.join(names(kind)) or 'none'}"
        )
    module_name, _, attr = spec.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if spec.extra and exc.name and not exc.name.startswith("laketown"):
            raise MissingExtraError(f"the {kind} backend {name!r}", spec.extra, exc) from exc
        raise
    return getattr(module, attr)


# Built-in backends. Third-party packages may call register() for their own.
register("catalog", "sql", "laketown.lake.catalogs:SqlCatalogBackend")
register("catalog", "postgres", "laketown.lake.catalogs:PostgresCatalogBackend", extra="postgres")
register("catalog", "rest", "laketown.lake.catalogs:RestCatalogBackend")
register("streams", "embedded", "laketown.streams.backends.embedded:EmbeddedStreams")
register("streams", "kafka", "laketown.streams.backends.kafka:KafkaStreams", extra="kafka")
