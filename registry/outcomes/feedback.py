"""Feedback by request id: a quality score and named metrics, folded into the outcome's minute.

A later value for the same field replaces the earlier one (the rollup loses the old value
and counts the new one), and fields not named keep theirs: a judge's score and a user's
rating can arrive separately. Feedback always lands in `outcome_feedback_pending` first and
is applied (outcome updated, rollup adjusted, pending row deleted) in the same transaction
if the outcome is stored; otherwise it waits, and `apply_pending_feedback`, which the
outcome writer runs every few seconds, applies it once the outcome lands. The pending row
is locked while it is applied, so each piece of feedback is folded exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from registry.domain import Team
from registry.errors import InvalidInputError, translate_database_errors
from registry.orm import utcnow
from registry.outcomes.domain import FeedbackStatus, check_metrics, check_request_id, check_score
from registry.outcomes.rollups import RollupDelta, minute_of
from registry.outcomes.tables import OutcomeRow, PendingFeedbackRow
from registry.upsert import conflict_insert

P, OUT = PendingFeedbackRow, OutcomeRow


def record_feedback(
    session: Session,
    team: Team,
    request_id: str,
    *,
    quality: float | None = None,
    metrics: Mapping[str, float] | None = None,
    now: datetime | None = None,
) -> FeedbackStatus:
    """Record feedback for one of the team's requests. Never commits."""
    check_request_id(request_id)
    if quality is not None:
        quality = check_score("quality", quality)
    checked = dict(check_metrics(metrics or {}))
    if quality is None and not checked:
        raise InvalidInputError("give a quality score or at least one metric", field="quality")
    now = now or utcnow()
    with translate_database_errors("recording feedback"):
        _merge_pending(session, team.id, request_id, quality, checked, now)
        applied = _apply(session, now, request_ids=[request_id], team_id=team.id)
    return FeedbackStatus.APPLIED if applied else FeedbackStatus.PENDING


def apply_pending_feedback(
    session: Session, *, limit: int = 1000, now: datetime | None = None
) -> int:
    """Apply waiting feedback whose outcome is now stored; returns how many were applied.
    Rows another transaction holds are skipped, not waited for. Never commits."""
    with translate_database_errors("applying pending feedback"):
        return _apply(session, now or utcnow(), limit=limit)


def _merge_pending(
    session: Session,
    team_id: int,
    request_id: str,
    quality: float | None,
    metrics: dict[str, float],
    now: datetime,
) -> None:
    session.execute(
        conflict_insert(session, P)
        .values(request_id=request_id, team_id=team_id, quality=None, metrics={}, received_at=now)
        .on_conflict_do_nothing()
    )
    where = and_(P.request_id == request_id, P.team_id == team_id)
    row = session.execute(select(P.quality, P.metrics).where(where).with_for_update()).one()
    session.execute(
        update(P)
        .where(where)
        .values(
            quality=row.quality if quality is None else quality,
            metrics={**row.metrics, **metrics},
            received_at=now,
        )
    )


def _apply(
    session: Session,
    now: datetime,
    *,
    request_ids: Sequence[str] | None = None,
    team_id: int | None = None,
    limit: int = 1000,
) -> int:
    query = (
        select(P, OUT)
        .join(OUT, and_(OUT.request_id == P.request_id, OUT.team_id == P.team_id))
        .order_by(P.received_at)
        .limit(limit)
    )
    if request_ids is not None:
        query = query.where(P.request_id.in_(request_ids), P.team_id == team_id).with_for_update()
    else:
        query = query.with_for_update(skip_locked=True)
    delta = RollupDelta()
    pairs = session.execute(query).tuples().all()
    for pending, outcome in pairs:
        _fold(session, delta, pending, outcome, now)
        session.delete(pending)
    delta.apply(session)
    session.flush()
    return len(pairs)


def _fold(
    session: Session,
    delta: RollupDelta,
    pending: PendingFeedbackRow,
    outcome: OutcomeRow,
    now: datetime,
) -> None:
    key = (outcome.team_id, outcome.endpoint_id, minute_of(outcome.at), outcome.model_version_id)
    quality = outcome.quality
    if pending.quality is not None:
        delta.change_quality(key, outcome.quality, pending.quality)
        quality = pending.quality
    metrics = dict(outcome.metrics or {})
    for name, value in pending.metrics.items():
        delta.change_metric(key, name, metrics.get(name), value)
        metrics[name] = value
    session.execute(
        update(OUT)
        .where(OUT.request_id == outcome.request_id)
        .values(quality=quality, metrics=metrics or None, feedback_at=now)
        .execution_options(synchronize_session=False)
    )
