"""Bad values end in a message naming the argument (exit 2), and no SQL ever reaches a user."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from modelops.cli.errors import BAD_INPUT, FAILURE, describe_failure
from registry.database import make_engine, make_session_factory
from registry.errors import InvalidInputError, translate_database_errors
from tests.cli.conftest import Cli
from tests.registry.seed import add_version, seed_model

TOO_BIG = "99999999999"


@pytest.fixture
def env(pg_url: str) -> dict[str, str]:
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        add_version(session, seed_model(session, "default"))
    engine.dispose()
    return {"MODELOPS_DATABASE_URL": pg_url, "MODELOPS_TEAM": "default"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("keys", "disable", TOO_BIG), "Invalid value for 'ID': Input should be less than or equal to 2147483647"),
        (("keys", "enable", "0"), "Invalid value for 'ID': Input should be greater than or equal to 1"),
        (("keys", "add", "local", "--label", "k", "--priority", TOO_BIG, "--from-env", "HOME"),
         "Invalid value for '--priority': Input should be less than or equal to 2147483647"),
        (("keys", "add", "local", "--label", "k\x1b[2J", "--from-env", "HOME"),
         "Invalid value for '--label': contains the control character \\x1b at position 1"),
        (("approvals", "approve", TOO_BIG, "--reviewer", "bob"),
         "Invalid value for 'approval_id': Input should be less than or equal to 2147483647"),
        (("approvals", "reject", "1", "--reviewer", "bob", "--comment", "no\x1b]0;x\x07"),
         "Invalid value for '--comment': contains the control character \\x1b at position 2"),
    ],
)  # fmt: skip
def test_out_of_range_ids_and_control_characters_exit_2_naming_the_argument(
    cli: Cli, env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = cli(*args, env=env)
    assert result.code == 2
    assert message in " ".join(result.err.split())
    assert "\x1b" not in result.err


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def _database_error(engine: Engine, statement: str, value: object) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught, engine.connect() as conn:
        conn.execute(text(statement), {"value": value})
    return caught.value


@pytest.mark.parametrize(
    ("statement", "value"),
    [
        ("SELECT CAST(:value AS integer) AS secret_column", 99999999999),
        ("SELECT CAST(:value AS text) AS secret_column", "nul\x00byte"),
    ],
)
def test_database_errors_are_described_without_their_statement_or_parameters(
    pg_engine: Engine, statement: str, value: object
) -> None:
    error = _database_error(pg_engine, statement, value)
    assert "secret_column" in str(error)  # SQLAlchemy's own text carries the statement
    message, code = describe_failure(error)
    assert code == FAILURE
    assert message.startswith("unexpected database error: ")
    assert "secret_column" not in message and "SELECT" not in message
    assert str(value) not in message


def test_translated_data_errors_are_bad_input_without_sql(pg_engine: Engine) -> None:
    with pytest.raises(InvalidInputError) as caught:
        with translate_database_errors("storing a number"), pg_engine.connect() as conn:
            conn.execute(text("SELECT CAST(:value AS integer) AS secret_column"), {"value": 2**40})
    message, code = describe_failure(caught.value)
    assert code == BAD_INPUT
    assert message.startswith("storing a number: a value cannot be stored (")
    assert "secret_column" not in message and str(2**40) not in message
