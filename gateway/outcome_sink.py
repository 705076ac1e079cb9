"""Where the gateway hands each request's outcome: a sink whose `submit` never blocks.

`MemorySink` keeps outcomes in process memory, bounded; it is the stand-in until the outcome
writer (spooled, batched into PostgreSQL) is wired in behind the same `submit` and `status`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from registry.domain import Team


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request served or reported (DESIGN §3); field names as the outcome store's."""

    request_id: str
    team_id: int
    endpoint_id: int
    model_version_id: int
    at: datetime
    latency_ms: float
    success: bool
    error_class: str | None = None
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cost_micro_usd: int = 0
    price_id: int | None = None
    routing_key_hash: int | None = None
    quality: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SinkStatus:
    ready: bool
    backlog: int  # acknowledged, not yet stored
    spool_bytes: int
    spool_limit_bytes: int
    spool_full: bool
    spooling: bool = False  # the database is away and outcomes wait in the spool


class OutcomeSink(Protocol):
    def submit(self, outcome: Outcome) -> None: ...

    def status(self) -> SinkStatus: ...

    def record_feedback(
        self, team: Team, request_id: str, quality: float | None, metrics: Mapping[str, float]
    ) -> str: ...


class MemorySink:
    """The last `limit` outcomes, by request id too (a reported outcome replaces nothing)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.outcomes: deque[Outcome] = deque(maxlen=limit)
        self._ids: dict[str, Outcome] = {}
        self.feedback: dict[str, tuple[float | None, dict[str, float]]] = {}

    def submit(self, outcome: Outcome) -> None:
        if outcome.request_id in self._ids:
            return  # request ids are unique: a repeated report is a no-op
        if len(self.outcomes) == self.outcomes.maxlen:
            self._ids.pop(self.outcomes[0].request_id, None)
        self.outcomes.append(outcome)
        self._ids[outcome.request_id] = outcome

    def get(self, request_id: str) -> Outcome | None:
        return self._ids.get(request_id)

    def record_feedback(
        self, team: Team, request_id: str, quality: float | None, metrics: Mapping[str, float]
    ) -> str:
        """Merged into earlier feedback: "applied" if the outcome is here, else "pending"."""
        old_quality, old_metrics = self.feedback.get(request_id, (None, {}))
        merged = (quality if quality is not None else old_quality, {**old_metrics, **metrics})
        self.feedback[request_id] = merged
        return "applied" if request_id in self._ids else "pending"

    def status(self) -> SinkStatus:
        return SinkStatus(
            ready=True, backlog=0, spool_bytes=0, spool_limit_bytes=0, spool_full=False
        )
