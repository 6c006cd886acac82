"""Where a resolver keeps its working state: Arrow IPC files (LZ4, written and read near
memory speed: an increment over a million records is bound by them) and the trained model
under ``<workspace>/<name>/identity/``, each replaced atomically (write, then rename), so a
crash leaves the previous complete version. The lake tables are the published outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyarrow import feather


class StateDir:
    """The files of one resolver; tables read or written stay in memory for the next call
    (a long-lived resolver, such as the API's, then reads each file once)."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self._memo: dict[str, tuple[int, pa.Table]] = {}  # name -> (file mtime, table)

    def has(self, name: str) -> bool:
        return (self.path / name).exists()

    def read(self, name: str) -> pa.Table | None:
        file = self.path / f"{name}.arrow"
        try:
            mtime = file.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        hit = self._memo.get(name)
        if hit is None or hit[0] != mtime:  # another process may have written it since
            hit = self._memo[name] = (mtime, feather.read_table(file, memory_map=False))
        return hit[1]

    def write(self, name: str, table: pa.Table) -> None:
        file = self.path / f"{name}.arrow"
        tmp = file.with_suffix(".arrow.tmp")
        feather.write_feather(table, tmp, compression="lz4")
        os.replace(tmp, file)
        self._memo[name] = (file.stat().st_mtime_ns, table)

    def read_json(self, name: str) -> Any:
        file = self.path / f"{name}.json"
        return json.loads(file.read_text()) if file.exists() else None

    def write_json(self, name: str, obj: Any) -> None:
        file = self.path / f"{name}.json"
        tmp = file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(obj, indent=1, default=str))
        os.replace(tmp, file)
