"""register-model: sync the catalog, then give the model its version 1 (once), in testing.

Version 1 is the provider's base model from the catalog. The `local` provider's base model
(`tfidf-logreg`) is an untrained architecture that cannot answer, so there version 1 is a
fine-tune of it on `bootstrap_dataset`, made by the fine-tune flow as a subflow: it can be
evaluated and served straight away.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from pydantic import Field

from flows.fine_tune import fine_tune
from flows.params import FineTuneParams, RegisterModelParams
from registry.domain import Frozen, ModelVersion
from registry.stages import Stage
from tasks.catalog import (
    BaseVersionRequest,
    plan_first_version,
    register_base_version,
    sync_catalog,
)
from tasks.context import current_flow_run_id

BOOTSTRAP_DATASET = "examples/support_tickets/base.jsonl"


class RegisterModelOutcome(Frozen):
    model: str
    version: int
    stage: Stage
    provider_model_id: str
    created: bool = Field(description="False when the model already had a version 1.")
    fine_tune_job_id: str | None = None
    catalog_changes: list[str] = Field(default_factory=list)


@flow(
    name="register-model",
    flow_run_name="register-model-{params.model}",
    description="Sync the catalog → version 1 of the model from its provider's base model "
    "(for the local provider, a fine-tune of it on the bootstrap dataset), in testing.",
)
async def register_model(
    params: RegisterModelParams, bootstrap_dataset: str = BOOTSTRAP_DATASET
) -> RegisterModelOutcome:
    """`bootstrap_dataset`: the training JSONL of version 1 when the base model is untrained."""
    logger = get_run_logger()
    synced = sync_catalog()
    logger.info("catalog %s synced: %s", synced.directory, synced.counts)
    first = plan_first_version(params.model)
    if first.existing is not None:
        logger.info("%s already has version 1: nothing to register", first.model)
        return _outcome(first.existing, False, synced.changes)
    if first.trains_base:
        logger.info("%s is untrained: version 1 is its fine-tune", first.base_model)
        tuned = await fine_tune(
            FineTuneParams(model=first.model, dataset=bootstrap_dataset, actor=params.actor)
        )
        return RegisterModelOutcome(
            model=tuned.model,
            version=tuned.version,
            stage=tuned.stage,
            provider_model_id=tuned.provider_model_id,
            created=True,
            fine_tune_job_id=tuned.fine_tune_job_id,
            catalog_changes=synced.changes,
        )
    registered = register_base_version(
        BaseVersionRequest(model=first.model, actor=params.actor, flow_run_id=current_flow_run_id())
    )
    return _outcome(registered.version, registered.created, synced.changes)


def _outcome(
    version: ModelVersion, created: bool, catalog_changes: list[str]
) -> RegisterModelOutcome:
    return RegisterModelOutcome(
        model=version.model,
        version=version.version,
        stage=version.stage,
        provider_model_id=version.provider_model_id,
        created=created,
        fine_tune_job_id=version.lineage.fine_tune_job_id,
        catalog_changes=catalog_changes,
    )
