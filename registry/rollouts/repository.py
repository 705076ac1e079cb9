"""Rollouts of one team as they are read and written: rows, views, measurements, decisions.
Never commits."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.domain import Team
from registry.endpoints.domain import Environment, Route
from registry.endpoints.tables import EndpointRow
from registry.errors import NotFoundError
from registry.rollouts.domain import (
    ACTIVE,
    ArmSums,
    Check,
    Decision,
    DecisionKind,
    Measurement,
    Rollout,
    RolloutPolicy,
    RolloutStatus,
    Strategy,
    Verdict,
)
from registry.rollouts.tables import RolloutDecisionRow, RolloutMeasurementRow, RolloutRow
from registry.routing import RouteRole
from registry.tables import ModelRow, ModelVersionRow


class RolloutRepository:
    """Rollouts of one team; another team's are invisible (every query filters on team_id)."""

    def __init__(self, session: Session, team: Team | None) -> None:
        self._session = session
        self._team = team or Team(id=-1, name="?")  # no such team: nothing is visible

    @property
    def session(self) -> Session:
        return self._session

    def row(self, rollout_id: int, *, for_update: bool = False) -> RolloutRow:
        query = select(RolloutRow).where(
            RolloutRow.team_id == self._team.id, RolloutRow.id == rollout_id
        )
        if for_update:
            query = query.with_for_update()
        row = self._session.scalar(query)
        if row is None:
            raise NotFoundError(
                f"no rollout #{rollout_id} in team {self._team.name!r}; "
                "see `modelops rollouts list`"
            )
        return row

    def get(self, rollout_id: int) -> Rollout:
        return self.view(self.row(rollout_id))

    def active_on(self, endpoint_id: int, *, for_update: bool = False) -> RolloutRow | None:
        query = select(RolloutRow).where(
            RolloutRow.team_id == self._team.id,
            RolloutRow.endpoint_id == endpoint_id,
            RolloutRow.status.in_([status.value for status in ACTIVE]),
        )
        if for_update:
            query = query.with_for_update()
        return self._session.scalars(query.order_by(RolloutRow.id)).first()

    def list(
        self, *, status: RolloutStatus | None = None, endpoint: str | None = None
    ) -> builtins.list[Rollout]:
        query = select(RolloutRow).where(RolloutRow.team_id == self._team.id)
        if status is not None:
            query = query.where(RolloutRow.status == status.value)
        if endpoint is not None:
            query = query.join(EndpointRow, EndpointRow.id == RolloutRow.endpoint_id).where(
                EndpointRow.name == endpoint
            )
        return [self.view(row) for row in self._session.scalars(query.order_by(RolloutRow.id))]

    def add(self, row: RolloutRow) -> Rollout:
        self._session.add(row)
        self._session.flush()
        return self.view(row)

    def measurements(self, rollout_id: int) -> builtins.list[Measurement]:
        M = RolloutMeasurementRow
        query = select(M).where(M.team_id == self._team.id, M.rollout_id == rollout_id)
        return [_measurement(row) for row in self._session.scalars(query.order_by(M.number))]

    def decisions(self, rollout_id: int) -> builtins.list[Decision]:
        D = RolloutDecisionRow
        query = select(D).where(D.team_id == self._team.id, D.rollout_id == rollout_id)
        return [_decision(row) for row in self._session.scalars(query.order_by(D.number))]

    def add_measurement(
        self,
        row: RolloutRow,
        at: datetime,
        window_start: datetime,
        arms: tuple[ArmSums, ArmSums],
        verdict: tuple[Verdict, builtins.list[str], builtins.list[Check]],
    ) -> Measurement:
        status, reasons, checks = verdict
        measurement = RolloutMeasurementRow(
            team_id=self._team.id,
            rollout_id=row.id,
            number=self._count(RolloutMeasurementRow, row.id) + 1,
            step=row.step,
            at=at,
            window_start=window_start,
            arms={
                "baseline": arms[0].model_dump(mode="json"),
                "candidate": arms[1].model_dump(mode="json"),
            },
            verdict=status.value,
            reasons=reasons,
            checks=[check.model_dump(mode="json") for check in checks],
        )
        self._session.add(measurement)
        self._session.flush()
        return _measurement(measurement)

    def add_decision(
        self,
        row: RolloutRow,
        kind: DecisionKind,
        *,
        actor: str,
        reason: str,
        routes: builtins.list[Route],
        at: datetime,
        measurement: int | None = None,
    ) -> Decision:
        decision = RolloutDecisionRow(
            team_id=self._team.id,
            rollout_id=row.id,
            number=self._count(RolloutDecisionRow, row.id) + 1,
            step=row.step,
            kind=kind.value,
            actor=actor,
            reason=reason,
            routes=[route.model_dump(mode="json") for route in routes],
            measurement=measurement,
            at=at,
        )
        self._session.add(decision)
        self._session.flush()
        return _decision(decision)

    def view(self, row: RolloutRow) -> Rollout:
        endpoint, environment, model = self._session.execute(
            select(EndpointRow.name, EndpointRow.environment, ModelRow.name)
            .join(ModelRow, ModelRow.id == EndpointRow.model_id)
            .where(EndpointRow.id == row.endpoint_id)
        ).one()
        version = self._session.get(ModelVersionRow, row.version_id)
        assert version is not None
        before = [Route.from_stored(stored) for stored in row.routes_before]
        return Rollout(
            id=row.id,
            team=self._team.name,
            endpoint=endpoint,
            environment=Environment(environment),
            model=model,
            version=version.version,
            baseline_versions=[
                r.version
                for r in before
                if r.role is not RouteRole.SHADOW and r.version != version.version
            ],
            strategy=Strategy(row.strategy),
            status=RolloutStatus(row.status),
            policy=RolloutPolicy.model_validate(row.policy),
            step=row.step,
            step_started_at=row.step_started_at,
            routes_before=before,
            approval_id=row.approval_id,
            outcome=row.outcome,
            created_by=row.created_by,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            flow_run_id=row.flow_run_id,
            measurements=self._count(RolloutMeasurementRow, row.id),
        )

    def _count(
        self, table: type[RolloutMeasurementRow | RolloutDecisionRow], rollout_id: int
    ) -> int:
        count = self._session.scalar(
            select(func.count()).select_from(table).where(table.rollout_id == rollout_id)
        )
        return int(count or 0)


def _measurement(row: RolloutMeasurementRow) -> Measurement:
    return Measurement(
        rollout_id=row.rollout_id,
        number=row.number,
        step=row.step,
        at=row.at,
        window_start=row.window_start,
        baseline=ArmSums.model_validate(row.arms["baseline"]),
        candidate=ArmSums.model_validate(row.arms["candidate"]),
        verdict=Verdict(row.verdict),
        reasons=list(row.reasons),
        checks=[Check.model_validate(check) for check in row.checks],
    )


def _decision(row: RolloutDecisionRow) -> Decision:
    return Decision(
        rollout_id=row.rollout_id,
        number=row.number,
        step=row.step,
        kind=DecisionKind(row.kind),
        actor=row.actor,
        reason=row.reason,
        routes=[Route.from_stored(stored) for stored in row.routes],
        measurement=row.measurement,
        at=row.at,
    )
