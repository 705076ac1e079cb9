"""The CLI's error boundary: every known failure becomes a message and an exit code.

Exit 2 means the input was wrong (fix the command or the files); exit 1 means the
world was (a conflict, an unreachable database, a provider outage).
"""

from __future__ import annotations

from pydantic import ValidationError

from registry.errors import (
    ApprovalRequiredError,
    ConflictError,
    DatabaseUnavailableError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    RegistryError,
    SchemaOutOfDateError,
)

BAD_INPUT = 2
FAILURE = 1


class CliError(Exception):
    """A failure the CLI reports as-is, with its exit code."""

    def __init__(self, message: str, *, exit_code: int = FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class BadInput(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=BAD_INPUT)


_EXIT_CODES: dict[type[RegistryError], int] = {
    NotFoundError: BAD_INPUT,
    InvalidInputError: BAD_INPUT,
    InvalidTransitionError: BAD_INPUT,
    ApprovalRequiredError: BAD_INPUT,
    ConflictError: FAILURE,
    SchemaOutOfDateError: FAILURE,
    DatabaseUnavailableError: FAILURE,
}


def exit_code_for(error: RegistryError) -> int:
    for kind, code in _EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return FAILURE


def describe_validation_error(error: ValidationError, *, prefix: str = "") -> str:
    """One line per problem: the field path, what is wrong, the input given."""
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"]) or "(root)"
        lines.append(f"{prefix}{location}: {problem['msg']}")
    return "\n".join(lines)
