"""A child process for the crash tests: ``python -m tests.apps.customer360.source_worker
WORKSPACE landing claimed|landed``. It prints READY at the chosen point of the CRM landing
ingest and waits there to be killed with SIGKILL."""

from __future__ import annotations

import sys
import time

import laketown
from laketown.apps.customer360 import landing


def _stop_here(_path) -> None:
    print("READY", flush=True)
    time.sleep(600)


def main(workspace: str, point: str) -> None:
    ws = laketown.connect(workspace)
    hooks = {"claimed": {"on_claimed": _stop_here}, "landed": {"on_landed": _stop_here}}[point]
    landing.ingest(ws, **hooks)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
