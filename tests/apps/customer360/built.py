"""One small Customer 360 workspace built end to end, shared (read-only) by the API and the
browser tests of a session: building it resolves identities, which takes a few seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_BUILT: dict[str, Any] = {}


def built_workspace(tmp_path_factory: Any) -> tuple[Path, dict[str, Any]]:
    """(workspace folder, run_all metrics); built on first call."""
    if "path" not in _BUILT:
        import laketown
        from laketown.apps.customer360 import pipeline

        path = tmp_path_factory.mktemp("c360") / "ws"
        with laketown.connect(path) as ws:
            _BUILT["metrics"] = pipeline.run_all(ws, records=1500, seed=11)
        _BUILT["path"] = path
    return _BUILT["path"], _BUILT["metrics"]
