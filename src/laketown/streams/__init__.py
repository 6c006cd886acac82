"""Streams: the :class:`~laketown.streams.base.StreamBackend` interface and its backends
(an embedded durable log, Kafka). :func:`open_backend` builds the configured one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from laketown.errors import ConfigError

if TYPE_CHECKING:
    from laketown.config import Settings
    from laketown.streams.base import StreamBackend


def open_backend(settings: Settings) -> StreamBackend:
    """The streams backend named by ``settings.streams.backend`` (imported only now).

    embedded: a log under ``<workspace>/streams``; kafka: the cluster at
    ``settings.streams.bootstrap_servers`` with ``settings.streams.properties``."""
    from laketown import registry

    conf = settings.streams
    cls = registry.load("streams", conf.backend)
    if conf.backend == "embedded":
        return cls(settings.workspace / "streams", fsync_every=conf.fsync_every)
    if not conf.bootstrap_servers:
        raise ConfigError(
            f"streams backend {conf.backend!r} needs streams.bootstrap_servers, e.g. '127.0.0.1:9092' "
            "(laketown.toml [streams] bootstrap_servers, or LAKETOWN__STREAMS__BOOTSTRAP_SERVERS)"
        )
    return cls(conf.bootstrap_servers, dict(conf.properties))
