"""`modelops providers list|check` against real PostgreSQL and the fake OpenAI server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelops.cli import output
from registry.database import make_engine, make_session_factory
from registry.keys import CooldownPolicy, KeyOutcome, KeyPool
from registry.tables import ProviderRow
from registry.teams import TeamRepository
from tests.cli.conftest import Cli, Result
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.fakes.server import refusing_port
from tests.registry.test_keys_support import MASTER_1, ring

# The first is not shaped like a key, so only redacting the call's own secret can hide it.
SECRET_A = "plainsecretCLIaaaaaaaa1111"
SECRET_B = "sk-test-cli-bbbbbbbbbbbbbbbb2222"
RING_1 = f"v1:{MASTER_1}"


@pytest.fixture(scope="module")
def _openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def server(_openai_server: FakeOpenAIServer) -> FakeOpenAIServer:
    _openai_server.reset()
    return _openai_server


@pytest.fixture
def env(
    pg_url: str, server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        for name, kind, url in [
            ("openai", "openai", server.base_url),
            ("local", "local", None),
            ("kie", "asyncgen", "http://127.0.0.1:9/api/v1"),
        ]:
            session.add(ProviderRow(name=name, kind=kind, base_url=url, options={}, source_file=""))
    engine.dispose()
    monkeypatch.delenv("MODELOPS_MASTER_KEY", raising=False)
    return {
        "MODELOPS_DATABASE_URL": pg_url,
        "MODELOPS_TEAM": "default",
        "MODELOPS_MASTER_KEY": RING_1,
        "MODELOPS_DATA_DIR": str(tmp_path / "data"),
    }


def _add(cli: Cli, env: dict[str, str], label: str, secret: str, priority: int) -> int:
    added = cli(
        "keys", "add", "openai", "--label", label, "--priority", str(priority), "--json",
        env=env, stdin=secret + "\n",
    )  # fmt: skip
    assert added.code == 0, added.err
    return int(json.loads(added.out)["id"])


def _no_secret_in(*results: Result) -> None:
    for result in results:
        for secret in (SECRET_A, SECRET_B):
            assert secret not in result.out and secret not in result.err


def test_check_reports_which_key_answered_and_what_the_others_met(
    cli: Cli, env: dict[str, str], server: FakeOpenAIServer
) -> None:
    a = _add(cli, env, "primary", SECRET_A, 10)
    b = _add(cli, env, "backup", SECRET_B, 0)
    server.always(SECRET_A, Fault.unauthorized())  # echoes the key in its message
    checked = cli("providers", "check", "openai", "--model", "gpt-test", "--json", env=env)
    assert checked.code == 0, checked.err
    report = json.loads(checked.out)
    assert report["provider"] == "openai" and report["model"] == "gpt-test"
    assert report["ok"] is True
    assert report["answered_by"] == {"id": b, "label": "backup", "last4": "2222"}
    first, second = report["attempts"]
    assert set(first) == {"key_id", "label", "last4", "outcome", "detail", "seconds"}
    assert (first["key_id"], first["outcome"], first["last4"]) == (a, "key_scoped", "1111")
    assert "Incorrect API key provided: [redacted]" in first["detail"]
    assert (second["key_id"], second["outcome"]) == (b, "success")
    [sent, _] = server.requests_to("/chat/completions")
    assert sent.json()["max_tokens"] == 1  # the minimal real call
    _no_secret_in(checked)


def test_check_text_output_redacts_the_key_a_401_echoes(
    cli: Cli, env: dict[str, str], server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output.stdout, "width", 250)  # one table row per line
    _add(cli, env, "primary", SECRET_A, 10)
    _add(cli, env, "backup", SECRET_B, 0)
    server.always(SECRET_A, Fault.unauthorized())
    checked = cli("providers", "check", "openai", "--model", "gpt-test", env=env)
    assert checked.code == 0, checked.err
    assert "answered by key" in checked.out and "backup …2222" in checked.out
    assert "key_scoped" in checked.out
    assert "Incorrect API key provided: [redacted]." in checked.out  # shown, not eaten as markup
    _no_secret_in(checked)


def test_check_exits_1_when_no_key_answered(
    cli: Cli, env: dict[str, str], server: FakeOpenAIServer
) -> None:
    _add(cli, env, "primary", SECRET_A, 10)
    _add(cli, env, "backup", SECRET_B, 0)
    server.always(SECRET_A, Fault.unauthorized())
    server.always(SECRET_B, Fault.rate_limited(retry_after="120"))
    checked = cli(
        "providers", "check", "openai", "--model", "m", "--json", "--budget", "5", env=env
    )
    assert checked.code == 1
    report = json.loads(checked.out)
    assert report["ok"] is False and report["answered_by"] is None
    assert [a["outcome"] for a in report["attempts"]] == ["key_scoped", "rate_limited"]
    assert "The first key frees up at" in checked.err
    _no_secret_in(checked)


def _keys(cli: Cli, env: dict[str, str]) -> dict[str, dict[str, object]]:
    listed = cli("keys", "list", "openai", "--json", env=env)
    assert listed.code == 0, listed.err
    return {key["label"]: key for key in json.loads(listed.out)}


def test_check_fails_over_from_a_hung_key_and_skips_it_once_it_cools(
    cli: Cli, env: dict[str, str], server: FakeOpenAIServer
) -> None:
    hung = _add(cli, env, "hung", SECRET_A, 10)
    healthy = _add(cli, env, "healthy", SECRET_B, 0)
    server.always(SECRET_A, Fault.hang(30))  # the connection is accepted, no answer ever comes
    check = ("providers", "check", "openai", "--model", "gpt-test", "--json", "--budget", "10")
    check += ("--attempt-timeout", "0.2")
    n = CooldownPolicy().timeouts_before_cooldown
    for _ in range(n):
        checked = cli(*check, env=env)
        assert checked.code == 0, checked.err
        report = json.loads(checked.out)
        assert report["answered_by"]["id"] == healthy
        first, second = report["attempts"]
        assert (first["key_id"], first["outcome"]) == (hung, "timed_out")
        assert "no answer within the 0.2s attempt timeout" in first["detail"]
        assert (second["key_id"], second["outcome"]) == (healthy, "success")
        assert sum(a["seconds"] for a in report["attempts"]) < 10
    keys = _keys(cli, env)
    assert (keys["hung"]["status"], keys["hung"]["error_count"]) == ("cooling", n)
    checked = cli(*check, env=env)
    assert checked.code == 0, checked.err
    assert [a["key_id"] for a in json.loads(checked.out)["attempts"]] == [healthy]
    assert server.keys_used() == [SECRET_A, SECRET_B] * n + [SECRET_B]
    _no_secret_in(checked)


def test_check_of_a_provider_refusing_connections_names_it_and_charges_no_key(
    cli: Cli, env: dict[str, str], pg_url: str
) -> None:
    _add(cli, env, "primary", SECRET_A, 10)
    _add(cli, env, "backup", SECRET_B, 0)
    with refusing_port() as port:
        engine = make_engine(pg_url)
        with make_session_factory(engine).begin() as session:
            openai = session.query(ProviderRow).filter_by(name="openai").one()
            openai.base_url = f"http://127.0.0.1:{port}/v1"
        engine.dispose()
        checked = cli("providers", "check", "openai", "--model", "m", "--budget", "0.5", env=env)
    assert checked.code == 1
    assert f"connection refused at 127.0.0.1:{port}" in checked.err
    assert "unreachable" in checked.out
    keys = _keys(cli, env)
    assert [(k["status"], k["error_count"]) for k in keys.values()] == [("active", 0)] * 2
    _no_secret_in(checked)


def test_check_of_a_team_without_keys_says_how_to_add_one(cli: Cli, env: dict[str, str]) -> None:
    checked = cli("providers", "check", "openai", "--model", "m", env=env)
    assert checked.code == 1
    assert "modelops keys add openai" in checked.err


def test_check_of_an_unknown_provider_exits_2_listing_the_known_ones(
    cli: Cli, env: dict[str, str]
) -> None:
    checked = cli("providers", "check", "nope", "--model", "m", env=env)
    assert checked.code == 2
    assert "unknown provider 'nope'" in checked.err
    assert "kie, local, openai" in checked.err


def test_check_without_a_model_of_the_team_asks_for_one(cli: Cli, env: dict[str, str]) -> None:
    checked = cli("providers", "check", "openai", env=env)
    assert checked.code == 2
    assert "pass --model" in checked.err


def test_check_refuses_a_provider_that_only_generates_media(
    cli: Cli, env: dict[str, str], server: FakeOpenAIServer
) -> None:
    checked = cli("providers", "check", "kie", "--model", "flux", env=env)
    assert checked.code == 2
    assert "cannot check kie" in checked.err and "generation" in checked.err


def test_check_of_the_local_provider_needs_no_key_and_reports_what_it_cannot_serve(
    cli: Cli, env: dict[str, str]
) -> None:
    no_master = {**env, "MODELOPS_MASTER_KEY": ""}
    checked = cli("providers", "check", "local", "--model", "tfidf-logreg", "--json", env=no_master)
    assert checked.code == 1
    report = json.loads(checked.out)
    assert report["answered_by"] is None and report["attempts"] == []
    assert "untrained base model" in report["error"]


def test_list_counts_keys_by_status_and_shows_cooling_models(
    cli: Cli, env: dict[str, str], pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output.stdout, "width", 200)  # one table row per line
    a = _add(cli, env, "primary", SECRET_A, 10)
    _add(cli, env, "backup", SECRET_B, 0)
    assert cli("keys", "disable", str(a), env=env).code == 0
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        team = TeamRepository(session).ensure("default")
        pool = KeyPool(session, team, ring(RING_1))
        backup = next(k.id for k in pool.list("openai") if k.label == "backup")
        outcome = KeyOutcome.MODEL_SCOPED
        pool.record_failure(backup, outcome, retry_after=600, reason="overloaded", model="gpt-x")
    engine.dispose()
    listed = cli("providers", "list", "--json", env=env)
    assert listed.code == 0, listed.err
    by_name = {item["name"]: item for item in json.loads(listed.out)}
    assert list(by_name) == ["kie", "local", "openai"]
    openai = by_name["openai"]
    assert openai["kind"] == "openai" and openai["needs_key"] is True
    assert openai["keys"] == {"total": 2, "active": 1, "cooling": 0, "disabled": 1}
    [cooling] = openai["model_cooldowns"]
    assert cooling["model"] == "gpt-x" and cooling["reason"] == "overloaded"
    assert by_name["local"]["needs_key"] is False
    text = cli("providers", "list", env=env)
    assert "1 active, 0 cooling, 1 disabled" in text.out and "gpt-x until" in text.out
    assert "no key needed" in text.out
    _no_secret_in(listed, text)


def test_list_of_a_team_not_created_yet_shows_no_keys(cli: Cli, env: dict[str, str]) -> None:
    listed = cli("providers", "list", "--json", env={**env, "MODELOPS_TEAM": "newcomers"})
    assert listed.code == 0, listed.err
    assert all(item["keys"]["total"] == 0 for item in json.loads(listed.out))
