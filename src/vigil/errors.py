"""vigil's own error hierarchy.

Every error carries a one-line, user-facing message that says what is wrong and what to do.
Payloads quoted in messages go through :func:`truncate` so that no unbounded (or secret-bearing)
content ends up in logs.
"""

from __future__ import annotations

EXIT_RUNTIME_FAILURE = 1
EXIT_BAD_USAGE = 2

_MAX_QUOTED = 200


def truncate(text: object, limit: int = _MAX_QUOTED) -> str:
    """Bound and sanitise a value before quoting it in an error or a log line."""
    raw = str(text)
    cleaned = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in raw[: limit + 1])
    if len(raw) > limit:
        return cleaned[:limit] + f"…(+{len(raw) - limit} chars)"
    return cleaned


class VigilError(Exception):
    """Base class: a failure vigil knows how to explain in one line."""

    exit_code = EXIT_RUNTIME_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(VigilError):
    """Invalid configuration or usage: exit code 2, names ``path:line:column`` as far as known."""

    exit_code = EXIT_BAD_USAGE

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if path and line and column:
            where = f"{path}:{line}:{column}: "
        elif path:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(where + message, hint=hint)
        self.path = path
        self.line = line
        self.column = column


class PrivilegeError(VigilError):
    """The agent needs privileges it does not have."""


class SensorError(VigilError):
    """The sensor cannot start or broke while running."""


class StoreError(VigilError):
    """The data directory or its database cannot be used."""


class RuntimeActionError(VigilError):
    """A response action could not be carried out."""


class ApiError(VigilError):
    """The running agent's API could not be reached or refused a request."""
