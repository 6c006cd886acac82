"""The crawler (Glue crawler): point it at a folder or S3 prefix of CSV, JSON (one object a
line) or Parquet files; it infers the schema and ``key=value`` partition folders, registers
or updates a ``raw`` table, and loads files it has not loaded before.

Schema-change policy when the files bring columns the table lacks, or change a type:
``update`` adds the new columns to the table (types that changed are still only logged);
``log`` records the change and loads only the columns the table already has.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from laketown.governance.errors import GovernanceError
from laketown.governance.store import iso, now
from laketown.lake.schema import storable_schema

if TYPE_CHECKING:
    from laketown.governance import Governance

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS crawled_files (table_name TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,
       mtime_ns INTEGER NOT NULL, rows INTEGER NOT NULL, crawled_at TEXT NOT NULL, PRIMARY KEY (table_name, path))""",
    """CREATE TABLE IF NOT EXISTS crawler_log (id INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL,
       ts TEXT NOT NULL, change TEXT NOT NULL, applied INTEGER NOT NULL)""",
]
FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json", ".parquet": "parquet"}
POLICIES = ("update", "log")
#: files read to infer the schema (the rest are assumed to agree; a disagreement fails the load)
MAX_SCHEMA_FILES = 200


class Crawler:
    def __init__(self, governance: Governance):
        self.gov = governance
        self.store = governance.store
        for sql in SCHEMA:
            self.store.execute(sql)

    def _filesystem(self, location: str) -> tuple[pafs.FileSystem, str]:
        if location.startswith("s3://"):
            st = self.gov.ws.settings.storage
            scheme, _, host = (st.s3_endpoint or "").partition("://")
            fs = pafs.S3FileSystem(
                access_key=st.s3_access_key_id,
                secret_key=st.s3_secret_access_key.get_secret_value() if st.s3_secret_access_key else None,
                region=st.s3_region, endpoint_override=host or None, scheme=scheme or "https",
                force_virtual_addressing=not st.s3_path_style)
            return fs, location.removeprefix("s3://").rstrip("/")
        path = Path(location).expanduser().resolve()
        if not path.is_dir():
            raise GovernanceError(f"crawler: {location!r} is not a folder; give a folder or an s3:// prefix")
        return pafs.LocalFileSystem(), str(path)

    def crawl(self, location: str, table: str, schema_change: str = "update") -> dict[str, Any]:
        """Infer, register or update ``table`` (``raw.<name>``) from the files under
        ``location``, and append the rows of files not loaded before. Returns a summary."""
        if schema_change not in POLICIES:
            raise GovernanceError(f"unknown schema-change policy {schema_change!r}; use update or log")
        if not table.startswith("raw."):
            raise GovernanceError(f"the crawler registers raw tables; name it raw.<name>, not {table!r}")
        fs, root = self._filesystem(location)
        infos = [i for i in fs.get_file_info(pafs.FileSelector(root, recursive=True))
                 if i.type == pafs.FileType.File and Path(i.path).suffix.lower() in FORMATS
                 and not Path(i.path).name.startswith((".", "_"))]
        formats = {FORMATS[Path(i.path).suffix.lower()] for i in infos}
        if not infos:
            raise GovernanceError(f"crawler: no .csv, .json or .parquet files under {location!r}")
        if len(formats) > 1:
            raise GovernanceError(f"crawler: {location!r} mixes formats {sorted(formats)}; crawl one format per prefix")
        fmt = formats.pop()
        done = {r["path"]: (r["size"], r["mtime_ns"]) for r in self.store.rows(
            "SELECT path, size, mtime_ns FROM crawled_files WHERE table_name = ?", [table])}
        new = [i for i in infos if done.get(i.path) != (i.size, i.mtime_ns or 0)]
        partitioning = pads.HivePartitioning.discover(infer_dictionary=False)
        discovered = pads.dataset([i.path for i in infos], format=fmt, filesystem=fs, partitioning=partitioning,
                                  partition_base_dir=root)
        part_schema = discovered.partitioning.schema if discovered.partitioning else pa.schema([])
        # each file's own schema, unified (int in one CSV, float in another -> float)
        per_file = [pads.dataset([i.path], format=fmt, filesystem=fs).schema for i in infos[:MAX_SCHEMA_FILES]]
        file_schema = pa.unify_schemas(per_file, promote_options="permissive")
        full_schema = pa.unify_schemas([file_schema, part_schema], promote_options="permissive")
        dataset = pads.dataset([i.path for i in infos], format=fmt, filesystem=fs, partitioning=partitioning,
                               partition_base_dir=root, schema=full_schema)
        inferred = storable_schema(full_schema)
        partition_keys = [f.name for f in part_schema]
        lake = self.gov.ws.lake
        changes: list[str] = []
        if not lake.exists(table):
            target = lake.create_table(table, schema=inferred, partition_by=partition_keys)
            changes.append(f"created {table} with {', '.join(inferred.names)}; partitions: {', '.join(partition_keys) or 'none'}")
            self._log(table, changes[-1], True)
        else:
            target = lake.table(table)
            current = {f.name: f.type for f in target.schema}
            for f in inferred:
                if f.name not in current:
                    change = f"new column {f.name} ({f.type})"
                    if schema_change == "update":
                        target.add_column(f.name, f.type)
                    self._log(table, change, schema_change == "update")
                    changes.append(change)
                elif current[f.name] != f.type:
                    change = f"column {f.name} changed type {current[f.name]} -> {f.type}; kept {current[f.name]}"
                    self._log(table, change, False)
                    changes.append(change)
        keep = [n for n in target.schema.names if n in inferred.names]
        rows = 0
        for info in new:
            part = pads.dataset([info.path], format=fmt, filesystem=fs, partitioning=partitioning,
                                partition_base_dir=root, schema=dataset.schema)
            data = part.to_table(columns=keep)
            data = data.cast(pa.schema([target.schema.field(n) for n in keep]), safe=False) if data.num_rows else data
            n = target.append(data) if data.num_rows else 0
            rows += n
            self.store.execute(
                "INSERT INTO crawled_files VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (table_name, path) DO UPDATE SET "
                "size = excluded.size, mtime_ns = excluded.mtime_ns, rows = excluded.rows, crawled_at = excluded.crawled_at",
                [table, info.path, info.size, info.mtime_ns or 0, n, iso(now())])
        if rows:
            self.gov.lineage.record(f"crawler:{location}", [], [table])
        return {"table": table, "format": fmt, "files": len(infos), "new_files": len(new), "rows": rows,
                "partitions": partition_keys, "changes": changes}

    def _log(self, table: str, change: str, applied: bool) -> None:
        self.store.execute("INSERT INTO crawler_log (table_name, ts, change, applied) VALUES (?, ?, ?, ?)",
                           [table, iso(now()), change, int(applied)])

    def log(self, table: str) -> list[dict[str, Any]]:
        """Schema changes the crawler saw for ``table``, oldest first, and whether it applied them."""
        return [dict(r) for r in self.store.rows("SELECT * FROM crawler_log WHERE table_name = ? ORDER BY id", [table])]



