"""`modelops gateway` refuses bad input and an old schema before it serves anything."""

from __future__ import annotations

from tests.cli.conftest import Cli


def test_a_port_out_of_range_is_bad_input(cli: Cli) -> None:
    result = cli("gateway", "--port", "0")
    assert result.code == 2 and "--port" in result.err


def test_an_unmigrated_database_is_refused_with_what_to_do(cli: Cli, empty_pg_url: str) -> None:
    result = cli("gateway", "--port", "8089", env={"MODELOPS_DATABASE_URL": empty_pg_url})
    assert result.code == 1
    assert "run `modelops db upgrade`" in result.err and "Traceback" not in result.err
