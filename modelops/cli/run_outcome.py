"""How a finished flow run is reported: one line saying what failed and why, and the exit code.

A run here hands back its exception; a run on a worker only its state message, which names
the exception's type (`Flow run encountered an exception: DatasetError: …`). Both are
judged by the same list of errors that mean the input was wrong.
"""

from __future__ import annotations

import re

from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import ParameterBindError, ParameterTypeError, SignatureMismatchError
from pydantic import ValidationError

from adapters.chat_jsonl import ChatJsonlError
from adapters.errors import ConfigurationError
from modelops.cli.errors import BAD_INPUT, FAILURE, CliError, exit_code_for
from registry.errors import RegistryError
from tasks.dataset import DatasetError
from tasks.evaluation_dataset import EvalDatasetError
from tasks.evaluation_plan import EvaluationInputError

# Failures that mean the parameters or the data were wrong: fix them and run again.
BAD_INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ValidationError,
    ParameterTypeError,
    ParameterBindError,
    SignatureMismatchError,
    DatasetError,
    EvalDatasetError,
    EvaluationInputError,
    ChatJsonlError,
    ConfigurationError,
)
# Prefect's message for a run that raised: "<prefix> <ExceptionType>: <message>".
_RAISED = re.compile(
    r"^(?:Flow run encountered an exception:\s*)?(?P<kind>\w+): (?P<why>.*)$", re.DOTALL
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


class FlowRunFailed(CliError):
    """A run ended in a state other than Completed; the message is the one line to print."""


def exit_code_of(error: BaseException) -> int:
    if isinstance(error, RegistryError):
        return exit_code_for(error)
    return BAD_INPUT if isinstance(error, BAD_INPUT_ERRORS) else FAILURE


def exit_code_by_name(kind: str) -> int:
    """For a run whose exception is known only by its type's name (it ran elsewhere)."""
    return BAD_INPUT if kind in _bad_input_names() else FAILURE


def _bad_input_names() -> set[str]:
    names = {kind.__name__ for kind in _with_subclasses(BAD_INPUT_ERRORS)}
    for kind in _with_subclasses((RegistryError,)):
        # exit_code_for judges instances: a bare one (no __init__) is enough to ask it.
        if exit_code_for(kind.__new__(kind)) == BAD_INPUT:  # type: ignore[arg-type]
            names.add(kind.__name__)
    return names


def _with_subclasses(kinds: tuple[type[BaseException], ...]) -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    pending = list(kinds)
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


def failure(flow: str, run: FlowRun, error: BaseException | None = None) -> FlowRunFailed:
    """The one line for a run that did not complete, and its exit code: from the exception
    when the run was here, else from what the state message says about it."""
    state = run.state
    state_name = state.name if state else "unknown"
    message = (state.message if state else None) or ""
    raised = _RAISED.match(message.strip())
    if error is not None:
        why, code = f"{type(error).__name__}: {error}", exit_code_of(error)
    elif raised and state is not None and state.type is StateType.FAILED:
        why, code = f"{raised['kind']}: {raised['why']}", exit_code_by_name(raised["kind"])
    else:
        why, code = message or "no reason given", FAILURE
    return FlowRunFailed(
        f"{flow} run {run.name!r} ended {state_name}: {one_line(why)} "
        f"(flow run {run.id}; its logs: prefect flow-run logs {run.id})",
        exit_code=code,
    )


def one_line(text: str) -> str:
    """Text that came from a run (an exception, a state message) as one printable line."""
    return " ".join(_CONTROL.sub(" ", text).split())
