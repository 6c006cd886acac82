"""The engagement app's settings: ``<workspace>/engagement.toml`` < ``LAKETOWN_ENGAGEMENT__KEY``
environment variables < keyword arguments. The SMTP password is never stored here: ``smtp_password_env``
names the environment variable that holds it."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from laketown.errors import ConfigError

ENV_PREFIX = "LAKETOWN_ENGAGEMENT__"
CONFIG_NAME = "engagement.toml"


class EngagementSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: "sink": the aiosmtpd sink of this workspace on 127.0.0.1; "relay": any SMTP server below
    smtp_mode: Literal["sink", "relay"] = "sink"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 0  # 0 with the sink: the port the running sink wrote to its state file
    smtp_starttls: bool = False
    smtp_ca_file: str | None = None  # CA bundle that signs a private relay's certificate
    smtp_username: str | None = None
    smtp_password_env: str | None = None  # the *name* of the env variable holding the password
    smtp_timeout_s: float = 10.0
    sender: str = "Laketown <news@laketown.local>"
    #: per-channel rate limits (messages per second; 0 = unlimited)
    email_rate_per_s: float = 0.0
    webhook_rate_per_s: float = 50.0
    #: retries of a transient failure (SMTP 4xx, connection errors, webhook 5xx) before a bounce
    max_attempts: int = 3
    retry_backoff_s: float = 0.5
    #: frequency cap across campaigns and journeys: at most N messages per user per window
    frequency_cap: int = 0  # 0 = no cap
    frequency_window_s: float = 86_400.0
    #: quiet hours in the user's timezone ("22:00"-"08:00"); empty = none
    quiet_start: str = ""
    quiet_end: str = ""
    default_timezone: str = "UTC"
    #: base URL of this server for tracking links, and of the recommendations API (when reachable)
    public_url: str | None = None  # default: http://<server.host>:<server.port> of the workspace
    recs_url: str | None = None
    recs_api_key_env: str | None = None
    #: how often the journey/campaign worker wakes up
    tick_s: float = 0.2
    #: fault injection for crash tests only: sleep between a send and its record
    pause_after_send_s: float = 0.0

    def smtp_password(self) -> str | None:
        return os.environ.get(self.smtp_password_env) if self.smtp_password_env else None


def load(ws: Any, **overrides: Any) -> EngagementSettings:
    """Settings for a workspace (file < environment < ``overrides``)."""
    data: dict[str, Any] = {}
    path = Path(ws.path) / CONFIG_NAME
    if path.is_file():
        try:
            data.update(tomllib.loads(path.read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or delete it") from None
    for key, value in os.environ.items():
        if key.startswith(ENV_PREFIX):
            data[key[len(ENV_PREFIX):].lower()] = value
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return EngagementSettings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"engagement setting {where!r}: {err['msg']} (got {err.get('input')!r}); "
                          f"see {CONFIG_NAME} keys in README 'Customer engagement'") from None


def app_dir(ws: Any) -> Path:
    """``<workspace>/engagement``: the operational database, the SMTP sink's mailbox, keys."""
    path = Path(ws.path) / "engagement"
    path.mkdir(parents=True, exist_ok=True)
    return path
