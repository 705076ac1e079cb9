"""Shared setup for endpoint tests: a model with versions in several stages, and helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.endpoints import (
    Endpoint,
    EndpointChange,
    EndpointRepository,
    Environment,
    NewEndpoint,
    RouteChange,
    RouteLedgerEntry,
    ShadowedVersion,
    WeightedVersion,
    create_endpoint,
    set_routes,
)
from registry.endpoints.tables import RouteLedgerRow
from registry.lifecycle import TransitionRequest, transition_stage
from registry.routing import RouteRole
from registry.stages import Stage
from registry.teams import TeamRepository
from tests.registry.seed import add_version, advance, seed_model

MODEL = "support-intent"


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def team(sessions: sessionmaker[Session]) -> Team:
    """Team `alpha` with support-intent v1 production, v2 staging, v3 development."""
    with sessions.begin() as session:
        return seed_versions(session, "alpha")


def seed_versions(session: Session, team_name: str, model: str = MODEL) -> Team:
    team = seed_model(session, team_name, name=model)
    for stage in (Stage.PRODUCTION, Stage.STAGING):
        advance(session, team, add_version(session, team, model), stage, model)
    add_version(session, team, model)
    return team


def team_named(session: Session, name: str) -> Team:
    found = TeamRepository(session).find(name)
    assert found is not None
    return found


def create(
    session: Session,
    team: Team,
    name: str,
    environment: Environment = Environment.PRODUCTION,
    version: int | None = None,
) -> Endpoint:
    new = NewEndpoint(name=name, model=MODEL, environment=environment, version=version, actor="ann")
    return create_endpoint(session, team, new)


def change(
    name: str,
    weights: dict[int, int],
    *,
    roles: dict[int, RouteRole] | None = None,
    shadows: dict[int, int] | None = None,
    expect: int | None = None,
) -> RouteChange:
    return RouteChange(
        endpoint=name,
        routes=[
            WeightedVersion(version=v, weight=w, role=(roles or {}).get(v))
            for v, w in weights.items()
        ],
        shadows=[ShadowedVersion(version=v, percent=p) for v, p in (shadows or {}).items()],
        actor="bob",
        reason="test move",
        expect_revision=expect,
    )


def route(
    session: Session, team: Team, name: str, weights: dict[int, int], **kw: object
) -> Endpoint:
    return set_routes(session, team, change(name, weights, **kw))  # type: ignore[arg-type]


def routes_of(endpoint: Endpoint) -> list[tuple[int, int, str]]:
    return [(r.version, r.weight, r.role.value) for r in endpoint.routes]


def ledger_size(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(RouteLedgerRow)) or 0)


def get(session: Session, team: Team, name: str) -> Endpoint:
    return EndpointRepository(session, team).get(name)


def history(session: Session, team: Team, name: str) -> list[RouteLedgerEntry]:
    return EndpointRepository(session, team).history(name)


def move(session: Session, team: Team, version: int, target: Stage, reason: str = "move") -> None:
    request = TransitionRequest(
        model=MODEL, version=version, target=target, actor="carol", reason=reason
    )
    transition_stage(session, team, request)


def claim(name: str) -> EndpointChange:
    """The change a rollout flow passes to claim or release an endpoint."""
    return EndpointChange(endpoint=name, actor="rollout-flow", reason=f"rollout of {MODEL}")
