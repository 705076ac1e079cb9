"""PostgreSQL only: gateway replicas LISTENing hear of endpoint and token changes once they
commit, never of a rollback; the route ledger cannot be rewritten."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from registry import notifications
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.endpoints import EndpointChange, Environment, undeploy_endpoint
from registry.notifications import Channel, EndpointNotice, TokenNotice
from registry.tokens import Scope, TokenRepository
from tests.registry.test_endpoints_support import create, route, seed_versions

LISTEN_TIMEOUT = 30  # an upper bound: notifies() returns as soon as one arrives


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def team(sessions: sessionmaker[Session]) -> Team:
    with sessions.begin() as session:
        return seed_versions(session, "alpha")


@pytest.fixture
def listener(pg_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    conninfo = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for channel in Channel:
            conn.execute(f"LISTEN {channel.value}")
        yield conn


def next_notice(
    conn: psycopg.Connection[tuple[object, ...]],
) -> notifications.Notice | None:
    [received] = list(conn.notifies(timeout=LISTEN_TIMEOUT, stop_after=1))
    return notifications.parse(received.channel, received.payload)


def test_a_route_change_is_heard_after_commit_and_a_rolled_back_one_never(
    sessions: sessionmaker[Session],
    team: Team,
    listener: psycopg.Connection[tuple[object, ...]],
) -> None:
    with sessions.begin() as session:
        endpoint = create(session, team, "support-staging", Environment.STAGING, version=2)
    assert next_notice(listener) == EndpointNotice(
        team_id=team.id, endpoint_id=endpoint.id, name="support-staging", revision=1,
        action="create",
    )  # fmt: skip
    with pytest.raises(RuntimeError), sessions.begin() as session:
        undeploy_endpoint(
            session, team, EndpointChange(endpoint="support-staging", actor="a", reason="r")
        )
        raise RuntimeError("the caller's transaction fails after the change")
    with sessions.begin() as session:
        route(session, team, "support-staging", {2: 90, 3: 10})
    # Had the rolled-back undeploy been sent, it would be the next one heard.
    heard = next_notice(listener)
    assert isinstance(heard, EndpointNotice)
    assert (heard.action, heard.revision) == ("route", 2)


def test_token_creation_and_revocation_are_heard(
    sessions: sessionmaker[Session],
    team: Team,
    listener: psycopg.Connection[tuple[object, ...]],
) -> None:
    with sessions.begin() as session:
        created = TokenRepository(session, team).create("ci", [Scope.INVOKE])
    assert next_notice(listener) == TokenNotice(
        team_id=team.id, token_id=created.details.id, action="create"
    )
    with sessions.begin() as session:
        TokenRepository(session, team).revoke(created.details.id)
    assert next_notice(listener) == TokenNotice(
        team_id=team.id, token_id=created.details.id, action="revoke"
    )


def test_notices_parse_back_and_unreadable_ones_say_so() -> None:
    notice = EndpointNotice(team_id=1, endpoint_id=2, name="e", revision=3, action="route")
    assert notifications.parse(Channel.ENDPOINTS, notice.model_dump_json()) == notice
    newer = json.dumps({**notice.model_dump(), "zone": "eu"})  # a field a newer sender adds
    assert notifications.parse(Channel.ENDPOINTS, newer) == notice
    assert notifications.parse(Channel.ENDPOINTS, "not json") is None
    assert notifications.parse(Channel.TOKENS, notice.model_dump_json()) is None
    assert notifications.parse("other_channel", "{}") is None


@pytest.mark.parametrize(
    "statement", ["UPDATE route_ledger SET reason = 'x'", "DELETE FROM route_ledger"]
)
def test_the_route_ledger_is_append_only(
    sessions: sessionmaker[Session], team: Team, engine: Engine, statement: str
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-prod")
    with pytest.raises(DBAPIError, match="route_ledger is append-only"), engine.begin() as conn:
        conn.execute(text(statement))
