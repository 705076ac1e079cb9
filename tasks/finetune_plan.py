"""Which job a fine-tune run stands for: the parent it starts from, its idempotency key, its row.

The key hashes what makes two runs the same job (team, model, parent, base model, dataset
sha256, hyperparameters with the seed) and never the flow run id, so a re-run finds the job.
"""

from __future__ import annotations

import hashlib
import json

from prefect import task
from prefect.cache_policies import NO_CACHE

from adapters.jobs import Hyperparameters
from registry.domain import Frozen, JsonObject, Team
from registry.errors import InvalidInputError
from registry.finetune_jobs import (
    FineTuneJobRecord,
    FineTuneJobRepository,
    FineTuneStatus,
    NewFineTuneJob,
    attempt_key,
    attempt_of,
)
from registry.model_repository import ModelRepository
from tasks.context import unit_of_work
from tasks.dataset import DatasetReport
from tasks.retry import retry_on_transient

# A finished job in one of these states is not resumed: a re-run starts the next attempt.
RETRIED_STATES = frozenset({FineTuneStatus.FAILED, FineTuneStatus.CANCELLED})


class FineTunePlan(Frozen):
    """The model, the version the job starts from, and what the provider is asked to tune."""

    model: str
    model_id: int
    provider: str
    category: str
    parent_version: int | None  # None: the model has no versions yet
    parent_version_id: int | None
    base_model: str  # the parent's provider model id, or the catalog base model
    parent_pinned: bool  # named in the parameters, rather than production or the latest


@task(cache_policy=NO_CACHE)
def plan_fine_tune(model: str, parent_version: int | None) -> FineTunePlan:
    """Parent = the named version, else production, else the latest, else the base model."""
    with unit_of_work() as (session, team):
        models = ModelRepository(session, team)
        record = models.get(model)
        if record.retired:
            raise InvalidInputError(
                f"model {model!r} is retired (removed from the catalog); restore its catalog "
                "file and run `modelops catalog sync`",
                field="model",
            )
        versions = models.versions(model)
        parent = models.production(model) or (versions[-1] if versions else None)
        if parent_version is not None:
            parent = models.version(model, parent_version)
    return FineTunePlan(
        model=record.name,
        model_id=record.id,
        provider=record.provider,
        category=record.category,
        parent_version=parent.version if parent else None,
        parent_version_id=parent.id if parent else None,
        base_model=parent.provider_model_id if parent else record.base_model,
        parent_pinned=parent_version is not None,
    )


class ClaimRequest(Frozen):
    plan: FineTunePlan
    dataset: DatasetReport
    hyperparameters: Hyperparameters
    seed: int
    flow_run_id: str | None = None

    def settings(self) -> JsonObject:
        """Hyperparameters as requested (None = the provider's "auto"), with the seed."""
        return {**self.hyperparameters.model_dump(mode="json"), "seed": self.seed}


def job_key(team: Team, request: ClaimRequest) -> str:
    """The idempotency key of the job these inputs describe (before its attempt number)."""
    identity = {
        "team": team.name,
        "model": request.plan.model,
        "parent_version_id": request.plan.parent_version_id,
        "base_model": request.plan.base_model,
        "dataset_sha256": request.dataset.sha256,
        "hyperparameters": request.settings(),
    }
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return "ft-" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=1,
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_on_transient,
)
def claim_job(request: ClaimRequest) -> FineTuneJobRecord:
    """The job row for these inputs, written (status creating) before any provider call.

    An unfinished or succeeded job is resumed; a failed or cancelled one gets a new attempt.
    """
    with unit_of_work() as (session, team):
        jobs = FineTuneJobRepository(session, team)
        base = job_key(team, request)
        latest = jobs.latest_attempt(base) or _job_that_made_parent(jobs, team, request)
        if latest is not None and latest.status not in RETRIED_STATES:
            if request.flow_run_id is None:
                return latest
            # The cancellation hook finds the job by the run that follows it now.
            return jobs.update(latest.idempotency_key, flow_run_id=request.flow_run_id)
        attempt = 1 if latest is None else attempt_of(latest.idempotency_key) + 1
        return jobs.claim(
            NewFineTuneJob(
                model_id=request.plan.model_id,
                parent_version_id=request.plan.parent_version_id,
                idempotency_key=attempt_key(base, attempt),
                provider=request.plan.provider,
                base_model=request.plan.base_model,
                dataset_uri=request.dataset.uri,
                dataset_sha256=request.dataset.sha256,
                hyperparameters=request.settings(),
                flow_run_id=request.flow_run_id,
            )
        )


def _job_that_made_parent(
    jobs: FineTuneJobRepository, team: Team, request: ClaimRequest
) -> FineTuneJobRecord | None:
    """With the parent left to default, a finished run's re-run would pick the version it
    made as its parent; if that version came from these very inputs, this is that job."""
    plan = request.plan
    if plan.parent_pinned or plan.parent_version_id is None:
        return None
    made = jobs.find_by_result(plan.parent_version_id)
    if made is None:
        return None
    as_then = plan.model_copy(
        update={"parent_version_id": made.parent_version_id, "base_model": made.base_model}
    )
    then_key = job_key(team, request.model_copy(update={"plan": as_then}))
    return made if made.idempotency_key.startswith(f"{then_key}-a") else None
