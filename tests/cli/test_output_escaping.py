"""Text that came from the database prints with its control characters escaped."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from registry.database import make_engine, make_session_factory
from registry.orm import utcnow
from registry.stages import Stage
from registry.tables import LedgerEntryRow, ModelRow, ModelVersionRow
from tests.cli.conftest import Cli
from tests.registry.seed import add_version, seed_model

CLEAR_SCREEN = "\x1b[2J"


@pytest.fixture
def env(pg_url: str) -> dict[str, str]:
    """A model whose description and one ledger entry hold ESC, written around validation."""
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        team = seed_model(session, "default")
        version = add_version(session, team)
        session.execute(update(ModelRow).values(description=f"routes{CLEAR_SCREEN}tickets"))
        row = session.query(ModelVersionRow).filter_by(version=version).one()
        session.add(
            LedgerEntryRow(
                team_id=team.id, model_id=row.model_id, version_id=row.id, version=version,
                action="transition", from_stage=Stage.DEVELOPMENT.value,
                to_stage=Stage.TESTING.value, actor=f"mallory{CLEAR_SCREEN}",
                reason="see\x07\r\u202eabove", evidence={}, at=utcnow(),
            )
        )  # fmt: skip
    engine.dispose()
    return {"MODELOPS_DATABASE_URL": pg_url, "MODELOPS_TEAM": "default"}


def test_a_ledger_table_shows_control_characters_as_escapes(cli: Cli, env: dict[str, str]) -> None:
    result = cli("models", "history", "support-intent", env=env)
    assert result.code == 0, result.err
    assert "\x1b" not in result.out and "\x07" not in result.out and "\r" not in result.out
    assert "mallory\\x1b[2J" in result.out
    assert "see\\x07\\r\\u202eabove" in result.out


def test_plain_lines_show_control_characters_as_escapes(cli: Cli, env: dict[str, str]) -> None:
    result = cli("models", "show", "support-intent", env=env)
    assert result.code == 0, result.err
    assert "\x1b" not in result.out
    assert "routes\\x1b[2Jtickets" in result.out


def test_json_output_escapes_control_characters_and_keeps_the_value(
    cli: Cli, env: dict[str, str]
) -> None:
    result = cli("models", "history", "support-intent", "--json", env=env)
    assert "\x1b" not in result.out
    assert json.loads(result.out)[-1]["actor"] == f"mallory{CLEAR_SCREEN}"


def test_every_line_the_consoles_print_escapes_control_characters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from modelops.cli import output

    output.stderr.print(f"key {CLEAR_SCREEN}label cannot be opened", markup=False)
    output.say(f"two\nlines, one {CLEAR_SCREEN}")
    captured = capsys.readouterr()
    assert captured.err == "key \\x1b[2Jlabel cannot be opened\n"
    assert captured.out == "two\nlines, one \\x1b[2J\n"


def test_emoji_codes_print_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    from modelops.cli import output

    output.print_table("t", ["note"], [(":warning: see :smile:",)])
    output.say("done :+1:")
    out = capsys.readouterr().out
    assert ":warning: see :smile:" in out and "done :+1:" in out


def test_stored_text_that_looks_like_markup_prints_as_it_is(cli: Cli, pg_url: str) -> None:
    """`[redacted]` and `[bold red]…[/]` in a description are data, not rich markup."""
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        seed_model(session, "default")
        shown = "tickets [redacted] for [bold red]urgent[/] queues"
        session.execute(update(ModelRow).values(description=shown))
    engine.dispose()
    result = cli("models", "show", "support-intent",
                 env={"MODELOPS_DATABASE_URL": pg_url, "MODELOPS_TEAM": "default"})  # fmt: skip
    assert result.code == 0, result.err
    assert shown in result.out
