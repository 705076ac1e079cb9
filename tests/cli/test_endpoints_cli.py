"""`modelops endpoints …` as a user runs it: JSON shapes of DESIGN §5, errors and exit codes."""

from __future__ import annotations

import json

import pytest

from registry.database import make_engine, make_session_factory
from registry.endpoints import Owner, OwnerKind, claim_endpoint
from tests.cli.conftest import Cli
from tests.registry.test_endpoints_support import claim, seed_versions, team_named

ROUTE = ("endpoints", "route")
WHO = ("--actor", "ann", "--reason", "canary by hand")


@pytest.fixture
def env(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Team default: support-intent v1 production, v2 staging, v3 development."""
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        seed_versions(session, "default")
    engine.dispose()
    values = {"MODELOPS_DATABASE_URL": pg_url, "MODELOPS_TEAM": "default"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def ok(cli: Cli, *args: str) -> object:
    result = cli(*args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_create_list_and_show_speak_the_documented_json(cli: Cli, env: dict[str, str]) -> None:
    created = ok(cli, "endpoints", "create", "support-prod", "--model", "support-intent")
    staging = ok(cli, "endpoints", "create", "support-staging", "--model", "support-intent",
                 "--environment", "staging")  # fmt: skip
    assert isinstance(created, dict) and isinstance(staging, dict)
    assert {k: created[k] for k in ("name", "model", "environment", "revision", "status")} == {
        "name": "support-prod",
        "model": "support-intent",
        "environment": "production",
        "revision": 1,
        "status": "serving",
    }
    assert created["routes"] == [{"version": 1, "weight": 100, "role": "stable"}]
    assert staging["routes"] == [{"version": 3, "weight": 100, "role": "stable"}]
    assert ok(cli, "endpoints", "list") == [created, staging]
    assert ok(cli, "endpoints", "show", "support-prod") == created


def test_route_moves_weights_and_shadows_with_compare_and_set(
    cli: Cli, env: dict[str, str]
) -> None:
    ok(cli, "endpoints", "create", "support-staging", "--model", "support-intent",
       "--environment", "staging", "--version", "2")  # fmt: skip
    moved = ok(cli, *ROUTE, "support-staging", "2=90", "v3=10", "--shadow", "1=5", *WHO,
               "--expect-revision", "1")  # fmt: skip
    assert isinstance(moved, dict) and moved["revision"] == 2
    assert moved["routes"] == [
        {"version": 2, "weight": 90, "role": "stable"},
        {"version": 3, "weight": 10, "role": "canary"},
        {"version": 1, "weight": 5, "role": "shadow"},
    ]
    stale = cli(*ROUTE, "support-staging", "2=50", "3=50", *WHO, "--expect-revision", "1")
    assert stale.code == 1
    assert "is at revision 2, not 1 as expected; nothing changed" in stale.err
    history = ok(cli, "endpoints", "history", "support-staging")
    assert isinstance(history, list)
    assert [(e["action"], e["actor"], e["reason"]) for e in history] == [
        ("create", history[0]["actor"], "created"),
        ("route", "ann", "canary by hand"),
    ]


def test_route_is_refused_while_a_rollout_owns_the_endpoint(
    cli: Cli, env: dict[str, str], pg_url: str
) -> None:
    ok(cli, "endpoints", "create", "support-prod", "--model", "support-intent")
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        team = team_named(session, "default")
        claim_endpoint(session, team, claim("support-prod"), Owner(kind=OwnerKind.ROLLOUT, id=4))
    engine.dispose()
    refused = cli(*ROUTE, "support-prod", "1=100", *WHO)
    assert refused.code == 1
    assert "endpoint 'support-prod' is owned by rollout 4: its routes change only through it" in (
        refused.err
    )
    shown = ok(cli, "endpoints", "show", "support-prod")
    assert isinstance(shown, dict) and shown["owner"] == {"kind": "rollout", "id": 4}
    assert "owned by rollout 4" in cli("endpoints", "show", "support-prod").out


def test_undeploy_then_route_is_refused(cli: Cli, env: dict[str, str]) -> None:
    ok(cli, "endpoints", "create", "support-prod", "--model", "support-intent")
    gone = ok(cli, "endpoints", "undeploy", "support-prod", "--actor", "dana", "--reason", "eol")
    assert isinstance(gone, dict) and gone["status"] == "undeployed" and gone["undeployed_at"]
    refused = cli(*ROUTE, "support-prod", "1=100", *WHO)
    assert refused.code == 2 and "was undeployed at" in refused.err


def test_a_promotion_through_the_cli_moves_the_production_endpoint(
    cli: Cli, env: dict[str, str]
) -> None:
    ok(cli, "endpoints", "create", "support-prod", "--model", "support-intent")
    moved = cli("models", "stage", "support-intent", "2", "production", *WHO)
    assert moved.code == 0, moved.err
    shown = ok(cli, "endpoints", "show", "support-prod")
    assert isinstance(shown, dict)
    assert (shown["revision"], shown["routes"]) == (
        2,
        [{"version": 2, "weight": 100, "role": "stable"}],
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((*ROUTE, "support-prod", "1=90", "2=20", *WHO), "must sum to 100, got 110 (1=90 2=20)"),
        ((*ROUTE, "support-prod", "1=ninety", *WHO), "V=W[:ROLE] '1=ninety': expected a version"),
        ((*ROUTE, "support-prod", "1=101", *WHO), "a whole percent 1-100"),
        ((*ROUTE, "support-prod", "1=100:boss", *WHO), "a role (stable, canary, preview, variant)"),
        ((*ROUTE, "support-prod", "1=100", "--shadow", "2", *WHO), "--shadow '2': expected a version"),
        ((*ROUTE, "support-prod", "1=90", "2=10", *WHO), "support-intent v2 is in staging: a production endpoint serves only"),
        ((*ROUTE, "nope", "1=100", *WHO), "no endpoint 'nope' in team 'default'; known endpoints: support-prod"),
        (("endpoints", "create", "x", "--model", "support-intent", "--environment", "prod"),
         "'prod' is not one of 'development', 'staging', 'production'"),
        (("endpoints", "create", "Bad_Name", "--model", "support-intent"), "name: Value error, 'Bad_Name' is not allowed: use lowercase letters"),
        (("endpoints", "create", "x", "--model", "nope"), "no model 'nope' in team 'default'"),
        (("endpoints", "create", "support-prod", "--model", "support-intent"), "already has an endpoint named 'support-prod'"),
        (("endpoints", "show", "nope"), "no endpoint 'nope'"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_naming_the_argument_and_changes_nothing(
    cli: Cli, env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    ok(cli, "endpoints", "create", "support-prod", "--model", "support-intent")
    result = cli(*args)
    assert result.code == 2, result
    assert message in result.err
    shown = ok(cli, "endpoints", "show", "support-prod")
    assert isinstance(shown, dict) and shown["revision"] == 1
    assert [e["name"] for e in ok(cli, "endpoints", "list")] == ["support-prod"]  # type: ignore[union-attr]


def test_a_team_without_endpoints_lists_none(cli: Cli, env: dict[str, str]) -> None:
    assert ok(cli, "endpoints", "list") == []
    assert (
        "endpoints of team other: none"
        in cli("endpoints", "list", env={"MODELOPS_TEAM": "other"}).out
    )
