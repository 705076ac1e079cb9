"""A rollout left paused past the policy's hours is recommended for a decision; one paused
briefly, resumed, or finished is not."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from registry.domain import Team
from registry.orm import utcnow
from registry.rollouts.settle import abort_rollout, pause_rollout, resume_rollout
from registry.usage.recommendations import Period, RecommendationKind, recommendations
from tests.registry.abtest_support import Clock
from tests.registry.rollout_support import sessions, started, team

__all__ = ["sessions", "team"]  # fixtures


def _paused(sessions: sessionmaker[Session], team: Team, hours_later: float) -> list[str]:
    until = utcnow() + timedelta(hours=hours_later)
    with sessions.begin() as session:
        found = recommendations(session, team, Period(until - timedelta(days=7), until))
    return [r.title for r in found if r.kind is RecommendationKind.PAUSED_ROLLOUT]


def test_a_rollout_paused_for_hours_is_recommended_for_a_decision(
    sessions: sessionmaker[Session], team: Team
) -> None:
    rollout_id = started(sessions, team, Clock())
    with sessions.begin() as session:
        pause_rollout(session, team, rollout_id, actor="ann", reason="look first")
    [title] = _paused(sessions, team, hours_later=5)
    assert (
        f"rollout #{rollout_id} (deploy-support-prod-v2) has been paused for 5.0 h at 10%" in title
    )
    assert f"modelops rollouts resume {rollout_id}" in title
    assert _paused(sessions, team, hours_later=3) == []  # under the policy's 4 h
    with sessions.begin() as session:
        resume_rollout(session, team, rollout_id, actor="ann", reason="go on")
    assert _paused(sessions, team, hours_later=5) == []
    with sessions.begin() as session:
        pause_rollout(session, team, rollout_id, actor="ann", reason="again")
        abort_rollout(session, team, rollout_id, actor="ann", reason="enough")
    assert _paused(sessions, team, hours_later=5) == []
