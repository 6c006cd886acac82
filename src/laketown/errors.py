"""Errors Laketown raises. Each says what was wrong, with the value, and what to do."""


class LaketownError(Exception):
    """Base class of every error Laketown raises on purpose."""


class ConfigError(LaketownError, ValueError):
    """A setting is unknown, mistyped or inconsistent."""


class MissingExtraError(LaketownError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, what: str, extra: str, cause: BaseException | None = None):
        self.extra = extra
        detail = f" ({cause})" if cause else ""
        super().__init__(f"{what} needs the '{extra}' extra{detail}: pip install 'laketown[{extra}]'")


class TableNotFoundError(LaketownError, KeyError):
    """A table name does not exist in the catalog."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class SchemaMismatchError(LaketownError, ValueError):
    """Data written to a table does not match the table's schema."""


class SqlError(LaketownError):
    """A SQL statement failed: syntax, binding, permission or limit."""


class StreamError(LaketownError):
    """A stream operation failed: unknown stream, bad partition, closed producer."""


class AccessDeniedError(SqlError, PermissionError):
    """A principal asked for something its policies do not allow (audited as a denial; HTTP 403)."""
