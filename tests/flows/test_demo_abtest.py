"""The demo's A/B step, fed by synthetic clients: it reaches a verdict and prints it."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelops.abtest_traffic import SyntheticTraffic
from modelops.demo_abtest import ENDPOINT, run
from registry.abtests import ABTestStatus, VerdictKind
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.stages import Stage
from tests.registry.seed import add_version, advance, seed_model
from tests.support.prefect_server import PrefectServer


@pytest.fixture
def seeded(registry_env: str) -> tuple[sessionmaker[Session], Team]:
    engine = make_engine(registry_env)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_model(session, "default")
        advance(session, team, add_version(session, team), Stage.PRODUCTION)
        advance(session, team, add_version(session, team), Stage.STAGING)
    return sessions, team


def test_the_demo_step_runs_a_test_to_its_verdict_and_prints_it(
    prefect_api: PrefectServer,
    seeded: tuple[sessionmaker[Session], Team],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sessions, team = seeded
    traffic = SyntheticTraffic(sessions, team, success={1: 0.90, 2: 0.95}, seed=5)
    test = run(traffic, sessions, team)
    out = capsys.readouterr().out
    assert test.status is ABTestStatus.FINISHED and test.verdict is not None
    assert test.verdict is not VerdictKind.INVALID_SRM
    assert f"ab-test #{test.id}: v1 (a) vs v2 (b), 50/50 on {ENDPOINT}" in out
    assert f"looks: {test.verdict}:" in out and f"modelops ab show {test.id}" in out
