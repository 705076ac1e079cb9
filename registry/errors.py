"""Registry errors, and the one place database errors are translated into them.

RegistryError
├── NotFoundError            a named object does not exist for this team
├── InvalidInputError        a value is not allowed (names the field and the choices)
├── InvalidTransitionError   the stage machine has no such edge
├── ApprovalRequiredError    the target stage's policy names approvers
├── ConflictError            a concurrent writer changed the row first
├── SchemaOutOfDateError     the database is not at the migration head
└── DatabaseUnavailableError the database cannot be reached
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError


class RegistryError(Exception):
    """Base class of every error the registry raises."""


class NotFoundError(RegistryError):
    """A named object does not exist for this team."""


class InvalidInputError(RegistryError):
    """A value is not allowed; the message names the field and the allowed values."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidTransitionError(RegistryError):
    """The stage machine does not allow this move."""


class ApprovalRequiredError(RegistryError):
    """The target stage needs approvals; only the promote flow may enter it."""


class ConflictError(RegistryError):
    """Another writer changed the row first; re-read and retry."""

    retryable: ClassVar[bool] = True  # see adapters.call_rules.is_retryable


class SchemaOutOfDateError(RegistryError):
    """The database schema is behind the code."""


class DatabaseUnavailableError(RegistryError):
    """The database server cannot be reached."""

    retryable: ClassVar[bool] = True  # see adapters.call_rules.is_retryable


# SQLSTATEs of errors a concurrent writer causes: unique violation, serialization
# failure, deadlock. Anything else is a bug and should surface as such.
_CONFLICT_SQLSTATES = {"23505", "40001", "40P01"}


@contextmanager
def translate_database_errors(what: str) -> Iterator[None]:
    """Map driver errors raised while doing `what` to registry errors."""
    conflict = f"{what}: a concurrent change got there first; re-read and retry"
    try:
        yield
    except IntegrityError as exc:
        if _is_unique_violation(exc):
            raise ConflictError(conflict) from exc
        raise
    except OperationalError as exc:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate in _CONFLICT_SQLSTATES or "database is locked" in str(exc.orig):
            raise ConflictError(conflict) from exc
        raise DatabaseUnavailableError(f"{what}: the database is unavailable ({exc.orig})") from exc
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) in _CONFLICT_SQLSTATES:
            raise ConflictError(conflict) from exc
        raise


def _is_unique_violation(exc: IntegrityError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate == "23505" or "UNIQUE constraint failed" in str(exc.orig)
