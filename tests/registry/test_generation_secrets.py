"""Webhook secrets: sealed under the master key and bound to their row (a ciphertext copied
to another row, team or purpose does not open), live during an overlap, per team."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from registry.database import make_engine, make_session_factory
from registry.generation.secrets import WebhookSecretRepository, provider_secrets_by_team
from registry.generation.tables import WebhookSecretRow
from registry.keys import KeyDecryptionError
from registry.teams import TeamRepository
from tests.registry.test_keys_support import RING_1, ring

RING = ring(RING_1)
SECRET = "whsec_c2VjcmV0LW9mLXRoZS1wcm92aWRlci1hY2NvdW50"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def sessions(pg_url: str) -> sessionmaker[Session]:
    engine = make_engine(pg_url)
    yield make_session_factory(engine)  # type: ignore[misc]
    engine.dispose()


def test_a_secret_is_stored_sealed_and_bound_to_its_row(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        team = TeamRepository(session).ensure("alpha")
        repo = WebhookSecretRepository(session, team, RING)
        first = repo.add_provider_secret("replicate", "a", SECRET)
        second = repo.add_provider_secret("replicate", "b", "whsec_b3RoZXI=")
        raw = repr(session.execute(text("SELECT * FROM webhook_secrets")).all())
        assert SECRET not in raw and SECRET.removeprefix("whsec_") not in raw
        assert [s.get_secret_value() for s in repo.provider_secrets("replicate", now=T0)] == [
            SECRET,
            "whsec_b3RoZXI=",
        ]
        a, b = session.get(WebhookSecretRow, first.id), session.get(WebhookSecretRow, second.id)
        assert a is not None and b is not None
        b.ciphertext, b.nonce, b.wrapped_dek, b.dek_nonce = (
            a.ciphertext,
            a.nonce,
            a.wrapped_dek,
            a.dek_nonce,
        )
        session.flush()
        with pytest.raises(KeyDecryptionError):
            repo.provider_secrets("replicate", now=T0)


def test_secrets_are_the_teams_own_and_live_until_their_overlap_ends(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        alpha = TeamRepository(session).ensure("alpha")
        beta = TeamRepository(session).ensure("beta")
        old = WebhookSecretRepository(session, alpha, RING).add_provider_secret(
            "replicate", "old", SECRET
        )
        WebhookSecretRepository(session, alpha, RING).add_provider_secret(
            "replicate", "new", "whsec_bmV3"
        )
        WebhookSecretRepository(session, beta, RING).add_provider_secret(
            "replicate", "b", "whsec_YmV0YQ=="
        )
        WebhookSecretRepository(session, alpha, RING).retire(old.id, after_seconds=600, now=T0)
        during = provider_secrets_by_team(
            session, RING, "replicate", now=T0 + timedelta(seconds=599)
        )
        after = provider_secrets_by_team(
            session, RING, "replicate", now=T0 + timedelta(seconds=600)
        )
        assert {team: len(found) for team, found in during.items()} == {alpha.id: 2, beta.id: 1}
        assert [s.get_secret_value() for s in after[alpha.id]] == ["whsec_bmV3"]
        assert (
            WebhookSecretRepository(session, beta, RING)
            .provider_secrets("replicate", now=T0)[0]
            .get_secret_value()
            == "whsec_YmV0YQ=="
        )


def test_an_endpoints_callback_secret_comes_before_the_teams(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        team = TeamRepository(session).ensure("alpha")
        repo = WebhookSecretRepository(session, team, RING)
        _, team_secret = repo.new_callback_secret("team")
        _, own = repo.new_callback_secret("own", endpoint_id=41)
        assert own.get_secret_value().startswith("whsec_")
        assert repo.callback_secrets(41, now=T0) == [own]
        assert repo.callback_secrets(42, now=T0) == [team_secret]
