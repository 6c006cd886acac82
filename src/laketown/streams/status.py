"""Status files of running stream jobs (sinks, processors), read by the console and the CLI.

Each job rewrites ``<workspace>/jobs/<name>.json`` atomically after each commit, so any
process can see what runs, how fast, and how far behind it is.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

STALE_AFTER_S = 30.0


def jobs_dir(workspace: Path) -> Path:
    return Path(workspace) / "jobs"


def write_status(workspace: Path, name: str, status: dict[str, Any]) -> None:
    """Atomically replace the status file of job ``name``."""
    folder = jobs_dir(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    data = {"name": name, "pid": os.getpid(), "updated_at": time.time(), **status}
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, folder / f"{name}.json")


def read_statuses(workspace: Path) -> list[dict[str, Any]]:
    """Every job's last status, with ``running`` false when it has not reported for a while."""
    out = []
    folder = jobs_dir(workspace)
    if not folder.is_dir():
        return out
    now = time.time()
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        data["running"] = now - data.get("updated_at", 0) < STALE_AFTER_S
        out.append(data)
    return out
