"""Typed settings: defaults < ``laketown.toml`` < ``LAKETOWN__SECTION__KEY`` env < keyword arguments.

Every section is a pydantic model with ``extra="forbid"``, so a typo fails at load time with
the key and the allowed ones named.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from laketown.errors import ConfigError

ENV_PREFIX = "LAKETOWN__"
CONFIG_FILE = "laketown.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CatalogSettings(_Section):
    """Where the Iceberg catalog lives. The URI scheme picks the backend when no type is given:
    ``sqlite:`` -> sql, ``postgresql:`` -> postgres, ``http(s):`` -> rest."""

    type: Literal["sql", "postgres", "rest"] | None = None
    name: str = "laketown"  # several catalogs may share one SQL database under different names
    uri: str | None = None  # default: sqlite file inside the workspace
    warehouse: str | None = None  # default: <workspace>/warehouse; or s3://bucket/prefix; REST: its warehouse name
    data_root: str | None = None  # where data files live, the only place SQL may read (default: derived)
    properties: dict[str, str] = Field(default_factory=dict)  # passed to pyiceberg as-is

    def backend(self) -> str:
        if self.type:
            return self.type
        uri = self.uri or ""
        if uri.startswith(("postgresql", "postgres:")):
            return "postgres"
        if uri.startswith(("http://", "https://")):
            return "rest"
        return "sql"


class StorageSettings(_Section):
    """Object storage credentials, used when the warehouse is on ``s3://``."""

    s3_endpoint: str | None = None  # e.g. http://127.0.0.1:8333 for SeaweedFS/MinIO
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    s3_path_style: bool = True


class SqlSettings(_Section):
    principal: str = "admin"
    max_rows: int = Field(10_000, ge=1)
    timeout_s: float = Field(30.0, gt=0)
    threads: int | None = Field(None, ge=1)
    memory_limit: str | None = None


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    auth: bool = True  # every /api request needs an API key; false only for a trusted single user


class StreamSettings(_Section):
    backend: Literal["embedded", "kafka"] = "embedded"
    bootstrap_servers: str | None = None  # kafka
    properties: dict[str, str] = Field(default_factory=dict)  # passed to the client as-is
    fsync_every: int = Field(1000, ge=0)  # embedded: fsync after this many records (0: every batch)


class IotSettings(_Section):
    """The IoT app: which MQTT broker carries device traffic (``amqtt`` in-process, or the
    ``mosquitto`` Debian package as a child process; the same code path for both)."""

    broker: Literal["amqtt", "mosquitto"] = "amqtt"


class C360Settings(_Section):
    """The Customer 360 app: its e-commerce source database and the recommendations API that
    next-best actions call when it is there."""

    shop_db: str | None = None  # a SQLAlchemy URL (PostgreSQL); SQLite in the workspace if unset
    recs_url: str | None = None  # e.g. http://127.0.0.1:8000 (the recs app's /api/recs)
    recs_key: SecretStr | None = None  # API key for recs_url; never printed


class Settings(_Section):
    workspace: Path = Path("./laketown-data")
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    sql: SqlSettings = Field(default_factory=SqlSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    streams: StreamSettings = Field(default_factory=StreamSettings)
    iot: IotSettings = Field(default_factory=IotSettings)
    c360: C360Settings = Field(default_factory=C360Settings)

    @property
    def catalog_uri(self) -> str:
        return self.catalog.uri or f"sqlite:///{(self.workspace / 'catalog.db').resolve()}"

    @property
    def warehouse(self) -> str:
        if self.catalog.warehouse:
            return self.catalog.warehouse
        return (self.workspace / "warehouse").resolve().as_uri()

    @property
    def data_root(self) -> str:
        """The folder or bucket prefix holding the tables' files (SQL may read only there).
        A REST catalog's warehouse that is a name, not a URI, is taken as an S3 bucket of that
        name (as SeaweedFS and S3 Tables lay it out); set ``catalog.data_root`` otherwise."""
        if self.catalog.data_root:
            return self.catalog.data_root
        wh = self.warehouse
        if "://" in wh:
            return wh
        if self.catalog.backend() == "rest":
            return f"s3://{wh}/"
        return Path(wh).resolve().as_uri()


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _from_env(environ: dict[str, str]) -> dict[str, Any]:
    """``LAKETOWN__CATALOG__URI=...`` -> ``{"catalog": {"uri": ...}}``; ``LAKETOWN__WORKSPACE``."""
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__") if p]
        if not parts:
            continue
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {name} conflicts with another LAKETOWN__ variable")
        node[parts[-1]] = value
    return out


def _explain(exc: ValidationError, origin: str) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            model: type[BaseModel] = Settings
            for part in err["loc"][:-1]:
                model = model.model_fields[str(part)].annotation  # type: ignore[assignment]
            allowed = ", ".join(model.model_fields)
            lines.append(f"unknown setting {loc!r}; allowed here: {allowed}")
        else:
            lines.append(f"setting {loc!r}: {err['msg']} (got {err.get('input')!r})")
    return ConfigError(f"invalid configuration from {origin}: " + "; ".join(lines))


def load_settings(
    config_file: str | Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings from defaults, a TOML file, the environment and keyword arguments.

    The TOML file is ``config_file`` if given, else ``laketown.toml`` in the workspace folder
    (from env/kwargs) or in the current directory. Keyword arguments may be nested dicts
    (``catalog={"uri": ...}``) or ``section__key=value``.
    """
    environ = dict(os.environ if environ is None else environ)
    env_layer = _from_env(environ)
    kw_layer: dict[str, Any] = {}
    for key, value in overrides.items():
        if "__" in key:
            section, _, sub = key.partition("__")
            kw_layer = _deep_merge(kw_layer, {section: {sub: value}})
        else:
            kw_layer = _deep_merge(kw_layer, {key: value})

    file_layer: dict[str, Any] = {}
    path = Path(config_file) if config_file else None
    if path is None:
        ws = kw_layer.get("workspace") or env_layer.get("workspace")
        for candidate in ([Path(ws) / CONFIG_FILE] if ws else []) + [Path(CONFIG_FILE)]:
            if candidate.is_file():
                path = candidate
                break
    elif not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; create it or leave it out")
    if path is not None:
        try:
            file_layer = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from exc

    merged: dict[str, Any] = {}
    for layer, origin in ((file_layer, f"file {path}"), (env_layer, "environment"), (kw_layer, "arguments")):
        try:  # validate each layer alone first so the error names where the bad key came from
            Settings.model_validate(layer)
        except ValidationError as exc:
            if any(e["type"] == "extra_forbidden" for e in exc.errors()):
                raise _explain(exc, origin) from None
        merged = _deep_merge(merged, layer)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise _explain(exc, "settings") from None
