"""Repository of models and their versions, scoped to one team."""

from __future__ import annotations

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from registry.domain import Lineage, Model, ModelVersion, StagePolicy, Team
from registry.errors import NotFoundError
from registry.stages import Stage
from registry.tables import ModelRow, ModelVersionRow, ProviderRow


class ModelRepository:
    """Models and versions of one team. Never commits: the caller owns the transaction."""

    def __init__(self, session: Session, team: Team | None) -> None:
        # A team that does not exist yet owns nothing; queries return nothing.
        self._session = session
        self._team_id = team.id if team is not None else -1
        self._team_name = team.name if team is not None else ""

    # -- models ---------------------------------------------------------------

    def all(self, *, include_retired: bool = False) -> list[Model]:
        query = self._models_query().order_by(ModelRow.name)
        if not include_retired:
            query = query.where(ModelRow.retired_at.is_(None))
        return [self._to_model(row, provider) for row, provider in self._session.execute(query)]

    def get(self, name: str) -> Model:
        return self._to_model(*self._get_row(name))

    def row(self, name: str, *, for_update: bool = False) -> ModelRow:
        """The ORM row, optionally locked so concurrent writers to this model queue up."""
        query = select(ModelRow).where(ModelRow.team_id == self._team_id, ModelRow.name == name)
        if for_update:
            # FOR NO KEY UPDATE: writers queue, but inserts that merely reference the
            # model (ledger entries, versions) are not blocked, so no deadlock with them.
            query = query.with_for_update(key_share=True)
        row = self._session.scalar(query)
        if row is None:
            raise self._missing(name)
        return row

    def _get_row(self, name: str) -> tuple[ModelRow, str]:
        result = self._session.execute(self._models_query().where(ModelRow.name == name)).first()
        if result is None:
            raise self._missing(name)
        return result[0], result[1]

    def _models_query(self) -> Select[tuple[ModelRow, str]]:
        return (
            select(ModelRow, ProviderRow.name)
            .join(ProviderRow, ProviderRow.id == ModelRow.provider_id)
            .where(ModelRow.team_id == self._team_id)
        )

    def _missing(self, name: str) -> NotFoundError:
        known = self._session.scalars(
            select(ModelRow.name).where(ModelRow.team_id == self._team_id).order_by(ModelRow.name)
        ).all()
        hint = f"; known models: {', '.join(known)}" if known else "; run `modelops catalog sync`"
        return NotFoundError(f"no model {name!r} in team {self._team_name or '?'!r}{hint}")

    def _to_model(self, row: ModelRow, provider: str) -> Model:
        return Model(
            id=row.id,
            team=self._team_name,
            name=row.name,
            provider=provider,
            base_model=row.base_model,
            category=row.category,
            description=row.description,
            cost=row.cost,
            policy={stage: StagePolicy.model_validate(p) for stage, p in row.policy.items()},
            rollout=row.rollout,
            source_file=row.source_file,
            retired=row.retired_at is not None,
            updated_at=row.updated_at,
        )

    # -- versions -------------------------------------------------------------

    def next_version_number(self, model_id: int) -> int:
        """Atomically claim the next version number (no MAX()+1 race)."""
        claimed = self._session.execute(
            update(ModelRow)
            .where(ModelRow.id == model_id)
            .values(last_version=ModelRow.last_version + 1)
            .returning(ModelRow.last_version)
        ).scalar_one()
        return int(claimed)

    def add_version(self, row: ModelVersionRow) -> ModelVersion:
        row.team_id = self._team_id
        self._session.add(row)
        self._session.flush()
        return self.version_by_id(row.id)

    def versions(self, name: str) -> list[ModelVersion]:
        model_row = self.row(name)
        rows = self._session.scalars(
            select(ModelVersionRow)
            .where(ModelVersionRow.model_id == model_row.id)
            .order_by(ModelVersionRow.version)
        )
        return [self._to_version(row, model_row.name) for row in rows]

    def version_row(self, name: str, version: int) -> ModelVersionRow:
        model_row = self.row(name)
        row = self._session.scalar(
            select(ModelVersionRow).where(
                ModelVersionRow.model_id == model_row.id, ModelVersionRow.version == version
            )
        )
        if row is None:
            raise NotFoundError(
                f"model {name!r} has no version {version}; see `modelops models versions {name}`"
            )
        return row

    def version(self, name: str, version: int) -> ModelVersion:
        return self._to_version(self.version_row(name, version), name)

    def version_by_id(self, version_id: int) -> ModelVersion:
        row = self._session.get(ModelVersionRow, version_id)
        if row is None or row.team_id != self._team_id:
            raise NotFoundError(f"no model version with id {version_id}")
        model_row = self._session.get(ModelRow, row.model_id)
        return self._to_version(row, model_row.name if model_row else "?")

    def production(self, name: str) -> ModelVersion | None:
        model_row = self.row(name)
        row = self._session.scalar(
            select(ModelVersionRow).where(
                ModelVersionRow.model_id == model_row.id,
                ModelVersionRow.stage == Stage.PRODUCTION.value,
            )
        )
        return None if row is None else self._to_version(row, name)

    def compare_and_set_stage(self, version_id: int, expect: Stage, target: Stage) -> bool:
        """Move a version from `expect` to `target`; False if its stage was not `expect`."""
        result = self._session.execute(
            update(ModelVersionRow)
            .where(ModelVersionRow.id == version_id, ModelVersionRow.stage == expect.value)
            .values(stage=target.value)
            .returning(ModelVersionRow.id)
        )
        return result.first() is not None

    def _to_version(self, row: ModelVersionRow, model_name: str) -> ModelVersion:
        parent = (
            self._session.get(ModelVersionRow, row.parent_version_id)
            if row.parent_version_id
            else None
        )
        return ModelVersion(
            id=row.id,
            model=model_name,
            version=row.version,
            provider_model_id=row.provider_model_id,
            stage=Stage(row.stage),
            lineage=Lineage(
                parent_version=parent.version if parent else None,
                dataset_uri=row.dataset_uri,
                dataset_sha256=row.dataset_sha256,
                hyperparameters=row.hyperparameters,
                fine_tune_job_id=row.fine_tune_job_id,
                provider_key_id=row.provider_key_id,
            ),
            created_by=row.created_by,
            created_at=row.created_at,
        )
