"""A/B tests of one team as they are read and written: rows, views, looks. Never commits."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.abtests.definition import ABTestDefinition
from registry.abtests.domain import (
    ABTest,
    ABTestStatus,
    ArmData,
    Look,
    LookResult,
    Plan,
    VerdictKind,
)
from registry.abtests.tables import ABTestLookRow, ABTestRow
from registry.domain import Team
from registry.endpoints.domain import Environment, Route
from registry.endpoints.tables import EndpointRow
from registry.errors import NotFoundError
from registry.tables import ModelRow


class ABTestRepository:
    """A/B tests of one team; another team's are invisible (every query filters on team_id)."""

    def __init__(self, session: Session, team: Team | None) -> None:
        self._session = session
        self._team_id = team.id if team is not None else -1
        self._team_name = team.name if team is not None else ""

    @property
    def session(self) -> Session:
        return self._session

    def row(self, test_id: int, *, for_update: bool = False) -> ABTestRow:
        query = select(ABTestRow).where(ABTestRow.team_id == self._team_id, ABTestRow.id == test_id)
        if for_update:
            query = query.with_for_update()
        row = self._session.scalar(query)
        if row is None:
            raise NotFoundError(
                f"no A/B test #{test_id} in team {self._team_name or '?'!r}; see `modelops ab list`"
            )
        return row

    def get(self, test_id: int) -> ABTest:
        return self.view(self.row(test_id))

    def list(self, *, status: ABTestStatus | None = None) -> builtins.list[ABTest]:
        query = select(ABTestRow).where(ABTestRow.team_id == self._team_id)
        if status is not None:
            query = query.where(ABTestRow.status == status.value)
        return [self.view(row) for row in self._session.scalars(query.order_by(ABTestRow.id))]

    def add(self, row: ABTestRow) -> ABTest:
        self._session.add(row)
        self._session.flush()
        return self.view(row)

    def looks(self, test_id: int) -> builtins.list[Look]:
        self.row(test_id)
        query = (
            select(ABTestLookRow)
            .where(ABTestLookRow.team_id == self._team_id, ABTestLookRow.test_id == test_id)
            .order_by(ABTestLookRow.number)
        )
        return [_look(row) for row in self._session.scalars(query)]

    def add_look(
        self, row: ABTestRow, at: datetime, a: ArmData, b: ArmData, result: LookResult
    ) -> Look:
        """Append the test's next look (numbers count from 1)."""
        look = ABTestLookRow(
            team_id=self._team_id,
            test_id=row.id,
            number=self._look_count(row.id) + 1,
            at=at,
            requests_a=a.requests,
            requests_b=b.requests,
            srm_p_value=result.srm.p_value,
            arms={"a": a.model_dump(mode="json"), "b": b.model_dump(mode="json")},
            result=result.model_dump(mode="json"),
            verdict=result.verdict.value if result.verdict else None,
            final=result.final,
        )
        self._session.add(look)
        self._session.flush()
        return _look(look)

    def view(self, row: ABTestRow) -> ABTest:
        endpoint, environment, model = self._session.execute(
            select(EndpointRow.name, EndpointRow.environment, ModelRow.name)
            .join(ModelRow, ModelRow.id == EndpointRow.model_id)
            .where(EndpointRow.id == row.endpoint_id)
        ).one()
        return ABTest(
            id=row.id,
            team=self._team_name,
            endpoint=endpoint,
            environment=Environment(environment),
            model=model,
            status=ABTestStatus(row.status),
            definition=ABTestDefinition.model_validate(row.definition),
            plan=Plan.model_validate(row.plan),
            routes_before=[Route.from_stored(stored) for stored in row.routes_before],
            verdict=VerdictKind(row.verdict) if row.verdict else None,
            verdict_reason=row.verdict_reason,
            action=row.action,
            looks=self._look_count(row.id),
            created_by=row.created_by,
            created_at=row.created_at,
            started_at=row.started_at,
            deadline_at=row.deadline_at,
            concluded_at=row.concluded_at,
            finished_at=row.finished_at,
            flow_run_id=row.flow_run_id,
        )

    def _look_count(self, test_id: int) -> int:
        count = self._session.scalar(
            select(func.count()).select_from(ABTestLookRow).where(ABTestLookRow.test_id == test_id)
        )
        return int(count or 0)


def _look(row: ABTestLookRow) -> Look:
    return Look(
        test_id=row.test_id,
        number=row.number,
        at=row.at,
        a=ArmData.model_validate(row.arms["a"]),
        b=ArmData.model_validate(row.arms["b"]),
        result=LookResult.model_validate(row.result),
    )
