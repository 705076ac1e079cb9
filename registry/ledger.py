"""The append-only stage ledger: writing entries and answering questions over them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.domain import JsonObject, LedgerAction, LedgerEntry, Team
from registry.orm import utcnow
from registry.stages import Stage
from registry.tables import LedgerEntryRow, ModelRow, ModelVersionRow


class LedgerRepository:
    """Entries for one team; only ever INSERTs. Never commits."""

    def __init__(self, session: Session, team: Team) -> None:
        self._session = session
        self._team = team

    def append(
        self,
        version: ModelVersionRow,
        *,
        action: LedgerAction,
        transition: tuple[Stage | None, Stage],
        actor: str,
        reason: str,
        evidence: JsonObject | None = None,
        flow_run_id: str | None = None,
    ) -> None:
        from_stage, to_stage = transition
        self._session.add(
            LedgerEntryRow(
                team_id=self._team.id,
                model_id=version.model_id,
                version_id=version.id,
                version=version.version,
                action=action.value,
                from_stage=from_stage.value if from_stage else None,
                to_stage=to_stage.value,
                actor=actor,
                reason=reason,
                evidence=evidence or {},
                flow_run_id=flow_run_id,
                at=utcnow(),
            )
        )

    def history(self, model: ModelRow, *, until: datetime | None = None) -> list[LedgerEntry]:
        query = select(LedgerEntryRow).where(
            LedgerEntryRow.team_id == self._team.id, LedgerEntryRow.model_id == model.id
        )
        if until is not None:
            query = query.where(LedgerEntryRow.at <= until)
        rows = self._session.scalars(query.order_by(LedgerEntryRow.id))
        return [_to_entry(row, model.name) for row in rows]

    def production_at(self, model: ModelRow, at: datetime) -> int | None:
        """The version number in production at instant `at`, from the ledger alone.

        Each version's stage at `at` is the target of its latest entry written at
        or before `at`; entry ids order entries written in the same instant.
        """
        latest = (
            select(func.max(LedgerEntryRow.id))
            .where(
                LedgerEntryRow.team_id == self._team.id,
                LedgerEntryRow.model_id == model.id,
                LedgerEntryRow.at <= at,
            )
            .group_by(LedgerEntryRow.version_id)
        )
        return self._session.scalar(
            select(LedgerEntryRow.version).where(
                LedgerEntryRow.id.in_(latest),
                LedgerEntryRow.to_stage == Stage.PRODUCTION.value,
            )
        )

    def last_good_production(self, model: ModelRow, *, excluding: int | None) -> int | None:
        """The most recent version that held production, was never rolled back from,
        and is not `excluding` (the current one)."""
        rolled_back = select(LedgerEntryRow.version_id).where(
            LedgerEntryRow.model_id == model.id,
            LedgerEntryRow.action == LedgerAction.ROLLED_BACK.value,
        )
        query = (
            select(LedgerEntryRow.version)
            .where(
                LedgerEntryRow.team_id == self._team.id,
                LedgerEntryRow.model_id == model.id,
                LedgerEntryRow.to_stage == Stage.PRODUCTION.value,
                LedgerEntryRow.version_id.not_in(rolled_back),
            )
            .order_by(LedgerEntryRow.id.desc())
        )
        if excluding is not None:
            query = query.where(LedgerEntryRow.version != excluding)
        return self._session.scalars(query.limit(1)).first()


def _to_entry(row: LedgerEntryRow, model_name: str) -> LedgerEntry:
    return LedgerEntry(
        id=row.id,
        model=model_name,
        version=row.version,
        action=LedgerAction(row.action),
        from_stage=Stage(row.from_stage) if row.from_stage else None,
        to_stage=Stage(row.to_stage),
        actor=row.actor,
        reason=row.reason,
        evidence=row.evidence,
        flow_run_id=row.flow_run_id,
        at=row.at,
    )
