"""Tasks of the register-model flow: sync the catalog, and create a model's first version."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from registry.catalog import load_catalog
from registry.catalog_sync import SyncAction, apply_sync, plan_sync
from registry.domain import Frozen, ModelVersion
from registry.lifecycle import NewVersion, TransitionRequest, register_version, transition_stage
from registry.model_repository import ModelRepository
from registry.providers import ProviderRepository
from registry.stages import Stage
from tasks.context import database, settings, unit_of_work
from tasks.finetune import testing_needs_approval
from tasks.retry import retry_on_transient

# Provider kinds whose catalog base model is an untrained architecture: it cannot answer
# until it is fine-tuned, so version 1 is a fine-tune of it rather than the base itself.
UNTRAINED_BASE_KINDS = frozenset({"local"})


class CatalogSyncSummary(Frozen):
    directory: str
    counts: dict[str, int]
    changes: list[str]  # "create model default/support-intent", one per change written


@task(
    cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_transient
)
def sync_catalog() -> CatalogSyncSummary:
    """Write $MODELOPS_CATALOG_DIR to the database in one transaction (all of it or nothing)."""
    directory = settings().catalog_dir
    catalog = load_catalog(directory)
    with database().transaction() as session:
        plan = plan_sync(session, catalog)
        apply_sync(session, plan)
    return CatalogSyncSummary(
        directory=str(directory),
        counts={action.value: count for action, count in plan.counts().items()},
        changes=[
            f"{c.action} {c.kind} {c.team + '/' if c.team else ''}{c.name}"
            for c in plan.changes
            if c.action is not SyncAction.UNCHANGED
        ],
    )


class FirstVersionPlan(Frozen):
    """What version 1 of a model is made from, or the version 1 it already has."""

    model: str
    provider: str
    base_model: str
    trains_base: bool  # the base model must be fine-tuned before it can answer
    existing: ModelVersion | None


@task(cache_policy=NO_CACHE)
def plan_first_version(model: str) -> FirstVersionPlan:
    with unit_of_work() as (session, team):
        models = ModelRepository(session, team)
        record = models.get(model)
        versions = models.versions(model)
        kind = ProviderRepository(session).get(record.provider).kind
    return FirstVersionPlan(
        model=record.name,
        provider=record.provider,
        base_model=record.base_model,
        trains_base=kind in UNTRAINED_BASE_KINDS,
        existing=versions[0] if versions else None,
    )


class FirstVersion(Frozen):
    version: ModelVersion
    created: bool  # False: another run registered it first


class BaseVersionRequest(Frozen):
    model: str
    actor: str
    flow_run_id: str | None = None


@task(
    cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_transient
)
def register_base_version(request: BaseVersionRequest) -> FirstVersion:
    """Version 1 = the catalog base model, moved to testing (unless that needs approval);
    an existing version 1 is returned as it is."""
    with unit_of_work() as (session, team):
        models = ModelRepository(session, team)
        # Lock the model: two runs at once must not both see "no versions" and register.
        base_model = models.row(request.model, for_update=True).base_model
        versions = models.versions(request.model)
        if versions:
            return FirstVersion(version=versions[0], created=False)
        new = NewVersion(
            model=request.model,
            provider_model_id=base_model,
            actor=request.actor,
            reason="version 1: the catalog base model",
        )
        version = register_version(session, team, new)
        if testing_needs_approval(models, request.model):
            return FirstVersion(version=version, created=True)  # the promote flow moves it
        moved = transition_stage(
            session,
            team,
            TransitionRequest(
                model=request.model,
                version=version.version,
                target=Stage.TESTING,
                actor=request.actor,
                reason="registered from the catalog base model",
                expect=Stage.DEVELOPMENT,
                flow_run_id=request.flow_run_id,
            ),
        )
        return FirstVersion(version=moved.version, created=True)
