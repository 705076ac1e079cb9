"""Shared setup for the alerting tests (no tests here): a model serving on an endpoint, its
rules, outcomes planted minute by minute, channels, and a clock the tests move by hand."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from registry.alerts.channel_spec import NewChannel, new_webhook_secret
from registry.alerts.channels import ChannelRepository
from registry.alerts.domain import Channel, ChannelKind
from registry.alerts.monitor import WindowReport, evaluate_window
from registry.alerts.tables import NotificationRow
from registry.catalog_alerts import AlertRuleSpec
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.endpoints import NewEndpoint, create_endpoint
from registry.endpoints.tables import EndpointRow
from registry.keys.crypto import MasterKeyring
from registry.outcomes import Outcome, store_outcomes
from registry.stages import Stage
from registry.tables import ModelRow, ModelVersionRow
from tasks.monitor_delivery import DeliveryReport, deliver_due
from tests.registry.seed import add_version, advance, seed_model
from tests.support.approvers import ring

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MODEL = "support-intent"
ENDPOINT = "support-intent-prod"
MINUTE = timedelta(minutes=1)


@dataclass
class FakeClock:
    """Delivery's clock and sleep: sleeping moves the clock, so no test waits for real."""

    now: datetime = T0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


@dataclass
class Alerting:
    sessions: sessionmaker[Session]
    team: Team
    endpoint_id: int
    version_ids: dict[int, int]
    ring: MasterKeyring
    clock: FakeClock

    def set_rules(self, *rules: dict[str, Any]) -> None:
        stored = [
            AlertRuleSpec.model_validate(rule).model_dump(mode="json", exclude_none=True)
            for rule in rules
        ]
        with self.sessions.begin() as session:
            session.execute(
                update(ModelRow)
                .where(ModelRow.team_id == self.team.id, ModelRow.name == MODEL)
                .values(alerts=stored)
            )

    def plant(
        self,
        minute: datetime,
        requests: int,
        errors: int = 0,
        *,
        version: int = 1,
        latency_ms: float = 100.0,
    ) -> None:
        """`requests` outcomes inside `minute`, the first `errors` of them failed."""
        with self.sessions.begin() as session:
            store_outcomes(session, self.outcomes(minute, requests, errors, version, latency_ms))

    def plant_series(self, series: list[tuple[datetime, int, int]], *, version: int = 1) -> None:
        """(minute, requests, errors) for many minutes, stored in one batch."""
        outcomes = [
            outcome
            for minute, requests, errors in series
            for outcome in self.outcomes(minute, requests, errors, version)
        ]
        with self.sessions.begin() as session:
            store_outcomes(session, outcomes)

    def outcomes(
        self, minute: datetime, requests: int, errors: int, version: int, latency_ms: float = 100.0
    ) -> list[Outcome]:
        tag = f"v{version}-{minute:%Y%m%d%H%M}"
        return [
            Outcome(
                request_id=f"{tag}-{i}",
                team_id=self.team.id,
                endpoint_id=self.endpoint_id,
                model_version_id=self.version_ids[version],
                at=minute + timedelta(milliseconds=i * 50 % 59_000),
                latency_ms=latency_ms,
                success=i >= errors,
                error_class="server_error" if i < errors else None,
            )
            for i in range(requests)
        ]

    def evaluate(self, at: datetime) -> WindowReport:
        with self.sessions.begin() as session:
            return evaluate_window(session, self.team, at)

    def add_channel(self, name: str, url: str | None, **fields: Any) -> tuple[Channel, str]:
        """A channel (webhook by default) and the secret it was given."""
        kind = fields.pop("kind", ChannelKind.WEBHOOK)
        secret = fields.pop("secret", None) or new_webhook_secret()
        new = NewChannel(name=name, kind=kind, url=url, secret=SecretStr(secret), **fields)
        with self.sessions.begin() as session:
            return ChannelRepository(session, self.team, self.ring).add(new), secret

    def deliver(self, client: httpx.Client | None = None) -> DeliveryReport:
        return deliver_due(
            self.sessions, self.ring, clock=self.clock, sleep=self.clock.sleep, client=client
        )

    def run(self, at: datetime) -> tuple[WindowReport, DeliveryReport]:
        """One monitor pass: evaluate the window ending `at`, then deliver, at `at`."""
        report = self.evaluate(at)
        self.clock.now = max(self.clock.now, at)
        return report, self.deliver()

    def notifications(self) -> list[NotificationRow]:
        with self.sessions() as session:
            return list(session.scalars(select(NotificationRow).order_by(NotificationRow.id)))


def seed_alerting(session: Session, team_name: str = "default") -> tuple[Team, int, dict[int, int]]:
    """support-intent v1 in production, v2 in staging; endpoint support-intent-prod on v1."""
    team = seed_model(session, team_name)
    advance(session, team, add_version(session, team), Stage.PRODUCTION)
    advance(session, team, add_version(session, team), Stage.STAGING)
    endpoint = create_endpoint(
        session, team, NewEndpoint(name=ENDPOINT, model=MODEL, actor="tester")
    )
    rows = session.execute(
        select(ModelVersionRow.version, ModelVersionRow.id)
        .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
        .where(ModelRow.team_id == team.id)
    ).tuples()
    endpoint_id = session.scalars(select(EndpointRow.id).where(EndpointRow.name == endpoint.name))
    return team, endpoint_id.one(), dict(rows.all())


@pytest.fixture
def alerting(pg_url: str) -> Iterator[Alerting]:
    yield from open_alerting(pg_url)


def open_alerting(url: str) -> Iterator[Alerting]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team, endpoint_id, versions = seed_alerting(session)
    yield Alerting(sessions, team, endpoint_id, versions, ring(), FakeClock())
    engine.dispose()


def minutes(start: datetime, count: int) -> list[datetime]:
    return [start + MINUTE * i for i in range(count)]
