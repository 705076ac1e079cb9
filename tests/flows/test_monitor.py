"""The monitor flow on a real Prefect server: a window evaluated once however often it runs,
a signed notification delivered, a table of what is open; the promote flow's notice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from sqlalchemy.orm import Session, sessionmaker

from flows.monitor import MonitorOutcome, monitor
from flows.params import MonitorParams, PromoteParams
from flows.promote import promote
from registry.alerts.channel_spec import new_webhook_secret
from registry.database import make_engine, make_session_factory
from registry.stages import Stage
from tasks import context as task_context
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.registry.alerts_support import Alerting, FakeClock, seed_alerting
from tests.registry.seed import add_version, advance, seed_model
from tests.support.approvers import MASTER_KEY, ring
from tests.support.prefect_server import PrefectServer

REPO = Path(__file__).resolve().parents[2]
RULE = {"name": "errors", "kind": "threshold", "metric": "error_rate", "above": 0.1, "window": "1m"}


@pytest.fixture
def sessions(registry_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    monkeypatch.setenv("MODELOPS_MASTER_KEY", MASTER_KEY)
    task_context.settings.cache_clear()
    engine = make_engine(registry_env)
    yield make_session_factory(engine)
    engine.dispose()


def _artifact(key: str) -> str:
    with get_client(sync_client=True) as client:
        [latest, *_] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort="CREATED_DESC",  # type: ignore[arg-type]
            limit=1,
        )
    return str(latest.data)


def test_the_monitor_evaluates_a_window_once_and_delivers_a_signed_notification(
    prefect_api: PrefectServer, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        team, endpoint_id, versions = seed_alerting(session)
    alerting = Alerting(sessions, team, endpoint_id, versions, ring(), FakeClock())
    alerting.set_rules(RULE)
    window_end = datetime.now(UTC).replace(second=0, microsecond=0)
    alerting.plant(window_end - timedelta(minutes=1), 100, 40)
    secret = new_webhook_secret()
    with WebhookReceiver(secret) as hooks:
        alerting.add_channel("oncall", hooks.hook_url, secret=secret)
        params = MonitorParams(window_end=window_end)
        first = asyncio.run(monitor(params))
        again = asyncio.run(monitor(params))  # a retried or duplicated run of the same window
        [delivery] = hooks.deliveries
        assert hooks.refused == []
    assert isinstance(first, MonitorOutcome)
    assert (first.changes, first.open_alerts, first.delivery.delivered) == (
        {"opened": 1, "fired": 1},
        1,
        1,
    )
    assert (again.already_evaluated, again.changes, again.delivery.attempts) == (["default"], {}, 0)
    assert json.loads(delivery.body)["data"]["alert"]["labels"]["endpoint"] == "support-intent-prod"
    table = json.loads(_artifact("monitor-firing"))  # columns of rows
    assert list(zip(table["state"], table["rule"], table["where"], strict=True)) == [
        ("firing", "support-intent/errors", "support-intent-prod v1")
    ]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
    names = {run.name for run in runs if run.flow_id}
    assert f"monitor-{window_end:%Y-%m-%dT%H:%MZ}" in names


def test_a_promotion_is_told_to_the_channels_that_take_model_events(
    prefect_api: PrefectServer, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        team = seed_model(session, "default")
        advance(session, team, add_version(session, team), Stage.STAGING)
    alerting = Alerting(sessions, team, 0, {}, ring(), FakeClock())
    with WebhookReceiver() as releases, WebhookReceiver() as oncall:
        alerting.add_channel("releases", releases.hook_url, events=["model.promoted"])
        alerting.add_channel("oncall", oncall.hook_url)
        outcome = asyncio.run(
            promote(PromoteParams(model="support-intent", version=1, requester="ann"))
        )
        [notice] = releases.deliveries  # sent by the flow itself, not at the next monitor run
        assert oncall.deliveries == []
    assert outcome.stage == "production"
    event = json.loads(notice.body)["data"]["event"]
    assert event["labels"] == {
        "model": "support-intent",
        "version": "1",
        "stage": "production",
        "from_stage": "staging",
    }
    assert event["annotations"]["summary"] == (
        "support-intent v1 moved staging -> production; approved by nobody: the policy needs "
        "no approval"
    )


def test_the_monitor_is_deployed_every_minute_one_run_at_a_time() -> None:
    deployments = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    [deployment] = [d for d in deployments if d["name"] == "monitor"]
    assert deployment["entrypoint"] == "flows/monitor.py:monitor"
    assert deployment["schedules"] == [{"cron": "* * * * *", "timezone": "UTC", "active": True}]
    assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
