"""The usage-report flow on a real Prefect server: yesterday reconciled with the raw
outcomes, a soft budget's one notice, the usage table and the recommendations markdown;
deployed daily in prefect.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from sqlalchemy import text

from flows.params import UsageReportParams
from flows.usage_report import UsageReportOutcome, usage_report
from registry.alerts.channel_spec import NewChannel, new_webhook_secret
from registry.alerts.channels import ChannelRepository
from registry.database import Database
from registry.usage.budgets import BudgetRepository
from tasks import context as task_context
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.support.approvers import MASTER_KEY, ring
from tests.support.prefect_server import PrefectServer
from tests.usage.support import outcomes, seed, store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(registry_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("MODELOPS_MASTER_KEY", MASTER_KEY)
    task_context.settings.cache_clear()
    database = Database.open(registry_env)
    yield database
    database.close()


def _artifact(key: str) -> str:
    with get_client(sync_client=True) as client:
        [latest, *_] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort="CREATED_DESC",  # type: ignore[arg-type]
            limit=1,
        )
    return str(latest.data)


def test_the_report_reconciles_alerts_once_and_publishes_usage_and_recommendations(
    prefect_api: PrefectServer, database: Database
) -> None:
    seeded = seed(database)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    store(database, outcomes(seeded, 1, 400, yesterday, prefix="y", cost=2500, failures=40))
    store(database, outcomes(seeded, 1, 10, today, prefix="t", cost=2500))
    with database.transaction() as session:
        BudgetRepository(session, seeded.team).set("daily", 20_000, "day", "soft", None, "ann")
        new = NewChannel(
            name="finance",
            kind="webhook",
            url=None,
            secret=new_webhook_secret(),
            events=["budget.crossed"],
        )
    with WebhookReceiver() as hooks:
        with database.transaction() as session:
            ChannelRepository(session, seeded.team, ring()).add(
                new.model_copy(update={"url": hooks.hook_url})
            )
        first = usage_report(UsageReportParams(day=yesterday.date()))
        again = usage_report(UsageReportParams(day=yesterday.date()))
        [notice] = hooks.deliveries  # one alert, however often the report runs
    assert isinstance(first, UsageReportOutcome)
    assert (first.requests, first.cost_micro_usd, first.reconciled) == (400, 1_000_000, True)
    assert first.budgets.crossed == ["default/daily"] and again.budgets.crossed == []
    assert json.loads(notice.body)["data"]["event"]["labels"]["budget"] == "daily"
    table = json.loads(_artifact("usage-daily"))
    # The table ends on the day reported (today's outcomes only count for the budget).
    assert [(r["day"], r["version"], r["requests"], r["cost_usd"]) for r in table] == [
        (yesterday.date().isoformat(), "support-intent v1", 400, 1.0),
    ]
    markdown = _artifact("usage-recommendations")
    assert "breached its error-rate SLO" in markdown and "exact binomial" in markdown
    # A damaged daily row is reported as a difference, not hidden.
    with database.transaction() as session:
        session.execute(text("UPDATE daily_usage SET requests = requests + 1"))
    damaged = usage_report(UsageReportParams(day=yesterday.date()))
    assert not damaged.reconciled and "requests 401 folded, 400 raw" in damaged.differences[0]


def test_the_usage_report_is_deployed_daily_one_run_at_a_time() -> None:
    deployments = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    [deployment] = [d for d in deployments if d["name"] == "usage-report"]
    assert deployment["entrypoint"] == "flows/usage_report.py:usage_report"
    assert deployment["schedules"] == [{"cron": "15 0 * * *", "timezone": "UTC", "active": True}]
    assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
