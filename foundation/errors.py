"""Domain errors raised by use cases; the web layer maps them to HTTP statuses."""

from __future__ import annotations


class DomainError(Exception):
    """Bad input or a state that forbids the change; nothing was changed."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The thing asked for does not exist."""


class Invalid(DomainError):
    """The input is well-formed but not acceptable (unknown team, end before start, ...)."""


class Conflict(DomainError):
    """The change collides with existing data (overlapping shift, double booking, ...)."""
