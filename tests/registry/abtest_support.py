"""Shared setup for the A/B test tests (no tests here): a team whose model has a production
and a staging version behind a production endpoint, and definitions to test them with."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelops.abtest_traffic import SyntheticTraffic
from registry.abtests import ABTestDefinition
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.endpoints import Environment
from tests.registry.test_endpoints_support import create, seed_versions

ENDPOINT = "support-prod"


@pytest.fixture
def sessions(pg_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(pg_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def team(sessions: sessionmaker[Session]) -> Team:
    """Team `alpha`: support-intent v1 production, v2 staging, v3 development, served by the
    production endpoint support-prod (v1 at 100%)."""
    with sessions.begin() as session:
        team = seed_versions(session, "alpha")
        create(session, team, ENDPOINT, Environment.PRODUCTION)
    return team


def definition(**overrides: Any) -> ABTestDefinition:
    values: dict[str, Any] = {
        "endpoint": ENDPOINT,
        "variants": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}],
        "primary": {"metric": "success_rate", "mde": 0.03},
        "actor": "ann",
    }
    values.update(overrides)
    return ABTestDefinition.model_validate(values)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


def traffic(
    sessions: sessionmaker[Session], team: Team, clock: Clock, **kw: Any
) -> SyntheticTraffic:
    kw.setdefault("success", {1: 0.9, 2: 0.9})
    return SyntheticTraffic(sessions, team, clock=clock, **kw)
