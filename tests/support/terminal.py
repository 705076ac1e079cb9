"""Prefect's terminal handlers pointed at a test's captured stderr, to read what a user sees."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest


class _CurrentStderr(io.TextIOBase):
    """Writes to whatever `sys.stderr` is at the moment: during a test, its capture."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@pytest.fixture
def terminal() -> Iterator[None]:
    """Prefect's terminal handlers, pointed at the test's captured stderr (they keep the stream
    they found when logging was set up, long before this test)."""
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler, _SafeStreamHandler

    ensure_logging_setup()
    names = ["", "prefect._internal"]
    handlers = [handler for name in names for handler in logging.getLogger(name).handlers]
    saved: list[tuple[logging.Handler, object]] = []
    for handler in handlers:
        if isinstance(handler, PrefectConsoleHandler):
            saved.append((handler, handler.console.file))
            handler.console.file = _CurrentStderr()
        elif isinstance(handler, _SafeStreamHandler):
            saved.append((handler, handler.setStream(_CurrentStderr())))
    yield
    for handler, stream in saved:
        if isinstance(handler, PrefectConsoleHandler):
            handler.console.file = stream  # type: ignore[assignment]
        elif isinstance(handler, _SafeStreamHandler):
            handler.setStream(stream)  # type: ignore[arg-type]
