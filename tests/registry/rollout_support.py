"""Shared setup for the rollout tests (no tests here): team `alpha` with support-intent v1
production, v2 staging, v3 development behind the production endpoint support-prod, a
hand-moved clock, synthetic clients, and a loop that looks after every batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modelops.abtest_traffic import SyntheticTraffic
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.endpoints import Environment
from registry.endpoints.tables import RouteLedgerRow
from registry.rollouts.lifecycle import DeployRequest, create_rollout, start_rollout
from registry.rollouts.policy import RolloutOverrides
from registry.rollouts.steps import LookTaken, take_look
from tests.registry.abtest_support import Clock
from tests.registry.test_endpoints_support import create, seed_versions

ENDPOINT = "support-prod"


@pytest.fixture
def sessions(pg_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(pg_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def team(sessions: sessionmaker[Session]) -> Team:
    with sessions.begin() as session:
        team = seed_versions(session, "alpha")
        create(session, team, ENDPOINT, Environment.PRODUCTION)
    return team


def request(version: int = 2, **overrides: Any) -> DeployRequest:
    values: dict[str, Any] = {
        "strategy": "canary",
        "steps": [10, 50, 100],
        "bake_seconds": 0,
        "min_samples": 300,
        "max_latency_increase_ratio": None,
    }
    values.update(overrides)
    return DeployRequest(
        endpoint=ENDPOINT,
        version=version,
        actor="ann",
        reason="test deploy",
        overrides=RolloutOverrides.model_validate(values),
    )


def started(sessions: sessionmaker[Session], team: Team, clock: Clock, **overrides: Any) -> int:
    with sessions.begin() as session:
        rollout = create_rollout(session, team, request(**overrides), now=clock())
        start_rollout(session, team, rollout.id, now=clock())
    return rollout.id


def drive(
    sessions: sessionmaker[Session],
    team: Team,
    clock: Clock,
    source: SyntheticTraffic,
    rollout_id: int,
    *,
    batch: int = 500,
    seconds: float = 20,
    max_batches: int = 60,
) -> list[LookTaken]:
    """Send a batch, move the clock, look; until the rollout stops progressing."""
    looks = []
    for _ in range(max_batches):
        source.send(ENDPOINT, batch)
        clock.advance(seconds=seconds)
        with sessions.begin() as session:
            taken = take_look(session, team, rollout_id, now=clock())
        looks.append(taken)
        if taken.rollout.status.value != "progressing":
            break
    return looks


def ledger_weights(sessions: sessionmaker[Session]) -> list[int]:
    """The sum of served weights after every route change, in order."""
    with sessions.begin() as session:
        rows = session.scalars(select(RouteLedgerRow).order_by(RouteLedgerRow.id)).all()
        return [sum(r["weight"] for r in row.after if r["role"] != "shadow") for row in rows]
