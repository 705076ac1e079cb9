"""Approval requests and reviewers' decisions, scoped to one team."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.approvers.tables import ApprovalAttemptRow
from registry.domain import (
    Approval,
    ApprovalDecision,
    ApprovalRunner,
    ApprovalStatus,
    RefusedAttempt,
    StagePolicy,
    Team,
)
from registry.errors import ConflictError, NotFoundError
from registry.orm import utcnow
from registry.stages import Stage
from registry.tables import ApprovalDecisionRow, ApprovalRow, ModelRow, ModelVersionRow

MAX_REASON_CHARS = 1000


class ApprovalRepository:
    """Never commits: the caller owns the transaction."""

    def __init__(self, session: Session, team: Team) -> None:
        self._session = session
        self._team = team

    def open(
        self,
        version: ModelVersionRow,
        *,
        target: Stage,
        requester: str,
        policy: StagePolicy,
        expires_in: timedelta | None = None,
        runner: tuple[str, int] | None = None,
    ) -> Approval:
        """A pending approval; `runner` (host, pid) is the process that will wait for it."""
        now = utcnow()
        row = ApprovalRow(
            team_id=self._team.id,
            model_id=version.model_id,
            version_id=version.id,
            target_stage=target.value,
            requester=requester,
            approvers=list(policy.approvers),
            min_approvals=policy.min_approvals,
            four_eyes=policy.four_eyes,
            status=ApprovalStatus.PENDING.value,
            created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
            runner_host=runner[0] if runner else None,
            runner_pid=runner[1] if runner else None,
            heartbeat_at=now if runner else None,
        )
        self._session.add(row)
        self._session.flush()
        return self.get(row.id)

    def attach_flow_run(self, approval_id: int, flow_run_id: str) -> None:
        self._row(approval_id).flow_run_id = flow_run_id

    def heartbeat(self, approval_id: int, at: datetime) -> bool:
        """The waiting run is alive; False once the approval is settled (nothing to wait for)."""
        beat = self._session.execute(
            update(ApprovalRow)
            .where(
                ApprovalRow.id == approval_id,
                ApprovalRow.team_id == self._team.id,
                ApprovalRow.status == ApprovalStatus.PENDING.value,
            )
            .values(heartbeat_at=at)
            .returning(ApprovalRow.id)
        ).first()
        return beat is not None

    def get(self, approval_id: int) -> Approval:
        return self._to_approval(self._row(approval_id))

    def all(self, *, status: ApprovalStatus | None = None) -> list[Approval]:
        query = select(ApprovalRow).where(ApprovalRow.team_id == self._team.id)
        if status is not None:
            query = query.where(ApprovalRow.status == status.value)
        return [
            self._to_approval(row) for row in self._session.scalars(query.order_by(ApprovalRow.id))
        ]

    def record_decision(
        self,
        approval_id: int,
        *,
        reviewer: str,
        decision: ApprovalStatus,
        comment: str,
        enrolment_id: int | None = None,
    ) -> None:
        self._row(approval_id)  # scope check
        self._session.add(
            ApprovalDecisionRow(
                approval_id=approval_id,
                reviewer=reviewer,
                decision=decision.value,
                comment=comment,
                enrolment_id=enrolment_id,
                at=utcnow(),
            )
        )

    def record_attempt(
        self, approval_id: int, *, reviewer: str, decision: ApprovalStatus, reason: str
    ) -> None:
        """Keep a refused answer: who claimed it, and why it did not count."""
        self._row(approval_id)  # scope check
        self._session.add(
            ApprovalAttemptRow(
                approval_id=approval_id,
                reviewer=reviewer[:128],
                decision=decision.value,
                reason=reason[:MAX_REASON_CHARS],
                at=utcnow(),
            )
        )

    def settle(self, approval_id: int, status: ApprovalStatus) -> None:
        """Move a pending approval to a final status (compare-and-set on `pending`)."""
        moved = self._session.execute(
            update(ApprovalRow)
            .where(
                ApprovalRow.id == approval_id,
                ApprovalRow.team_id == self._team.id,
                ApprovalRow.status == ApprovalStatus.PENDING.value,
            )
            .values(status=status.value, decided_at=utcnow())
            .returning(ApprovalRow.id)
        ).first()
        if moved is None:
            raise ConflictError(f"approval {approval_id} is no longer pending")

    def _row(self, approval_id: int) -> ApprovalRow:
        row = self._session.get(ApprovalRow, approval_id)
        if row is None or row.team_id != self._team.id:
            raise NotFoundError(f"no approval {approval_id} in team {self._team.name!r}")
        return row

    def _to_approval(self, row: ApprovalRow) -> Approval:
        version = self._session.get(ModelVersionRow, row.version_id)
        model = self._session.get(ModelRow, row.model_id)
        decisions = self._session.scalars(
            select(ApprovalDecisionRow)
            .where(ApprovalDecisionRow.approval_id == row.id)
            .order_by(ApprovalDecisionRow.id)
        )
        attempts = self._session.scalars(
            select(ApprovalAttemptRow)
            .where(ApprovalAttemptRow.approval_id == row.id)
            .order_by(ApprovalAttemptRow.id)
        )
        return Approval(
            id=row.id,
            model=model.name if model else "?",
            version=version.version if version else 0,
            target_stage=Stage(row.target_stage),
            requester=row.requester,
            approvers=list(row.approvers),
            min_approvals=row.min_approvals,
            four_eyes=row.four_eyes,
            status=ApprovalStatus(row.status),
            flow_run_id=row.flow_run_id,
            created_at=row.created_at,
            expires_at=row.expires_at,
            decided_at=row.decided_at,
            decisions=[
                ApprovalDecision(
                    reviewer=d.reviewer,
                    decision=ApprovalStatus(d.decision),
                    comment=d.comment,
                    at=d.at,
                )
                for d in decisions
            ],
            attempts=[
                RefusedAttempt(
                    reviewer=a.reviewer,
                    decision=ApprovalStatus(a.decision),
                    reason=a.reason,
                    at=a.at,
                )
                for a in attempts
            ],
            runner=_runner(row),
        )


def _runner(row: ApprovalRow) -> ApprovalRunner | None:
    if row.runner_host is None or row.runner_pid is None or row.heartbeat_at is None:
        return None
    return ApprovalRunner(host=row.runner_host, pid=row.runner_pid, heartbeat_at=row.heartbeat_at)
