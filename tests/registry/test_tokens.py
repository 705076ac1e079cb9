"""Team API tokens on PostgreSQL and SQLite: shown once, stored as SHA-256 only, scoped,
authenticated by hash, revoked for good, last use recorded in batches."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.errors import InvalidInputError, NotFoundError
from registry.teams import TeamRepository
from registry.tokens import (
    Scope,
    TokenRepository,
    authenticate,
    parse_scopes,
    token_digest,
    touch_last_used,
)
from registry.tokens.tables import ApiTokenRow


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def team(sessions: sessionmaker[Session]) -> Team:
    with sessions.begin() as session:
        return TeamRepository(session).ensure("alpha")


def create(sessions: sessionmaker[Session], team: Team, label: str, *scopes: Scope) -> str:
    with sessions.begin() as session:
        created = TokenRepository(session, team).create(label, scopes or (Scope.INVOKE,))
    return created.token.get_secret_value()


def test_a_token_is_mo_prefixed_carries_32_random_bytes_and_only_its_hash_is_stored(
    sessions: sessionmaker[Session], team: Team, engine: Engine
) -> None:
    token = create(sessions, team, "ci", Scope.INVOKE, Scope.OUTCOMES)
    assert token.startswith("mo_")
    assert len(base64.urlsafe_b64decode(token[3:] + "=")) == 32
    with engine.connect() as conn:
        dumped = repr(conn.execute(text("SELECT * FROM api_tokens")).all())
    assert token not in dumped and token[3:] not in dumped
    # SHA-256 computed here independently of the code under test.
    assert hashlib.sha256(token.encode()).hexdigest() in dumped
    assert token != create(sessions, team, "other")


def test_authenticate_finds_the_team_and_scopes_and_refuses_anything_else(
    sessions: sessionmaker[Session], team: Team
) -> None:
    token = create(sessions, team, "ci", Scope.RESOLVE, Scope.CREDENTIALS)
    with sessions() as session:
        principal = authenticate(session, token)
        assert principal is not None
        assert (principal.team, principal.scopes) == (team, {Scope.RESOLVE, Scope.CREDENTIALS})
        assert principal.allows(Scope.RESOLVE) and not principal.allows(Scope.INVOKE)
        wrong_last = token[:-1] + ("A" if token[-1] != "A" else "B")
        for presented in (wrong_last, token[3:], "", "mo_", token + "x", "Bearer " + token):
            assert authenticate(session, presented) is None


def test_admin_allows_every_scope(sessions: sessionmaker[Session], team: Team) -> None:
    token = create(sessions, team, "ops", Scope.ADMIN)
    with sessions() as session:
        principal = authenticate(session, token)
    assert principal is not None and all(principal.allows(scope) for scope in Scope)


def test_a_revoked_token_no_longer_authenticates_and_revoking_again_changes_nothing(
    sessions: sessionmaker[Session], team: Team
) -> None:
    token = create(sessions, team, "ci")
    with sessions.begin() as session:
        principal = authenticate(session, token)
        assert principal is not None
        first = TokenRepository(session, team).revoke(principal.token_id)
    with sessions.begin() as session:
        assert authenticate(session, token) is None
        again = TokenRepository(session, team).revoke(first.id)
    assert first.revoked_at is not None and again.revoked_at == first.revoked_at


def test_labels_name_one_live_token_and_free_up_on_revoke(
    sessions: sessionmaker[Session], team: Team
) -> None:
    create(sessions, team, "ci")
    with pytest.raises(InvalidInputError, match="already has a live token labelled 'ci'"):
        create(sessions, team, "ci")
    with sessions.begin() as session:
        tokens = TokenRepository(session, team)
        tokens.revoke(tokens.list()[0].id)
    create(sessions, team, "ci")
    with sessions() as session:
        listed = TokenRepository(session, team).list()
    assert [(t.label, t.revoked_at is not None) for t in listed] == [("ci", True), ("ci", False)]


@pytest.mark.parametrize(
    ("label", "message"),
    [("", "label must be 1 to 64"), ("x" * 65, "label must be 1 to 64"),
     ("a\x1b[31m", "printable"), ("mo_abc", "must not start with 'mo_'")],
)  # fmt: skip
def test_bad_labels_are_refused(
    sessions: sessionmaker[Session], team: Team, label: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message), sessions.begin() as session:
        TokenRepository(session, team).create(label)


def test_scopes_are_validated_with_the_allowed_list() -> None:
    assert parse_scopes(["outcomes", "INVOKE", "invoke"]) == [Scope.INVOKE, Scope.OUTCOMES]
    with pytest.raises(InvalidInputError) as refused:
        parse_scopes(["invoke", "write"])
    assert str(refused.value) == (
        "'write' is not a token scope; allowed: invoke, resolve, credentials, outcomes, admin"
    )
    assert refused.value.field == "scope"


def test_last_use_is_written_in_one_batch_and_only_moves_later(
    sessions: sessionmaker[Session], team: Team
) -> None:
    ids = []
    for label in ("a", "b"):
        with sessions() as session:
            principal = authenticate(session, create(sessions, team, label))
            assert principal is not None
            ids.append(principal.token_id)
    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with sessions.begin() as session:
        touch_last_used(session, {ids[0]: t0, ids[1]: t0 + timedelta(seconds=5)})
    with sessions.begin() as session:
        touch_last_used(
            session, {ids[0]: t0 - timedelta(hours=1), ids[1]: t0 + timedelta(minutes=1)}
        )
        touch_last_used(session, {})
    with sessions() as session:
        used = {t.id: t.last_used_at for t in TokenRepository(session, team).list()}
    assert used == {ids[0]: t0, ids[1]: t0 + timedelta(minutes=1)}


def test_another_team_never_lists_or_revokes_a_token(
    sessions: sessionmaker[Session], team: Team
) -> None:
    token = create(sessions, team, "ci")
    with sessions.begin() as session:
        beta = TeamRepository(session).ensure("beta")
        token_id = session.scalars(select(ApiTokenRow.id)).one()
        assert TokenRepository(session, beta).list() == []
        with pytest.raises(NotFoundError, match=f"no token {token_id} in team 'beta'"):
            TokenRepository(session, beta).revoke(token_id)
    with sessions() as session:
        principal = authenticate(session, token)
    assert principal is not None and principal.team.name == "alpha"


def test_the_digest_is_plain_sha256_hex() -> None:
    assert token_digest("mo_x") == hashlib.sha256(b"mo_x").hexdigest()
