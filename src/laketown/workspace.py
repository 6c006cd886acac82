"""The workspace: one object that owns the lake, SQL, streams and models of a folder.

The CLI, the server and user code all hold the same kind of object (``laketown.connect()``).
Deleting the folder resets everything.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from laketown.config import CONFIG_FILE, Settings, load_settings
from laketown.errors import ConfigError

if TYPE_CHECKING:
    from laketown.governance import Governance
    from laketown.lake import Lake, LakeTable
    from laketown.sql import QueryResult, SqlEngine
    from laketown.streams.base import StreamBackend


class Workspace:
    """Lake, SQL and streams of one workspace folder, created lazily on first use."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.path: Path = settings.workspace.resolve()
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "cache").mkdir(exist_ok=True)

    @classmethod
    def open(cls, path_or_config: Any = None, **overrides: Any) -> Workspace:
        """From a folder, a ``laketown.toml`` file, a :class:`Settings`, or the environment."""
        if isinstance(path_or_config, Settings):
            if overrides:
                data = path_or_config.model_dump()
                data.update(overrides)
                return cls(Settings.model_validate(data))
            return cls(path_or_config)
        if path_or_config is None:
            return cls(load_settings(**overrides))
        path = Path(path_or_config)
        if path.suffix == ".toml":
            if not path.is_file():
                raise ConfigError(f"config file {str(path)!r} does not exist")
            overrides.setdefault("workspace", path.parent)
            return cls(load_settings(config_file=path, **overrides))
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{str(path)!r} is a file; give a workspace folder or a .toml config file")
        return cls(load_settings(workspace=path, **overrides))

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def cache_dir(self) -> Path:
        """Where fetched datasets and other caches live (inside the workspace)."""
        return self.path / "cache"

    # -- parts -----------------------------------------------------------------------------
    @cached_property
    def lake(self) -> Lake:
        from laketown.lake import Lake

        lake = Lake(self.settings)
        lake.write_hooks.append(self.governance.on_write)  # audit and catalog statistics
        return lake

    @cached_property
    def governance(self) -> Governance:
        """Principals, API keys, policies, tags and audit, stored in ``<workspace>/governance.db``."""
        from laketown.governance import Governance

        return Governance(self)

    @cached_property
    def sql_engine(self) -> SqlEngine:
        from laketown.sql import SqlEngine

        return SqlEngine(self.lake, self.settings, policy=self.governance)

    @cached_property
    def streams(self) -> StreamBackend:
        from laketown.streams import open_backend

        return open_backend(self.settings)

    # -- shortcuts -------------------------------------------------------------------------
    def table(self, name: str) -> LakeTable:
        return self.lake.table(name)

    def sql(self, query: str, params: Any = None, principal: str | None = None, **limits: Any) -> pa.Table:
        """Run read-only SQL over the lake's tables (``zone.table``); returns Arrow."""
        return self.sql_engine.query(query, params=params, principal=principal, **limits).table

    def query(self, query: str, params: Any = None, principal: str | None = None, **limits: Any) -> QueryResult:
        """Like :meth:`sql`, with the truncation flag, timing and principal."""
        return self.sql_engine.query(query, params=params, principal=principal, **limits)

    def write_config(self) -> Path:
        """Write the settings that differ from the defaults to ``<workspace>/laketown.toml``."""
        path = self.path / CONFIG_FILE
        if not path.exists():
            path.write_text(
                "# Laketown workspace settings. Precedence: defaults < this file < LAKETOWN__SECTION__KEY\n"
                "# environment variables < keyword arguments. See README.md for every key.\n"
                "[sql]\nmax_rows = 10000\ntimeout_s = 30\n\n[server]\nhost = \"127.0.0.1\"\nport = 8000\n"
            )
        return path

    def close(self) -> None:
        # governance first: its background statistics refresh still reads through the SQL engine
        for name in ("governance", "sql_engine", "lake", "streams"):
            part = self.__dict__.pop(name, None)
            if part is not None:
                part.close()
