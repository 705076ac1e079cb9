"""Where the gateway hands each request's outcome: the outcome writer (journaled on submit,
stored in batches off the request path), seen through the two calls the gateway makes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gateway.outcome_writer import WriterStatus
from registry.outcomes import Outcome

OutcomeTap = Callable[[Outcome], None]  # sees each acknowledged outcome too (tests)


class OutcomeSink(Protocol):
    def submit(self, outcome: Outcome) -> None:
        """Acknowledge, without blocking; raises SpoolError when it cannot."""
        ...

    def status(self) -> WriterStatus: ...
