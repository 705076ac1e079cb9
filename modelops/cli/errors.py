"""The CLI's error boundary: every known failure becomes a message and an exit code.

Exit 2 means the input was wrong (fix the command, the files or the environment); exit 1
means the world was (a conflict, an unreachable database, a provider outage). The registry
and pydantic are imported only when one of their errors is being described.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

    from registry.errors import RegistryError

BAD_INPUT = 2
FAILURE = 1
DEBUG_HINT = "set MODELOPS_DEBUG=1 for details"


class CliError(Exception):
    """A failure the CLI reports as-is, with its exit code."""

    def __init__(self, message: str, *, exit_code: int = FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class BadInput(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=BAD_INPUT)


def describe_failure(error: Exception) -> tuple[str, int]:
    """The message and exit code for any exception that reached the boundary; never SQL."""
    if isinstance(error, CliError):
        return str(error), error.exit_code
    from modelops.settings import ConfigurationError

    if isinstance(error, ConfigurationError):
        return str(error), BAD_INPUT
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        return describe_validation_error(error), BAD_INPUT
    from registry.errors import RegistryError, describe_database_error

    if isinstance(error, RegistryError):
        return str(error), exit_code_for(error)
    database_error = describe_database_error(error)
    if database_error is not None:
        return f"unexpected database error: {database_error} ({DEBUG_HINT})", FAILURE
    return f"unexpected {type(error).__name__}: {error} ({DEBUG_HINT})", FAILURE


def exit_code_for(error: RegistryError) -> int:
    from registry.errors import (
        ApprovalRequiredError,
        InvalidInputError,
        InvalidTransitionError,
        NotFoundError,
    )

    bad_input = (NotFoundError, InvalidInputError, InvalidTransitionError, ApprovalRequiredError)
    return BAD_INPUT if isinstance(error, bad_input) else FAILURE


def describe_validation_error(error: ValidationError, *, prefix: str = "") -> str:
    """One line per problem: the field path and what is wrong."""
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"]) or "(root)"
        lines.append(f"{prefix}{location}: {problem['msg']}")
    return "\n".join(lines)
