"""`modelops approvers …` as an operator runs it, against a real PostgreSQL database."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from registry.approvers.totp import code_at
from registry.database import make_engine, make_session_factory
from tests.cli.conftest import Cli
from tests.registry.seed import seed_model
from tests.support.approvers import MASTER_KEY

POLICY = {"production": {"approvers": ["alice", "bob"], "min_approvals": 1}}


@pytest.fixture
def env(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        seed_model(session, "default", policy=POLICY)
    engine.dispose()
    monkeypatch.delenv("MODELOPS_MASTER_KEY", raising=False)
    yield {
        "MODELOPS_DATABASE_URL": pg_url,
        "MODELOPS_TEAM": "default",
        "MODELOPS_MASTER_KEY": MASTER_KEY,
    }


def _secret_of(uri: str) -> str:
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    return parse_qs(parsed.query)["secret"][0]


def test_enroll_shows_the_uri_and_a_qr_code_once(cli: Cli, env: dict[str, str]) -> None:
    enrolled = cli("approvers", "enroll", "bob", env=env)
    assert enrolled.code == 0, enrolled.err
    (uri,) = [line for line in enrolled.out.splitlines() if line.startswith("otpauth://")]
    assert uri.startswith("otpauth://totp/modelops:bob%40default?")
    assert "▄" in enrolled.out or "▀" in enrolled.out  # the QR code, in block characters
    assert "\x1b" not in enrolled.out  # no terminal escapes
    secret = _secret_of(uri)
    assert len(code_at(secret, time.time())) == 6

    again = cli("approvers", "enroll", "bob")
    assert again.code == 2 and "pass --replace" in again.err and secret not in again.err
    listed = cli("approvers", "list", "--json")
    assert [a["name"] for a in json.loads(listed.out)] == ["bob"]
    assert secret not in listed.out


def test_replace_issues_a_new_secret_and_says_the_old_one_is_dead(
    cli: Cli, env: dict[str, str]
) -> None:
    first = json.loads(cli("approvers", "enroll", "alice", "--json", env=env).out)
    replaced = cli("approvers", "enroll", "alice", "--replace", "--json")
    assert replaced.code == 0, replaced.err
    second = json.loads(replaced.out)
    assert _secret_of(second["otpauth_uri"]) != _secret_of(first["otpauth_uri"])
    assert second["replaced"] is not None
    listed = json.loads(cli("approvers", "list", "--all", "--json").out)
    assert [(a["name"], a["replaced_at"] is None) for a in listed] == [
        ("alice", False),
        ("alice", True),
    ]


def test_enrolling_needs_the_master_key_and_a_sane_name(cli: Cli, env: dict[str, str]) -> None:
    no_key = cli("approvers", "enroll", "bob", env={**env, "MODELOPS_MASTER_KEY": ""})
    assert no_key.code == 2 and "MODELOPS_MASTER_KEY" in no_key.err
    bad = cli("approvers", "enroll", "bob\x1b[2J", env=env)
    assert bad.code == 2 and "printable characters" in bad.err
    stranger = cli("approvers", "enroll", "zed")
    assert stranger.code == 0 and "no policy of team default names 'zed'" in stranger.out


def test_rotate_master_moves_approver_secrets_onto_the_new_key(
    cli: Cli, env: dict[str, str]
) -> None:
    from registry.keys.crypto import new_master_key

    uri = json.loads(cli("approvers", "enroll", "bob", "--json", env=env).out)["otpauth_uri"]
    newer = new_master_key()
    rotated = cli(
        "approvers",
        "rotate-master",
        env={**env, "MODELOPS_MASTER_KEY": f"v2:{newer},v1:{MASTER_KEY}"},
    )
    assert rotated.code == 0, rotated.err
    assert "re-wrapped 1 approver secrets onto master v2; 0 were already on it" in rotated.out
    listed = json.loads(
        cli("approvers", "list", "--json", env={**env, "MODELOPS_MASTER_KEY": newer}).out
    )
    assert [a["kek_version"] for a in listed] == ["v2"]
    # With the old master gone, bob's code still proves bob.
    engine = make_engine(env["MODELOPS_DATABASE_URL"])
    with make_session_factory(engine).begin() as session:
        from registry.approvers.repository import ApproverRepository
        from registry.keys.crypto import MasterKeyring
        from registry.teams import TeamRepository

        team = TeamRepository(session).find("default")
        assert team is not None
        ring = MasterKeyring([("v2", base64.urlsafe_b64decode(newer + "=="))])
        proof = ApproverRepository(session, team, ring).prove(
            "bob", code_at(_secret_of(uri), time.time())
        )
    engine.dispose()
    assert proof.refusal is None
