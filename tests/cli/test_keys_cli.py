"""`modelops keys …` as an operator runs it, against a real PostgreSQL database."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from registry.database import make_engine, make_session_factory
from registry.keys.tables import ProviderKeyRow
from tests.cli.conftest import Cli, Result
from tests.registry.test_keys_support import MASTER_1, MASTER_2, MASTER_3, seed_providers

SECRET_A = "sk-test-cli-aaaaaaaaaaaaaaaa1111"
SECRET_B = "sk-test-cli-bbbbbbbbbbbbbbbb2222"
RING_1 = f"v1:{MASTER_1}"


@pytest.fixture
def env(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        seed_providers(session)
    engine.dispose()
    monkeypatch.delenv("MODELOPS_MASTER_KEY", raising=False)
    yield {
        "MODELOPS_DATABASE_URL": pg_url,
        "MODELOPS_TEAM": "default",
        "MODELOPS_MASTER_KEY": RING_1,
    }


def _add(cli: Cli, env: dict[str, str], label: str, secret: str, *extra: str) -> Result:
    return cli("keys", "add", "openai", "--label", label, *extra, env=env, stdin=secret + "\n")


def _no_secret_in(*results: Result) -> None:
    for result in results:
        for secret in (SECRET_A, SECRET_B):
            assert secret not in result.out and secret not in result.err


def test_add_reads_the_key_from_stdin_and_shows_only_its_last_four(
    cli: Cli, env: dict[str, str]
) -> None:
    added = _add(cli, env, "prod-1", SECRET_A, "--priority", "10")
    assert added.code == 0, added.err
    assert added.out.strip() == "added key prod-1 (…1111) for openai as id 1"
    listed = cli("keys", "list")
    assert listed.code == 0 and "…1111" in listed.out and "prod-1" in listed.out
    _no_secret_in(added, listed)


def test_add_reads_the_key_from_a_named_environment_variable(cli: Cli, env: dict[str, str]) -> None:
    env = {**env, "OPENAI_KEY_FOR_TEST": SECRET_B}
    added = cli(
        "keys", "add", "openai", "--label", "b", "--from-env", "OPENAI_KEY_FOR_TEST", env=env
    )
    assert added.code == 0, added.err
    missing = cli("keys", "add", "openai", "--label", "c", "--from-env", "NOT_SET_ANYWHERE_X")
    assert missing.code == 2 and "NOT_SET_ANYWHERE_X" in missing.err
    _no_secret_in(added, missing)


def test_add_on_a_terminal_prompts_without_echo(
    cli: Cli, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[dict[str, object]] = []

    class Terminal:
        def isatty(self) -> bool:
            return True

    def prompt(text: str, **kwargs: object) -> str:
        prompts.append(kwargs)
        return SECRET_A

    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("typer.prompt", prompt)
    added = cli("keys", "add", "openai", "--label", "typed", env=env)
    assert added.code == 0, added.err
    assert prompts == [{"hide_input": True}]


def test_the_key_is_never_accepted_as_an_argument(cli: Cli, env: dict[str, str]) -> None:
    result = cli("keys", "add", "openai", SECRET_A, "--label", "argv", env=env, stdin="")
    assert result.code == 2
    assert "never from arguments" in result.err
    _no_secret_in(result)
    assert cli("keys", "list", "--json").out.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("keys", "add", "nosuch", "--label", "x"), SECRET_A, "known providers: anthropic, openai"),
        (("keys", "add", "openai", "--label", "x"), "  \n", "the key is empty"),
        (("keys", "list", "nosuch"), "", "known providers: anthropic, openai"),
        (("keys", "disable", "42"), "", "no key 42 in team 'default'"),
    ],
)
def test_bad_input_exits_2_and_says_what_to_do(
    cli: Cli, env: dict[str, str], args: tuple[str, ...], stdin: str, message: str
) -> None:
    result = cli(*args, env=env, stdin=stdin)
    assert result.code == 2
    assert message in result.err
    _no_secret_in(result)


@pytest.mark.parametrize(
    "secret",
    [
        "sk-test-cli-\u00e4\u00e4\u00e4\u00e4-1111",  # non-ASCII letters
        "sk\u2010test\u2010cli\u2010key\u20101111",  # typographic hyphens from copy and paste
        "sk-test-cli-\x1b[2J-1111",  # a terminal escape
        "sk-test cli key 1111",  # inner spaces
    ],
)
def test_add_refuses_a_key_no_http_header_can_carry_and_stores_nothing(
    cli: Cli, env: dict[str, str], secret: str
) -> None:
    result = _add(cli, env, "pasted", secret)
    assert result.code == 2
    assert "a key may hold only printable ASCII" in result.err
    assert "Nothing was stored" in result.err
    assert secret not in result.out + result.err
    odd = [char for char in secret if not (char.isascii() and char.isprintable())]
    assert not any(char in result.err for char in odd)  # not even the offending characters
    assert cli("keys", "list", "--json", env=env).out.strip() == "[]"


def test_add_without_a_master_key_says_to_make_one(cli: Cli, env: dict[str, str]) -> None:
    result = _add(cli, {**env, "MODELOPS_MASTER_KEY": ""}, "k", SECRET_A)
    assert result.code == 2
    assert "MODELOPS_MASTER_KEY is not set" in result.err and "keys new-master" in result.err


def test_list_json_has_the_documented_shape(cli: Cli, env: dict[str, str]) -> None:
    _add(cli, env, "prod-1", SECRET_A, "--priority", "5")
    result = cli("keys", "list", "openai", "--json")
    (key,) = json.loads(result.out)
    assert {"label", "status", "cooldown_until", "last4"} <= set(key)
    assert {"id", "provider", "priority", "error_count", "last_used_at", "disabled_reason"} <= set(
        key
    )
    assert (key["label"], key["status"], key["cooldown_until"], key["last4"]) == (
        "prod-1",
        "active",
        None,
        "1111",
    )
    _no_secret_in(result)


def test_disable_and_enable_round_trip(cli: Cli, env: dict[str, str]) -> None:
    _add(cli, env, "prod-1", SECRET_A)
    disabled = cli("keys", "disable", "1", "--reason", "leaked in a screenshot")
    assert disabled.code == 0
    assert disabled.out.strip() == "disabled key 1 (prod-1 …1111): leaked in a screenshot"
    (key,) = json.loads(cli("keys", "list", "--json").out)
    assert (key["status"], key["disabled_reason"]) == ("disabled", "leaked in a screenshot")
    enabled = cli("keys", "enable", "1")
    assert enabled.code == 0 and enabled.out.strip() == "enabled key 1 (prod-1 …1111)"
    assert json.loads(cli("keys", "list", "--json").out)[0]["status"] == "active"


def test_another_team_neither_sees_nor_changes_the_keys(cli: Cli, env: dict[str, str]) -> None:
    _add(cli, env, "prod-1", SECRET_A)
    other = {**env, "MODELOPS_TEAM": "other"}
    assert cli("keys", "list", "--json", env=other).out.strip() == "[]"
    assert cli("keys", "disable", "1", env=other).code == 2
    assert json.loads(cli("keys", "list", "--json", env=env).out)[0]["status"] == "active"


def test_rotate_master_rewraps_and_the_old_master_can_then_go(
    cli: Cli, env: dict[str, str], pg_url: str
) -> None:
    _add(cli, env, "a", SECRET_A)
    _add(cli, env, "b", SECRET_B)
    both = {**env, "MODELOPS_MASTER_KEY": f"v2:{MASTER_2},{RING_1}"}
    rotated = cli("keys", "rotate-master", env=both)
    assert rotated.code == 0, rotated.err
    assert rotated.out.startswith("re-wrapped 2 keys onto master v2")
    assert "0 remain on older masters" in rotated.out
    again = json.loads(cli("keys", "rotate-master", "--json", env=both).out)
    assert (again["rewrapped"], again["already_current"], again["remaining"]) == (0, 2, 0)
    only_new = {**env, "MODELOPS_MASTER_KEY": MASTER_2}  # a bare key: renumbered v1
    verified = cli("keys", "verify", env=only_new)
    assert verified.code == 0 and "all 2 keys open" in verified.out
    _no_secret_in(rotated, verified)
    engine = make_engine(pg_url)
    with make_session_factory(engine)() as session:
        assert set(session.scalars(select(ProviderKeyRow.kek_version))) == {"v2"}
    engine.dispose()


def test_rotate_master_without_the_old_master_names_the_keys_and_fails(
    cli: Cli, env: dict[str, str]
) -> None:
    _add(cli, env, "a", SECRET_A)
    result = cli("keys", "rotate-master", env={**env, "MODELOPS_MASTER_KEY": f"v3:{MASTER_3}"})
    assert result.code == 1
    assert "key 1 (default/openai a …1111, master v1)" in result.err
    assert "add it back" in result.err and "0 keys onto master v3" in result.out


def test_new_master_prints_a_fresh_key_and_how_to_rotate(cli: Cli, env: dict[str, str]) -> None:
    result = cli("keys", "new-master", env=env)
    assert result.code == 0
    version, _, key = result.out.strip().partition(":")
    assert version == "v2"  # MODELOPS_MASTER_KEY holds v1
    assert len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) == 32
    assert 'MODELOPS_MASTER_KEY="v2:<key>,$MODELOPS_MASTER_KEY"' in result.err
    assert "keys rotate-master" in result.err and key not in result.err
    first = cli("keys", "new-master", env={**env, "MODELOPS_MASTER_KEY": ""})
    assert first.out.startswith("v1:") and first.out.strip() != result.out.strip()
