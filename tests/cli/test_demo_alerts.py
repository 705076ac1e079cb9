"""The demo's alerting step with the burst planted as outcomes (the gateway sends it in the
demo): one alert from the shipped catalog's rule fires, one signed notification arrives at
the local receiver, verified, then one resolved notice. The receiver refuses forgeries."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook

from adapters.notify import Message, Target
from adapters.notify.formats import webhook
from modelops.alert_receiver import AlertReceiver
from modelops.demo_alerts import run
from registry.alerts.channel_spec import new_webhook_secret
from registry.catalog import load_catalog
from registry.catalog_sync import apply_sync, plan_sync
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.endpoints import NewEndpoint, create_endpoint
from registry.endpoints.tables import EndpointRow
from registry.outcomes import Outcome, store_outcomes
from registry.stages import Stage
from registry.tables import ModelVersionRow
from registry.teams import TeamRepository
from tests.registry.seed import add_version, advance, promote_with_approval
from tests.registry.test_catalog_support import EXAMPLE_CATALOG
from tests.support.approvers import ring


@pytest.fixture
def demo_db(pg_url: str) -> Iterator[tuple[sessionmaker[Session], Team]]:
    """The shipped catalog synced, v1 in production behind support-intent-prod."""
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        apply_sync(session, plan_sync(session, load_catalog(EXAMPLE_CATALOG)))
        team = TeamRepository(session).find("default")
        assert team is not None
        advance(session, team, add_version(session, team), Stage.STAGING)
        promote_with_approval(session, team, 1)
        new = NewEndpoint(name="support-intent-prod", model="support-intent", actor="demo")
        create_endpoint(session, team, new)
    yield sessions, team
    engine.dispose()


def _burst(
    sessions: sessionmaker[Session], team: Team, sent: list[datetime]
) -> Callable[[str], None]:
    """What the gateway would record for an error burst: 100 requests, 40 failed, now."""

    def send(endpoint: str) -> None:
        with sessions.begin() as session:
            endpoint_id = session.query(EndpointRow.id).filter_by(name=endpoint).scalar()
            version_id = session.query(ModelVersionRow.id).filter_by(version=1).scalar()
            now = datetime.now(UTC)
            sent.append(now.replace(second=0, microsecond=0))
            store_outcomes(
                session,
                [
                    Outcome(
                        request_id=f"burst-{i}",
                        team_id=team.id,
                        endpoint_id=endpoint_id,
                        model_version_id=version_id,
                        at=now,
                        latency_ms=80.0,
                        success=i >= 40,
                        error_class="model_unavailable" if i < 40 else None,
                    )
                    for i in range(100)
                ],
            )

    return send


def test_the_burst_fires_one_alert_one_verified_notification_then_resolves_once(
    demo_db: tuple[sessionmaker[Session], Team],
) -> None:
    sessions, team = demo_db
    said: list[str] = []
    sent: list[datetime] = []
    traffic = _burst(sessions, team, sent)
    demo = run(traffic, sessions=sessions, team=team, ring=ring(), say=said.append)

    assert [message.type for message in demo.received] == ["alert.firing", "alert.resolved"]
    assert demo.refused == []
    assert (demo.alert.rule, demo.alert.state.value) == ("error-rate", "resolved")
    # The catalog rule holds for 2 minutes before firing, then clears once the 5-minute
    # window no longer holds the burst's minute.
    [minute] = sent
    assert demo.alert.fired_at == minute + timedelta(minutes=3)
    assert demo.alert.resolved_at == minute + timedelta(minutes=6)
    firing = demo.received[0]
    assert firing.data["alert"]["annotations"]["summary"] == (
        "error_rate 40.00% over 5m (n=100); fires above 5.00%"
    )
    assert any("alert.firing: alert #" in line and "signature verified" in line for line in said)
    assert sum("alert.resolved" in line for line in said) == 1


def test_what_the_demo_receiver_accepts_the_reference_library_accepts_too(
    demo_db: tuple[sessionmaker[Session], Team],
) -> None:
    secret = new_webhook_secret()
    with AlertReceiver(secret) as receiver:
        target = Target("webhook", receiver.url, SecretStr(secret), receiver.url)
        message = Message("msg_demo", "alert.firing", {"alert": {"id": 1}})
        [post] = webhook(target, message, time.time())
        with httpx.Client() as client:
            good = client.post(post.url, content=post.body, headers=post.headers)
            again = client.post(post.url, content=post.body, headers=post.headers)
        [received] = receiver.received
    assert (good.status_code, again.status_code) == (204, 204)  # the retry is kept once
    assert Webhook(secret).verify(received.body, received.headers)["type"] == "alert.firing"


def test_the_demo_receiver_refuses_a_tampered_body_and_a_stale_timestamp() -> None:
    secret = new_webhook_secret()
    with AlertReceiver(secret) as receiver:
        target = Target("webhook", receiver.url, SecretStr(secret), receiver.url)
        message = Message("msg_demo", "alert.firing", {"alert": {"id": 1, "severity": "critical"}})
        [fresh] = webhook(target, message, time.time())
        [stale] = webhook(target, message, time.time() - 301)
        tampered = fresh.body.replace(b"critical", b"info")
        with httpx.Client() as client:
            answers = [
                client.post(receiver.url, content=tampered, headers=fresh.headers).status_code,
                client.post(receiver.url, content=stale.body, headers=stale.headers).status_code,
            ]
        assert receiver.received == []
        refused = list(receiver.refused)
    assert answers == [401, 401]
    assert refused[0] == "no webhook-signature entry matches"
    # The age it names is measured when the receiver reads it: 301 s, or 302 s on a slow machine.
    assert re.fullmatch(
        r"webhook timestamp is 30[12]s from now, outside the 300s tolerance window", refused[1]
    )
    assert len(refused) == 2
    assert json.loads(fresh.body)["data"]["alert"]["severity"] == "critical"
