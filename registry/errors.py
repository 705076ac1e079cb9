"""Registry errors, and the one place database errors are translated into them.

RegistryError
├── NotFoundError            a named object does not exist for this team
├── InvalidInputError        a value is not allowed (names the field and the choices)
├── InvalidTransitionError   the stage machine has no such edge
├── ApprovalRequiredError    the target stage's policy names approvers
├── ConflictError            a concurrent writer changed the row first
├── SchemaOutOfDateError     the database is not at the migration head
├── DatabaseUnavailableError the database cannot be reached
└── DatabaseRefusedError     the database refused a statement for another reason

Messages never carry SQL text or bound parameters, only the driver's first line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
    StatementError,
)


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


class DatabaseRefusedError(RegistryError):
    """The database refused a statement (a constraint, a bug): never a user's fault alone."""


# SQLSTATEs of errors a concurrent writer causes: unique violation, serialization
# failure, deadlock. Anything else is a bug and should surface as such.
_CONFLICT_SQLSTATES = {"23505", "40001", "40P01"}


@contextmanager
def translate_database_errors(what: str) -> Iterator[None]:
    """Map driver errors raised while doing `what` to registry errors, without their SQL."""
    conflict = f"{what}: a concurrent change got there first; re-read and retry"
    try:
        yield
    except IntegrityError as exc:
        if _is_unique_violation(exc):
            raise ConflictError(conflict) from exc
        raise DatabaseRefusedError(f"{what}: {describe_database_error(exc)}") from exc
    except OperationalError as exc:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate in _CONFLICT_SQLSTATES or "database is locked" in str(exc.orig):
            raise ConflictError(conflict) from exc
        summary = describe_database_error(exc)
        raise DatabaseUnavailableError(f"{what}: the database is unavailable ({summary})") from exc
    except DataError as exc:
        raise _invalid_value(what, exc) from exc
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) in _CONFLICT_SQLSTATES:
            raise ConflictError(conflict) from exc
        raise DatabaseRefusedError(f"{what}: {describe_database_error(exc)}") from exc
    except (StatementError, OverflowError) as exc:
        # A value the driver could not bind: too large for SQLite, not representable.
        raise _invalid_value(what, exc) from exc


def _invalid_value(what: str, error: Exception) -> InvalidInputError:
    summary = describe_database_error(error) or f"{type(error).__name__}: {_first_line(error)}"
    return InvalidInputError(f"{what}: a value cannot be stored ({summary})", field="value")


def describe_database_error(error: BaseException) -> str | None:
    """`Kind: first line of the driver's message` for a database error, else None.

    SQLAlchemy's own text appends the statement and its parameters; the driver's first
    line names the problem without them.
    """
    if isinstance(error, StatementError) and error.orig is not None:
        return f"{type(error.orig).__name__}: {_first_line(error.orig)}"
    if isinstance(error, SQLAlchemyError):
        return f"{type(error).__name__}: {_first_line(error)}"
    return None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else "(no message)"


def _is_unique_violation(exc: IntegrityError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate == "23505" or "UNIQUE constraint failed" in str(exc.orig)
