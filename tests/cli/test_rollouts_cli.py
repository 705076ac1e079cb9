"""`modelops rollouts …` as a user runs it: list and show with JSON (measurements and
decisions), pause, resume and abort, and precise errors (exit 2 for bad input and for a move
the rollout's state does not allow), nothing changed."""

from __future__ import annotations

import json

import pytest

from modelops.abtest_traffic import SyntheticTraffic
from registry.database import make_engine, make_session_factory
from registry.endpoints import Environment
from registry.rollouts.lifecycle import create_rollout, start_rollout
from registry.rollouts.steps import take_look
from registry.teams import TeamRepository
from tests.cli.conftest import Cli
from tests.registry.rollout_support import request
from tests.registry.test_endpoints_support import create, get, routes_of, seed_versions


@pytest.fixture
def env(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Team default: support-prod serves v1; rollout #1 puts v2 at 10% with one look taken."""
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_versions(session, "default")
        create(session, team, "support-prod", Environment.PRODUCTION)
        rollout = create_rollout(session, team, request())
        start_rollout(session, team, rollout.id)
    SyntheticTraffic(sessions, team, success={1: 0.99, 2: 0.99}).send("support-prod", 200)
    with sessions.begin() as session:
        take_look(session, team, rollout.id)
    engine.dispose()
    monkeypatch.setenv("MODELOPS_DATABASE_URL", pg_url)
    monkeypatch.setenv("MODELOPS_TEAM", "default")
    return pg_url


def ok(cli: Cli, *args: str) -> object:
    result = cli(*args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_list_and_show_speak_json_with_measurements_and_decisions(cli: Cli, env: str) -> None:
    listed = ok(cli, "rollouts", "list")
    assert isinstance(listed, list) and len(listed) == 1
    first = listed[0]
    assert (first["id"], first["endpoint"], first["version"], first["strategy"]) == (
        1, "support-prod", 2, "canary",
    )  # fmt: skip
    assert (first["status"], first["step"], first["steps"], first["weight"]) == (
        "progressing", 1, [10, 50, 100], 10,
    )  # fmt: skip
    assert first["run_name"] == "deploy-support-prod-v2"
    shown = ok(cli, "rollouts", "show", "1")
    assert isinstance(shown, dict)
    (measured,) = shown["measurements_detail"]
    assert measured["verdict"] == "inconclusive"
    assert measured["baseline"]["requests"] + measured["candidate"]["requests"] == 200
    assert [d["kind"] for d in shown["decisions"]] == ["start", "hold"]
    text = cli("rollouts", "show", "1")
    assert text.code == 0 and "rollout #1 (progressing)" in text.out
    assert ok(cli, "rollouts", "list", "--status", "succeeded") == []


def test_pause_resume_abort_move_the_rollout_and_its_routes(cli: Cli, env: str) -> None:
    who = ("--actor", "ann", "--reason", "checking")
    assert ok(cli, "rollouts", "pause", "1", *who)["status"] == "paused"  # type: ignore[index]
    again = cli("rollouts", "pause", "1", *who)
    assert again.code == 2 and "only a progressing rollout can pause" in again.err
    assert ok(cli, "rollouts", "resume", "1", *who)["status"] == "progressing"  # type: ignore[index]
    aborted = ok(cli, "rollouts", "abort", "1", *who)
    assert aborted["status"] == "rolled_back"  # type: ignore[index]
    assert "aborted by ann: checking" in aborted["outcome"]  # type: ignore[index]
    engine = make_engine(env)
    with make_session_factory(engine).begin() as session:
        team = TeamRepository(session).find("default")
        assert team is not None
        assert routes_of(get(session, team, "support-prod")) == [(1, 100, "stable")]
    engine.dispose()
    twice = cli("rollouts", "abort", "1", *who)
    assert twice.code == 2 and "already rolled_back" in twice.err


def test_bad_input_exits_2_and_an_unknown_rollout_is_named(cli: Cli, env: str) -> None:
    status = cli("rollouts", "list", "--status", "done")
    assert status.code == 2 and "expected one of pending, progressing" in status.err
    empty = cli("rollouts", "pause", "1", "--actor", " ", "--reason", "x")
    assert empty.code == 2 and "--actor and --reason must not be empty" in empty.err
    missing = cli("rollouts", "show", "9")
    assert missing.code != 0 and "no rollout #9 in team 'default'" in missing.err
    assert "Traceback" not in missing.err
