"""`modelops models …` and `modelops db …` as a user runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from registry.database import make_engine, make_session_factory
from registry.stages import Stage
from tests.cli.conftest import Cli
from tests.registry.seed import add_version, advance, seed_model


@pytest.fixture
def env(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        team = seed_model(session, "default")
        for _ in range(2):
            advance(session, team, add_version(session, team), Stage.STAGING)
    engine.dispose()
    return {"MODELOPS_DATABASE_URL": pg_url, "MODELOPS_TEAM": "default"}


def test_versions_json_lists_version_and_stage(cli: Cli, env: dict[str, str]) -> None:
    result = cli("models", "versions", "support-intent", "--json", env=env)
    assert result.code == 0
    assert [(v["version"], v["stage"]) for v in json.loads(result.out)] == [
        (1, "staging"),
        (2, "staging"),
    ]


def test_stage_then_history_at_reports_the_production_version(
    cli: Cli, env: dict[str, str]
) -> None:
    before = datetime.now(UTC).isoformat()
    moved = cli(
        "models", "stage", "support-intent", "2", "production",
        "--actor", "ann", "--reason", "better", "--expect", "staging", env=env,
    )  # fmt: skip
    assert moved.code == 0, moved.err
    assert "staging -> production" in moved.out
    now = datetime.now(UTC).isoformat()
    then = json.loads(cli("models", "history", "support-intent", "--at", before, "--json").out)
    assert then["production"] is None
    assert (
        json.loads(cli("models", "history", "support-intent", "--at", now, "--json").out)[
            "production"
        ]
        == 2
    )


def test_rollback_via_cli_restores_the_previous_version(cli: Cli, env: dict[str, str]) -> None:
    for version in ("1", "2"):
        args = ("models", "stage", "support-intent", version, "production")
        assert cli(*args, "--actor", "a", "--reason", "r", env=env).code == 0
    result = cli("models", "rollback", "support-intent", "--actor", "b", "--reason", "errors")
    assert result.code == 0, result.err
    assert "v2 rolled back; v1 is in production" in result.out
    history = json.loads(cli("models", "history", "support-intent", "--json").out)
    assert [e["action"] for e in history][-2:] == ["rolled-back", "rollback"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("models", "show", "nope"), "no model 'nope' in team 'default'; known models: support-intent"),
        (("models", "stage", "support-intent", "1", "live", "--actor", "a", "--reason", "r"),
         "'live' is not a stage; stages: development, testing, staging, production, archived, rejected"),
        (("models", "stage", "support-intent", "1", "testing", "--actor", "a", "--reason", "r"),
         "cannot move from staging to testing"),
        (("models", "history", "support-intent", "--at", "yesterday"),
         "--at: 'yesterday' is not an ISO 8601 instant"),
        (("models", "stage", "support-intent", "1", "production", "--actor", "", "--reason", "r"),
         "actor: String should have at least 1 character"),
        (("models", "stage", "support-intent", "99999999999", "testing", "--actor", "a", "--reason", "r"),
         "Invalid value for 'version': Input should be less than or equal to 2147483647"),
        (("models", "add-version", "support-intent", "--provider-model-id", "m", "--parent", "99999999999"),
         "Invalid value for '--parent': Input should be less than or equal to 2147483647"),
        (("models", "rollback", "support-intent", "--actor", "a", "--reason", "r", "--expect", "4294967296"),
         "Invalid value for '--expect': Input should be less than or equal to 2147483647"),
        (("models", "history", "support-intent", "--at", "9999-12-31T23:59:59-01:00"),
         "--at: '9999-12-31T23:59:59-01:00' is outside the years 1 to 9999 once converted to UTC"),
        (("models", "stage", "support-intent", "1", "production", "--actor", "ann\x1b[2J", "--reason", "r"),
         "Invalid value for '--actor': contains the control character \\x1b at position 3"),
        (("models", "rollback", "support-intent", "--actor", "a", "--reason", "oops\x1b[2J"),
         "Invalid value for '--reason': contains the control character \\x1b at position 4"),
        (("models", "show", "x" * 129), "Invalid value for 'name': is 129 characters long; at most 128"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_a_message_and_changes_nothing(
    cli: Cli, env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    before = cli("models", "versions", "support-intent", "--json", env=env).out
    result = cli(*args)
    assert result.code == 2
    assert message in " ".join(result.err.split())
    assert cli("models", "versions", "support-intent", "--json").out == before


def test_the_stage_and_expect_arguments_take_any_letter_case(cli: Cli, env: dict[str, str]) -> None:
    args = ("models", "stage", "support-intent", "1", "PRODUCTION", "--actor", "a", "--reason", "r")
    result = cli(*args, "--expect", "Staging", env=env)
    assert result.code == 0, result.err
    assert "staging -> production" in result.out


def test_a_rollback_expecting_a_version_no_longer_in_production_exits_1(
    cli: Cli, env: dict[str, str]
) -> None:
    for version in ("1", "2"):
        args = ("models", "stage", "support-intent", version, "production")
        assert cli(*args, "--actor", "a", "--reason", "r", env=env).code == 0
    before = cli("models", "history", "support-intent", "--json").out
    args = ("models", "rollback", "support-intent", "--actor", "b", "--reason", "errors")
    result = cli(*args, "--expect", "1")
    assert result.code == 1
    assert result.err.strip() == (
        "error: rolling back support-intent: production is v2, not v1 as expected; nothing changed"
    )
    assert cli("models", "history", "support-intent", "--json").out == before
    assert cli(*args, "--expect", "2").code == 0


def test_expect_mismatch_exits_1_as_a_conflict(cli: Cli, env: dict[str, str]) -> None:
    args = ("models", "stage", "support-intent", "1", "production", "--actor", "a", "--reason", "r")
    result = cli(*args, "--expect", "testing", env=env)
    assert result.code == 1
    assert "is in staging, not testing as expected; nothing changed" in result.err


def test_commands_refuse_a_database_that_is_not_migrated(cli: Cli, empty_pg_url: str) -> None:
    result = cli("models", "list", env={"MODELOPS_DATABASE_URL": empty_pg_url})
    assert result.code == 1
    assert "run `modelops db upgrade`" in result.err
    upgraded = cli("db", "upgrade", "--json")
    assert upgraded.code == 0 and json.loads(upgraded.out)["from"] is None
    current = json.loads(cli("db", "current", "--json").out)
    assert current["up_to_date"] is True
    assert cli("models", "list", "--json").out.strip() == "[]"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MODELOPS_DATABASE_URL", "mysql://x@y/z", "MODELOPS_DATABASE_URL: Value error, driver 'mysql'"),
        ("MODELOPS_DATABASE_URL", "not a url", "MODELOPS_DATABASE_URL: Value error, is not a database URL"),
        ("MODELOPS_MASTER_KEY", "c2hvcnQ", "MODELOPS_MASTER_KEY: Value error, key v1 decodes to 5 bytes"),
        ("MODELOPS_TEAM", "Bad Team", "MODELOPS_TEAM: String should match pattern"),
    ],
)  # fmt: skip
def test_malformed_settings_are_a_clear_error_at_start(
    cli: Cli, name: str, value: str, message: str
) -> None:
    result = cli("models", "list", env={name: value})
    assert result.code == 2
    assert message in result.err
