"""One small Customer 360 workspace built end to end, shared (read-only) by the API and the
browser tests of a session: a first delivery resolved from scratch, then a second delivery
(new people, recent rows) through a scheduled refresh that resolves incrementally."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_BUILT: dict[str, Any] = {}


def built_workspace(tmp_path_factory: Any) -> tuple[Path, dict[str, Any]]:
    """(workspace folder, metrics of both runs); built on the first call of a session."""
    if "path" not in _BUILT:
        import laketown
        from laketown.apps.customer360 import pipeline, sources, standardize
        from laketown.apps.customer360.generator import generate

        path = tmp_path_factory.mktemp("c360") / "ws"
        with laketown.connect(path) as ws:
            first = sources.play_sources(ws, generate(700, seed=11))
            sources.ingest_all(ws)
            standardize.run(ws)
            rebuild = pipeline.resolve(ws)
            second = sources.play_sources(ws, generate(150, seed=11, batch=1), tag="batch1")
            metrics = pipeline.refresh(ws)
        _BUILT["path"] = path
        _BUILT["metrics"] = {**metrics, "first": first, "second": second, "rebuild": rebuild}
    return _BUILT["path"], _BUILT["metrics"]
