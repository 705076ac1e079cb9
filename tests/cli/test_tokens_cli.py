"""`modelops tokens …` as a user runs it: the token is printed once, on stdout, and nowhere else."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from registry.database import make_engine
from tests.cli.conftest import Cli


@pytest.fixture
def env(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MODELOPS_DATABASE_URL", pg_url)
    monkeypatch.setenv("MODELOPS_TEAM", "default")
    return pg_url


def stored(url: str) -> str:
    engine = make_engine(url)
    with engine.connect() as conn:
        dumped = repr(conn.execute(text("SELECT * FROM api_tokens")).all())
    engine.dispose()
    return dumped


def test_create_prints_the_token_alone_on_stdout_once(cli: Cli, env: str) -> None:
    created = cli("tokens", "create", "--label", "ci", "--scope", "invoke", "--scope", "outcomes")
    assert created.code == 0, created.err
    token = created.out.strip()
    assert token.startswith("mo_") and created.out == token + "\n"
    assert token not in created.err and "printed above once" in created.err
    listed = cli("tokens", "list", "--json")
    assert token not in listed.out and token not in cli("tokens", "list").out
    assert [(t["label"], t["scopes"]) for t in json.loads(listed.out)] == [
        ("ci", ["invoke", "outcomes"])
    ]
    assert token not in stored(env)


def test_create_json_is_exactly_id_label_token_scopes(cli: Cli, env: str) -> None:
    result = cli("tokens", "create", "--label", "gw", "--json")
    assert result.code == 0, result.err
    body = json.loads(result.out)
    assert list(body) == ["id", "label", "token", "scopes"]
    assert (body["label"], body["scopes"]) == ("gw", ["invoke"])
    assert body["token"].startswith("mo_")


def test_revoke_marks_it_and_another_team_cannot(cli: Cli, env: str) -> None:
    token_id = json.loads(cli("tokens", "create", "--label", "ci", "--json").out)["id"]
    other = cli("tokens", "revoke", str(token_id), env={"MODELOPS_TEAM": "beta"})
    assert other.code == 2 and f"no token {token_id} in team 'beta'" in other.err
    assert cli("tokens", "list", "--json").out.strip() == "[]"  # beta sees none
    revoked = cli("tokens", "revoke", str(token_id), "--json", env={"MODELOPS_TEAM": "default"})
    assert revoked.code == 0, revoked.err
    assert json.loads(revoked.out)["revoked_at"] is not None
    assert json.loads(cli("tokens", "list", "--json").out)[0]["revoked_at"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--label", "x", "--scope", "write"),
         "--scope: 'write' is not a token scope; allowed: invoke, resolve, credentials, outcomes, admin"),
        (("--label", ""), "--label: label must be 1 to 64 printable characters"),
        (("--scope", "invoke"), "Missing option '--label'"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_and_creates_nothing(
    cli: Cli, env: str, args: tuple[str, ...], message: str
) -> None:
    result = cli("tokens", "create", *args)
    assert result.code == 2 and message in result.err
    assert result.out == ""
    assert cli("tokens", "list", "--json").out.strip() == "[]"
