"""Where a resolver keeps its working state: Parquet files and the trained model under
``<workspace>/<name>/identity/``, each replaced atomically (write, then rename), so a crash
leaves the previous complete version. The lake tables are the published outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


class StateDir:
    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def has(self, name: str) -> bool:
        return (self.path / name).exists()

    def read(self, name: str) -> pa.Table | None:
        file = self.path / f"{name}.parquet"
        return pq.read_table(file) if file.exists() else None

    def write(self, name: str, table: pa.Table) -> None:
        file = self.path / f"{name}.parquet"
        tmp = file.with_suffix(".parquet.tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, file)

    def read_json(self, name: str) -> Any:
        file = self.path / f"{name}.json"
        return json.loads(file.read_text()) if file.exists() else None

    def write_json(self, name: str, obj: Any) -> None:
        file = self.path / f"{name}.json"
        tmp = file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(obj, indent=1, default=str))
        os.replace(tmp, file)
