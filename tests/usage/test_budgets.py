"""Budgets: a soft one sends one notice per period through the alert channels when crossed,
and none below it; allowances of a hard one never add up past its limit; the CLI speaks
JSON and refuses bad input with exit 2."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from registry.database import Database
from registry.orm import utcnow
from registry.outcomes import store_outcomes
from registry.usage.allowances import claim_allowance, release_allowance
from registry.usage.budgets import BudgetRepository, period_bounds, record_crossings
from registry.usage.tables import BudgetPeriod
from tests.cli.conftest import Cli, cli
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.registry.alerts_support import T0, Alerting, alerting
from tests.usage.support import outcomes, seed, store

__all__ = ["alerting", "cli"]


def _spend(alerting: Alerting, n: int, cost: int, prefix: str) -> None:
    planted = [replace(o, cost_micro_usd=cost) for o in alerting.outcomes(T0, n, 0, version=1)]
    planted = [replace(o, request_id=f"{prefix}-{i}") for i, o in enumerate(planted)]
    with alerting.sessions.begin() as session:
        store_outcomes(session, planted)


def test_a_soft_budget_crossed_sends_one_notice_per_period(alerting: Alerting) -> None:
    with alerting.sessions.begin() as session:
        BudgetRepository(session, alerting.team).set(
            "chat-daily", 1_000_000, "day", "soft", "support-intent", "ann"
        )
    with WebhookReceiver() as hooks:
        alerting.add_channel("finance", hooks.hook_url, events=["budget.*"])
        _spend(alerting, 9, 100_000, "a")  # $0.90 of $1.00: not crossed
        with alerting.sessions.begin() as session:
            assert record_crossings(session, alerting.team, T0 + timedelta(minutes=5)) == []
        _spend(alerting, 2, 100_000, "b")  # $1.10
        for minute in (6, 7, 8):  # evaluated again and again: one crossing
            with alerting.sessions.begin() as session:
                crossed = record_crossings(session, alerting.team, T0 + timedelta(minutes=minute))
                assert len(crossed) == (1 if minute == 6 else 0)
            alerting.run(T0 + timedelta(minutes=minute))
        [delivery] = hooks.wait_for(1)
        body = json.loads(delivery.body)
    assert body["type"] == "budget.crossed"
    event = body["data"]["event"]
    assert (
        event["labels"]["budget"] == "chat-daily" and event["labels"]["model"] == "support-intent"
    )
    assert "1.10 of 1.00 USD" in event["annotations"]["summary"]
    # The next day is a new period: below its limit, nothing.
    with alerting.sessions.begin() as session:
        assert record_crossings(session, alerting.team, T0 + timedelta(days=1)) == []


def test_claims_of_a_hard_budget_never_grant_past_its_limit(db_url: str) -> None:
    database = Database.open(db_url)
    seeded = seed(database)
    with database.transaction() as session:
        budget = BudgetRepository(session, seeded.team).set(
            "hard-day", 1000, "day", "hard", None, "ann"
        )
    grants = []
    for _ in range(8):
        with database.transaction() as session:
            grants.append(claim_allowance(session, budget, T0, chunk=300))
    assert grants == [300, 300, 300, 100, 0, 0, 0, 0]
    start, _ = period_bounds(BudgetPeriod.DAY, T0)
    with database.transaction() as session:
        release_allowance(session, budget.id, start, 250)  # a replica shutting down
        assert claim_allowance(session, budget, T0, chunk=300) == 250
    # Spend that no gateway admitted (a consumer's reports) counts against the limit too.
    next_day = T0 + timedelta(days=1)
    store(database, outcomes(seeded, 1, 2, next_day, prefix="r", cost=400))
    with database.transaction() as session:
        assert claim_allowance(session, budget, next_day, chunk=300) == 200  # 1000 - 800
        assert claim_allowance(session, budget, next_day, chunk=300) == 0
    database.close()


def test_the_month_period_starts_on_the_first_and_ends_on_the_next_first() -> None:
    start, end = period_bounds(BudgetPeriod.MONTH, T0.replace(month=12, day=31, hour=23))
    assert (start.isoformat(), end.isoformat()) == ("2026-12-01", "2027-01-01T00:00:00+00:00")


@pytest.fixture
def env(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    database = Database.open(pg_url)
    seeded = seed(database)
    midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    store(database, outcomes(seeded, 1, 10, midnight, prefix="c", cost=150_000))
    database.close()
    monkeypatch.setenv("MODELOPS_DATABASE_URL", pg_url)
    monkeypatch.setenv("MODELOPS_TEAM", "default")
    return pg_url


def test_budgets_cli_sets_lists_and_removes(cli: Cli, env: str) -> None:
    made = cli("budgets", "set", "team-day", "--limit", "2.5", "--period", "day",
               "--kind", "hard", "--json")  # fmt: skip
    assert made.code == 0, made.err
    assert json.loads(made.out) | {"period_start": None} == {
        "name": "team-day", "kind": "hard", "scope": "team", "model": None, "period": "day",
        "period_start": None, "limit_micro_usd": 2_500_000, "spent_micro_usd": 1_500_000,
        "fraction": 0.6,
    }  # fmt: skip
    cli("budgets", "set", "model-month", "--limit", "100", "--period", "month", "--kind", "soft",
        "--model", "support-intent")  # fmt: skip
    listed = json.loads(cli("budgets", "list", "--json").out)
    assert [(b["name"], b["scope"], b["model"]) for b in listed] == [
        ("model-month", "model", "support-intent"),
        ("team-day", "team", None),
    ]
    assert "60%" in cli("budgets", "list").out
    assert cli("budgets", "remove", "team-day").code == 0
    assert [b["name"] for b in json.loads(cli("budgets", "list", "--json").out)] == ["model-month"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--limit", "0"), "above 0"),
        (("--limit", "ten"), "US dollars"),
        (("--limit", "1.0000001"), "6 decimals"),
        (("--model", "no-such-model"), "has no model"),
        (("--period", "week"), "'week' is not one of"),
    ],
)
def test_bad_budgets_are_refused_with_exit_2_and_nothing_written(
    cli: Cli, env: str, args: tuple[str, ...], says: str
) -> None:
    base = {"--limit": "5", "--period": "day", "--kind": "soft"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    flags = [part for name, value in (base | given).items() for part in (name, value)]
    result = cli("budgets", "set", "b", *flags)
    assert result.code == 2, result.out
    assert says in result.err
    assert json.loads(cli("budgets", "list", "--json").out) == []


def test_a_budget_rule_fires_once_the_percent_is_spent(alerting: Alerting) -> None:
    alerting.set_rules({"name": "spend", "kind": "budget", "percent": 80, "severity": "error"})
    with alerting.sessions.begin() as session:
        BudgetRepository(session, alerting.team).set("month", 1_000_000, "month", "hard", None, "a")
    _spend(alerting, 7, 100_000, "a")  # 70%
    report, _ = alerting.run(T0 + timedelta(minutes=1))
    assert report.changes == {}
    _spend(alerting, 2, 100_000, "b")  # 90%
    report, _ = alerting.run(T0 + timedelta(minutes=2))
    assert report.changes == {"opened": 1, "fired": 1}
    [alert] = report.open_alerts
    assert alert.labels["budget"] == "month" and alert.value == pytest.approx(90.0)
