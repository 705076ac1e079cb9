"""Prefect in a modelops command: no telemetry unless asked for, no traceback on the terminal,
and an ephemeral API that dies with the command. Shared by `modelops run` and the demo."""

from __future__ import annotations

import logging
import os
from pathlib import Path

# Prefect's server reports usage to Prefect unless told not to, and so does its SDK.
QUIET_DEFAULTS = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
# Loggers of flow and task runs: their errors are failure reports the command prints once.
RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
# Loggers whose handlers write to the terminal in Prefect's logging.yml.
TERMINAL_LOGGERS = ("", "prefect._internal", "uvicorn", "fastapi")
SERVER_LOG = "ephemeral-server.log"


class EphemeralApiError(RuntimeError):
    """Prefect's ephemeral API server did not come up; the message names its log."""


def use_quiet_defaults() -> None:
    """Turn Prefect's telemetry off unless the user set these variables. Call it before
    Prefect is imported: its SDK reads DO_NOT_TRACK on import."""
    for name, value in QUIET_DEFAULTS.items():
        os.environ.setdefault(name, value)


def prepare_prefect(*, start_api: bool) -> str | None:
    """Quiet defaults and terminal logging for this process; with `start_api`, the ephemeral
    API (unless PREFECT_API_URL names a server), returning its URL."""
    use_quiet_defaults()
    keep_failures_off_the_terminal()
    if not start_api or server_url():
        return None
    from modelops.ephemeral_api import start_ephemeral_api  # imports Prefect's server

    return start_ephemeral_api(prefect_home() / SERVER_LOG)


def server_url() -> str | None:
    """The Prefect API this process talks to, when one is configured."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def prefect_home() -> Path:
    from prefect.settings import get_current_settings

    return get_current_settings().home


def keep_failures_off_the_terminal() -> None:
    """The terminal shows what runs narrate, without tracebacks and without the runs' own
    failure reports (the command prints one line instead). Only terminal handlers change:
    the run's logs reach the Prefect API whole, tracebacks included."""
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()  # Prefect's own handlers first; later set-ups only adjust levels
    for name in TERMINAL_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if not isinstance(handler, logging.StreamHandler):
                continue
            if not any(isinstance(f, _DropRunFailures) for f in handler.filters):
                handler.addFilter(_DropRunFailures())
            if not isinstance(handler.formatter, _WithoutTracebacks):
                handler.setFormatter(_WithoutTracebacks(handler.formatter))


class _DropRunFailures(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR and record.name.startswith(RUN_LOGGERS))


class _WithoutTracebacks(logging.Formatter):
    """Formats a copy of each record without its exception and stack, so the handlers that
    see the record after this one (the API's) still get them."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self._inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        bare = logging.makeLogRecord(record.__dict__)
        bare.exc_info, bare.exc_text, bare.stack_info = None, None, None
        return self._inner.format(bare)
