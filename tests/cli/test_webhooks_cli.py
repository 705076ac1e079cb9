"""`modelops webhooks …` as a user runs it: secrets in on stdin, a callback secret printed
once, never in listings or the database in plaintext; a master-key rotation re-wraps them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from registry.database import make_engine, make_session_factory
from registry.generation.secrets import WebhookSecretRepository
from registry.tables import ProviderRow
from registry.teams import TeamRepository
from tests.cli.conftest import Cli
from tests.registry.test_keys_support import MASTER_1, MASTER_2, ring

PROVIDER_SECRET = "whsec_cHJvdmlkZXItd2ViaG9vay1zZWNyZXQtZm9yLWNsaQ=="


@pytest.fixture
def env(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MODELOPS_DATABASE_URL", pg_url)
    monkeypatch.setenv("MODELOPS_TEAM", "default")
    monkeypatch.setenv("MODELOPS_MASTER_KEY", f"v1:{MASTER_1}")
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        session.add(
            ProviderRow(
                name="replicate",
                kind="replicate",
                base_url="https://api.replicate.com",
                options={},
                source_file="providers/replicate.yaml",
            )
        )
    engine.dispose()
    return pg_url


def stored(url: str) -> str:
    engine = make_engine(url)
    with engine.connect() as conn:
        dumped = repr(conn.execute(text("SELECT * FROM webhook_secrets")).all())
    engine.dispose()
    return dumped


def test_secrets_go_in_by_stdin_and_never_come_out(cli: Cli, env: str) -> None:
    added = cli(
        "webhooks", "add-secret", "replicate", "--label", "account", stdin=PROVIDER_SECRET + "\n"
    )
    assert added.code == 0, added.err
    made = cli("webhooks", "callback-secret", "--label", "clients")
    assert made.code == 0, made.err
    callback = made.out.strip()
    assert callback.startswith("whsec_") and made.out == callback + "\n"
    listed = cli("webhooks", "list", "--json")
    assert [(s["purpose"], s["scope"], s["label"]) for s in json.loads(listed.out)] == [
        ("provider", "replicate", "account"),
        ("callback", "", "clients"),
    ]
    for secret in (PROVIDER_SECRET, callback):
        assert secret not in listed.out + added.out + added.err + made.err
        assert secret not in stored(env)
        assert secret.removeprefix("whsec_") not in stored(env)


def test_bad_input_is_refused_by_name(cli: Cli, env: str) -> None:
    unknown = cli("webhooks", "add-secret", "nosuch", "--label", "x", stdin="s3cret")
    empty = cli("webhooks", "add-secret", "replicate", "--label", "x", stdin="\n")
    assert (unknown.code, empty.code) == (2, 2)
    assert "unknown provider 'nosuch'" in unknown.err and "--secret" in empty.err


def test_a_master_key_rotation_rewraps_the_secrets(
    cli: Cli, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        cli("webhooks", "add-secret", "replicate", "--label", "a", stdin=PROVIDER_SECRET).code == 0
    )
    monkeypatch.setenv("MODELOPS_MASTER_KEY", f"v2:{MASTER_2},v1:{MASTER_1}")
    rotated = cli("webhooks", "rotate-master", "--json")
    assert json.loads(rotated.out) == {"rewrapped": 1, "already_current": 0, "unreadable": []}
    engine = make_engine(env)
    with make_session_factory(engine).begin() as session:
        team = TeamRepository(session).ensure("default")
        only_new = ring(f"v2:{MASTER_2}")
        [secret] = WebhookSecretRepository(session, team, only_new).provider_secrets(
            "replicate", now=session.scalar(select(text("now()")))
        )
    engine.dispose()
    assert secret.get_secret_value() == PROVIDER_SECRET
