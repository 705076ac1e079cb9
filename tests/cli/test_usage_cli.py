"""`modelops usage`: daily usage by model, endpoint, version or key, in text and JSON; the
reconcile check; bad days refused with exit 2."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from registry.database import Database
from registry.orm import utcnow
from tests.cli.conftest import Cli
from tests.usage.support import outcomes, seed, seed_of, store


@pytest.fixture
def env(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    database = Database.open(pg_url)
    seeded = seed(database)
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    store(database, outcomes(seeded, 1, 30, yesterday, prefix="y1", cost=250, failures=3))
    store(database, outcomes(seeded, 1, 20, today, prefix="t1", cost=100, key=None))
    store(database, outcomes(seeded, 2, 10, today, prefix="t2", cost=40))
    database.close()
    monkeypatch.setenv("MODELOPS_DATABASE_URL", pg_url)
    monkeypatch.setenv("MODELOPS_TEAM", "default")
    return pg_url


def test_usage_by_version_sums_each_day(cli: Cli, env: str) -> None:
    result = cli("usage", "--by", "version", "--json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    today = utcnow().date()
    got = {
        (r["day"], r["version"]): (r["requests"], r["errors"], r["cost_micro_usd"]) for r in rows
    }
    assert got == {
        ((today - timedelta(days=1)).isoformat(), "support-intent v1"): (30, 3, 7500),
        (today.isoformat(), "support-intent v1"): (20, 0, 2000),
        (today.isoformat(), "support-intent v2"): (10, 0, 400),
    }
    assert {r["cost_usd"] for r in rows} == {0.0075, 0.002, 0.0004}


def test_usage_text_shows_a_table_and_the_total(cli: Cli, env: str) -> None:
    result = cli("usage", "--by", "endpoint")
    assert result.code == 0, result.err
    assert "support-prod" in result.out
    assert "total: 60 requests, 0.009900 USD" in result.out


def test_usage_check_passes_then_names_a_difference(cli: Cli, env: str) -> None:
    assert cli("usage", "--check").code == 0
    database = Database.open(env)
    with database.transaction() as session:
        session.execute(text("UPDATE daily_usage SET errors = errors + 2"))
    database.close()
    result = cli("usage", "--check", "--json")
    assert result.code == 1
    body = json.loads(result.out)
    assert [c["equal"] for c in body["reconciliation"]][-2:] == [False, False]
    assert {d["column"] for c in body["reconciliation"] for d in c["differences"]} == {"errors"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--since", "yesterday"), "--since must be a UTC day as YYYY-MM-DD"),
        (("--since", "2026-02-01", "--until", "2026-01-01"), "is after --until"),
        (("--by", "colour"), "'colour' is not one of"),
        (("--since", "2020-01-01", "--until", "2026-01-01"), "at most 400 days"),
    ],
)
def test_bad_arguments_are_refused_with_exit_2(
    cli: Cli, env: str, args: tuple[str, ...], says: str
) -> None:
    result = cli("usage", *args)
    assert result.code == 2
    assert says in result.err


def test_another_team_sees_no_usage(cli: Cli, env: str) -> None:
    result = cli("usage", "--json", env={"MODELOPS_TEAM": "team-z"})
    assert result.code == 0 and json.loads(result.out) == []


def test_recommendations_speak_json_with_evidence_and_test(cli: Cli, env: str) -> None:
    result = cli("recommendations", "--json")
    assert result.code == 0, result.err
    listed = json.loads(result.out)
    # 60 requests with 3 errors in the last week (5% against the default 1%).
    [breach] = [r for r in listed if r["kind"] == "slo_breach"]
    assert breach["subject"] == "endpoint support-prod"
    assert breach["evidence"]["errors"] == 3 and "exact binomial" in breach["test"]
    text = cli("recommendations")
    assert (
        text.code == 0
        and "1. slo_breach: support-prod breached" in text.out
        and "test: exact binomial" in text.out
    )


def test_recommendations_refuse_a_bad_period(cli: Cli, env: str) -> None:
    result = cli("recommendations", "--days", "0")
    assert result.code == 2 and "--days must be from 1 to 90" in result.err


def test_usage_by_key_names_the_key_that_answered(cli: Cli, env: str) -> None:
    from registry.keys import KeyRepository
    from registry.tables import ProviderRow
    from tests.support.approvers import ring

    database = Database.open(env)
    with database.transaction() as session:
        from registry.teams import TeamRepository

        team = TeamRepository(session).find("default")
        assert team is not None
        session.add(ProviderRow(name="openai", kind="openai", options={}, source_file="o.yaml"))
        session.flush()
        key = KeyRepository(session, team, ring()).add("openai", "main", "sk-test-main-0001")
    seeded = seed_of(database)
    store(database, outcomes(seeded, 2, 5, utcnow().replace(hour=1, minute=0), prefix="k",
                             cost=10, key=key.id))  # fmt: skip
    database.close()
    rows = json.loads(cli("usage", "--by", "key", "--since", utcnow().date().isoformat(),
                          "--json").out)  # fmt: skip
    assert {r["key"]: r["requests"] for r in rows} == {"-": 30, f"main (key {key.id})": 5}
