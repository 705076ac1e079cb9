"""`modelops ab …` as a user runs it: plan, list, show and stop, with JSON, precise errors for
bad input (exit 2, nothing created) and an endpoint a rollout owns (exit 1)."""

from __future__ import annotations

import json

import pytest

from modelops.abtest_traffic import SyntheticTraffic
from registry.abtests.lifecycle import start_test
from registry.database import make_engine, make_session_factory
from registry.endpoints import EndpointChange, Environment, Owner, OwnerKind, claim_endpoint
from tests.cli.conftest import Cli
from tests.registry.test_endpoints_support import create, get, routes_of, seed_versions

CREATE = (
    "ab", "create", "support-prod", "--variant", "1=50", "--variant", "2=50",
    "--primary", "success_rate", "--mde", "0.03", "--actor", "ann",
)  # fmt: skip


@pytest.fixture
def env(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Team default: support-intent v1 production, v2 staging, v3 development; support-prod
    serves v1."""
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        team = seed_versions(session, "default")
        create(session, team, "support-prod", Environment.PRODUCTION)
    engine.dispose()
    monkeypatch.setenv("MODELOPS_DATABASE_URL", pg_url)
    monkeypatch.setenv("MODELOPS_TEAM", "default")
    return pg_url


def ok(cli: Cli, *args: str) -> object:
    result = cli(*args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_create_list_and_show_speak_json(cli: Cli, env: str) -> None:
    created = ok(cli, *CREATE, "--guardrail", "latency_p95:10%", "--guardrail",
                 "cost_per_request:lower:50", "--name", "new prompt")  # fmt: skip
    assert isinstance(created, dict)
    assert (created["status"], created["endpoint"], created["name"]) == (
        "planned", "support-prod", "new prompt",
    )  # fmt: skip
    assert created["variants"] == [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}]
    guardrails = created["definition"]["guardrails"]  # type: ignore[index]
    assert [(g["metric"], g["margin"], g["relative"]) for g in guardrails] == [
        ("latency_p95", 0.1, True),
        ("cost_per_request", 50.0, False),
    ]
    assert ok(cli, "ab", "list") == [created]
    shown = ok(cli, "ab", "show", str(created["id"]))
    assert shown == {**created, "looks_detail": []}
    text = cli("ab", "show", str(created["id"]))
    assert text.code == 0 and "A/B test #1 (planned)" in text.out
    assert "v1 (a, 50%) vs v2 (b, 50%)" in text.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--variant", "1=60", "--variant", "2=30"), "weights must sum to 100, got 90"),
        (("--variant", "1=50", "--variant", "7=50"), "has no version 7"),
        (("--variant", "1=50", "--variant", "3=50"), "v3 is in development"),
        (("--primary", "happiness"), "unknown metric 'happiness'"),
        (("--alpha", "1.5"), "alpha must be in (0, 1), exclusive, got 1.5"),
        (("--alpha", "0"), "alpha must be in (0, 1), exclusive, got 0.0"),
        (("--guardrail", "latency_p95"), "expected METRIC[:higher|lower]:MARGIN[%]"),
        (("--promote-to", "archived"), "promote_to must be one of testing, staging, production"),
        (("--variant", "1=fifty"), "expected a version, '=' and a percent"),
    ],
)
def test_bad_input_is_refused_with_exit_2_and_creates_nothing(
    cli: Cli, env: str, args: tuple[str, ...], message: str
) -> None:
    base = list(CREATE)
    for flag in {a for a in args if a.startswith("--")}:
        while flag in base:  # the case's own values replace the defaults
            at = base.index(flag)
            del base[at : at + 2]
    result = cli(*base, *args)
    assert result.code == 2, result.err
    assert message in result.err
    assert ok(cli, "ab", "list") == []


def test_an_endpoint_a_rollout_owns_is_refused_with_exit_1(cli: Cli, env: str) -> None:
    engine = make_engine(env)
    with make_session_factory(engine).begin() as session:
        team = seed_team(session)
        claim_endpoint(
            session,
            team,
            EndpointChange(endpoint="support-prod", actor="rollout-flow", reason="canary"),
            Owner(kind=OwnerKind.ROLLOUT, id=3),
        )
    engine.dispose()
    result = cli(*CREATE)
    assert result.code == 1
    assert "endpoint 'support-prod' is owned by rollout 3" in result.err
    assert ok(cli, "ab", "list") == []


def seed_team(session):  # type: ignore[no-untyped-def]
    from tests.registry.test_endpoints_support import team_named

    return team_named(session, "default")


def test_stop_ends_a_running_test_with_a_last_look_and_restores_the_routes(
    cli: Cli, env: str
) -> None:
    planned = ok(cli, *CREATE)
    assert isinstance(planned, dict)
    engine = make_engine(env)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_team(session)
        start_test(session, team, int(planned["id"]))
    SyntheticTraffic(sessions, team, success={1: 0.9, 2: 0.9}, seed=1).send("support-prod", 400)
    stopped = ok(cli, "ab", "stop", str(planned["id"]), "--actor", "bob", "--reason", "typo")
    assert isinstance(stopped, dict)
    assert (stopped["status"], stopped["verdict"], stopped["looks"]) == ("stopped", "stopped", 1)
    assert "stopped by bob (typo)" in str(stopped["verdict_reason"])
    with sessions.begin() as session:
        endpoint = get(session, team, "support-prod")
    engine.dispose()
    assert routes_of(endpoint) == [(1, 100, "stable")] and endpoint.owner is None
    shown = ok(cli, "ab", "show", str(planned["id"]))
    assert isinstance(shown, dict) and len(shown["looks_detail"]) == 1  # type: ignore[arg-type]
    again = cli("ab", "stop", str(planned["id"]), "--actor", "bob", "--reason", "again")
    assert again.code == 2 and "already stopped" in again.err


def test_an_unknown_test_is_exit_2(cli: Cli, env: str) -> None:
    result = cli("ab", "show", "99")
    assert result.code == 2 and "no A/B test #99 in team 'default'" in result.err
