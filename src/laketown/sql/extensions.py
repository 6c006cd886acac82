"""DuckDB extensions loaded offline, by path, from the ``duckdb-extension-*`` wheels.

Nothing is ever downloaded: autoinstall and autoload stay off and each extension file is
found inside its installed Python package.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import duckdb

from laketown.errors import MissingExtraError

# extension -> (python package, pip extra that installs it; None for core deps)
_PACKAGES = {
    "avro": ("duckdb_extension_avro", None),
    "iceberg": ("duckdb_extension_iceberg", None),
    "httpfs": ("duckdb_extension_httpfs", "s3"),
}


def extension_path(name: str) -> Path:
    """Path of the ``.duckdb_extension`` file for this DuckDB version."""
    package, extra = _PACKAGES[name]
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise MissingExtraError(f"DuckDB's {name} extension", extra or "core", exc) from exc
    root = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    path = root / f"{name}.duckdb_extension"
    if not path.is_file():
        found = sorted(p.name for p in (Path(module.__file__).parent / "extensions").iterdir())
        raise MissingExtraError(
            f"DuckDB {duckdb.__version__}'s {name} extension (the wheel has {', '.join(found)})",
            extra or "core",
        )
    return path


def load(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """LOAD each extension by path; avro comes before iceberg, which needs it."""
    for name in names:
        con.execute(f"LOAD '{extension_path(name)}'")


def connection_config() -> dict[str, str]:
    """Settings every Laketown DuckDB connection starts with: no downloads, ever."""
    return {
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "allow_community_extensions": "false",
    }
