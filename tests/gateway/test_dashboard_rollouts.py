"""The dashboard's rollouts panel, over HTTP: a canary rolled back by its measurements shows
its status, its steps and each measurement's numbers as the registry recorded them, to its
own team only."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy.orm import Session, sessionmaker

from modelops.settings import Settings
from registry.domain import Team
from registry.rollouts.domain import RolloutStatus
from registry.rollouts.repository import RolloutRepository
from registry.teams import TeamRepository
from registry.tokens import Scope, TokenRepository
from tests.gateway.support import running_gateway
from tests.registry.abtest_support import Clock, traffic
from tests.registry.rollout_support import drive, sessions, started, team

__all__ = ["sessions", "team"]  # fixtures


def _token(sessions: sessionmaker[Session], team: Team) -> str:
    with sessions.begin() as session:
        created = TokenRepository(session, team).create("ui", [Scope.INVOKE])
    return created.token.get_secret_value()


def test_a_rolled_back_canary_shows_its_steps_and_measurements(
    sessions: sessionmaker[Session], team: Team, pg_url: str, tmp_path: Path
) -> None:
    clock = Clock()
    rollout_id = started(sessions, team, clock)
    source = traffic(sessions, team, clock, success={1: 0.99, 2: 0.97}, seed=3)
    drive(sessions, team, clock, source, rollout_id, batch=2000)
    with sessions.begin() as session:
        rollouts = RolloutRepository(session, team)
        rollout = rollouts.get(rollout_id)
        measured = rollouts.measurements(rollout_id)
        other = TeamRepository(session).ensure("beta")
    assert rollout.status is RolloutStatus.ROLLED_BACK
    mine, theirs = _token(sessions, team), _token(sessions, other)
    settings = Settings(database_url=pg_url, data_dir=tmp_path, team=team.name)
    with running_gateway(settings) as url:
        page = httpx.get(f"{url}/ui/", cookies={"modelops_ui": mine}).text
        elsewhere = httpx.get(f"{url}/ui/", cookies={"modelops_ui": theirs}).text
    panel = page[page.index('<section class="panel" id="rollouts">') :]
    panel = panel[: panel.index("</section>")]
    assert f'data-rollout="{rollout_id}"' in panel
    assert rollout.run_name in panel and "rolled_back" in panel
    assert [f'data-step="{w}"' in panel for w in rollout.policy.steps] == [True] * 3
    last = measured[-1]
    row = panel[panel.index(f'data-measurement="{last.number}"') :]
    row = row[: row.index("</tr>")]
    assert f"{last.baseline.requests:,}" in row and f"{last.candidate.requests:,}" in row
    assert f"{last.candidate.errors / last.candidate.requests * 100:.2f}%" in row
    assert ">fail<" in row
    assert f'data-chart="rollout-{rollout_id}-errors"' in panel
    assert rollout.run_name not in elsewhere and "No rollouts yet" in elsewhere
