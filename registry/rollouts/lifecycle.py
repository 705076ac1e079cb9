"""A rollout from request to its first step: checked against the endpoint, the version and
the policy, recorded, then started (the endpoint claimed, the first step's routes set).
Each function runs in the caller's transaction and changes nothing when it raises."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.categories import GENERATION
from registry.approvals import ApprovalRepository
from registry.domain import ApprovalStatus, Frozen, Team
from registry.endpoints import (
    EndpointChange,
    EndpointRepository,
    EndpointStatus,
    Environment,
    Owner,
    OwnerKind,
    claim_endpoint,
)
from registry.endpoints.repository import CurrentRoute
from registry.endpoints.rules import check_routable
from registry.endpoints.tables import EndpointRow
from registry.errors import (
    ConflictError,
    InvalidInputError,
    InvalidTransitionError,
    translate_database_errors,
)
from registry.model_repository import ModelRepository
from registry.orm import utcnow
from registry.outcomes.rollups import minute_of
from registry.rollouts.arms import read_arms
from registry.rollouts.domain import DecisionKind, Rollout, RolloutStatus, Strategy
from registry.rollouts.policy import RolloutOverrides, rollout_policy
from registry.rollouts.repository import RolloutRepository
from registry.rollouts.routes import apply_routes, step_routes
from registry.rollouts.tables import RolloutRow
from registry.routing import RouteRole
from registry.stages import Stage
from registry.tables import ModelVersionRow
from registry.text import PersonName, Reason

PRIOR_BASELINE = timedelta(hours=1)  # direct, blue-green: the old version's last hour


class DeployRequest(Frozen):
    endpoint: str = Field(min_length=1, max_length=128)
    version: int = Field(ge=1, le=2**31 - 1)
    actor: PersonName
    reason: Reason = "deploy"
    overrides: RolloutOverrides | None = None
    approval_id: int | None = Field(default=None, ge=1)


def owner_of_rollout(rollout_id: int) -> Owner:
    return Owner(kind=OwnerKind.ROLLOUT, id=rollout_id)


def create_rollout(
    session: Session, team: Team, request: DeployRequest, *, now: datetime | None = None
) -> Rollout:
    """A pending rollout, or the one already deploying this version on this endpoint (so a
    rerun resumes it). Another version's rollout on the endpoint refuses, naming it."""
    rollouts = RolloutRepository(session, team)
    with translate_database_errors(f"deploying v{request.version} on {request.endpoint}"):
        endpoints = EndpointRepository(session, team)
        endpoint = endpoints.row(request.endpoint, for_update=True)
        active = rollouts.active_on(endpoint.id, for_update=True)
        if active is not None:
            existing = rollouts.view(active)
            if existing.version == request.version:
                return existing
            raise ConflictError(
                f"endpoint {request.endpoint!r} is being deployed by rollout #{existing.id} "
                f"(v{existing.version}, {existing.strategy}, {existing.status}, run "
                f"{existing.run_name}); wait for it to end or `modelops rollouts abort "
                f"{existing.id}`; nothing changed"
            )
        _check_endpoint(endpoints, endpoint)
        model = ModelRepository(session, team).get(endpoints.model_name(endpoint))
        version = _check_version(session, endpoint, model.name, request.version)
        policy = rollout_policy(model.rollout, request.overrides)
        before = endpoints.current_routes(endpoint.id)
        if policy.strategy is Strategy.BLUE_GREEN:
            _check_blue_green(before, request, model.category)
        if policy.strategy is not Strategy.SHADOW and any(
            c.version == request.version and c.weight == 100 for c in before
        ):
            raise InvalidInputError(
                f"{model.name} v{request.version} already serves 100% of {request.endpoint!r}; "
                "nothing to deploy",
                field="version",
            )
        if policy.strategy is not Strategy.BLUE_GREEN:
            # Blue-green asks for it after the smoke, before the switch (flows.deploy).
            _check_approval(session, team, endpoint, model.name, request)
        row = RolloutRow(
            team_id=team.id,
            endpoint_id=endpoint.id,
            model_id=endpoint.model_id,
            version_id=version.id,
            strategy=policy.strategy.value,
            status=RolloutStatus.PENDING.value,
            policy=policy.model_dump(mode="json"),
            step=0,
            step_offset={},
            routes_before=[c.route.model_dump(mode="json") for c in before],
            approval_id=request.approval_id,
            outcome="",
            created_by=request.actor,
            created_at=now or utcnow(),
        )
        return rollouts.add(row)


def start_rollout(
    session: Session,
    team: Team,
    rollout_id: int,
    *,
    flow_run_id: str | None = None,
    now: datetime | None = None,
) -> Rollout:
    """Claim the endpoint and set the first step's routes. Starting a started rollout changes
    nothing but the flow run it records, so a resumed flow may repeat it."""
    now = now or utcnow()
    rollouts = RolloutRepository(session, team)
    with translate_database_errors(f"starting rollout #{rollout_id}"):
        row = rollouts.row(rollout_id, for_update=True)
        if row.status != RolloutStatus.PENDING.value:
            row.flow_run_id = flow_run_id or row.flow_run_id
            session.flush()
            return rollouts.view(row)
        rollout = rollouts.view(row)
        reason = f"rollout #{row.id}: {rollout.strategy} of v{rollout.version}"
        claim_endpoint(
            session,
            team,
            EndpointChange(endpoint=rollout.endpoint, actor=rollout.created_by, reason=reason),
            owner_of_rollout(row.id),
        )
        if rollout.strategy in (Strategy.DIRECT, Strategy.BLUE_GREEN):
            row.prior_baseline = _prior_baseline(session, team, row, rollout, now)
        row.started_at = now
        row.flow_run_id = flow_run_id
        row.status = RolloutStatus.PROGRESSING.value
        routes = step_routes(rollout, 0)
        applied = apply_routes(session, team, rollout, routes, f"{reason}, step 1")
        begin_step(session, team, row, 0, now)
        rollouts.add_decision(
            row,
            DecisionKind.START,
            actor=rollout.created_by,
            reason=f"{reason}: {_describe(rollout)}",
            routes=applied,
            at=now,
        )
        return rollouts.view(row)


def begin_step(session: Session, team: Team, row: RolloutRow, step: int, now: datetime) -> None:
    """Make `step` current from `now`: its window starts with the sums as they stand."""
    assert row.started_at is not None
    row.step = step
    row.step_started_at = now
    arms = arm_versions(session, row)
    sums = read_arms(session, team, row.endpoint_id, row.started_at, now, arms)
    row.step_offset = {name: arm.model_dump(mode="json") for name, arm in sums.items()}
    session.flush()


def arm_versions(session: Session, row: RolloutRow) -> dict[str, tuple[list[int], list[int]]]:
    """{arm: (version numbers, version ids)}: the candidate, and what served before it."""
    candidate = session.get(ModelVersionRow, row.version_id)
    assert candidate is not None
    numbers = sorted(
        {
            stored["version"]
            for stored in row.routes_before
            if stored["role"] != RouteRole.SHADOW.value and stored["version"] != candidate.version
        }
    )
    ids = list(
        session.scalars(
            select(ModelVersionRow.id).where(
                ModelVersionRow.model_id == row.model_id, ModelVersionRow.version.in_(numbers)
            )
        )
    )
    return {"baseline": (numbers, ids), "candidate": ([candidate.version], [candidate.id])}


def _prior_baseline(
    session: Session, team: Team, row: RolloutRow, rollout: Rollout, now: datetime
) -> dict[str, object]:
    """What the old versions served in the hour before the switch: direct and blue-green
    leave them no traffic to compare with afterwards."""
    arms = arm_versions(session, row)
    since = minute_of(now) - PRIOR_BASELINE
    baseline = read_arms(session, team, row.endpoint_id, since, now, arms)["baseline"]
    return baseline.model_dump(mode="json")


def _check_endpoint(endpoints: EndpointRepository, row: EndpointRow) -> None:
    if row.status == EndpointStatus.UNDEPLOYED.value:
        raise InvalidTransitionError(
            f"endpoint {row.name!r} is undeployed; deploy onto a serving endpoint"
        )
    if row.owner_kind is not None:
        raise ConflictError(
            f"endpoint {row.name!r} is owned by {row.owner_kind.replace('_', ' ')} "
            f"{row.owner_id}; a rollout can start once that one ends; nothing changed"
        )


def _check_version(
    session: Session, endpoint: EndpointRow, model: str, number: int
) -> ModelVersionRow:
    version = session.scalar(
        select(ModelVersionRow).where(
            ModelVersionRow.model_id == endpoint.model_id, ModelVersionRow.version == number
        )
    )
    if version is None:
        raise InvalidInputError(
            f"model {model!r} of endpoint {endpoint.name!r} has no version {number}; see "
            f"`modelops models versions {model}`",
            field="version",
        )
    environment = Environment(endpoint.environment)
    check_routable(
        environment,
        Stage(version.stage),
        owned=True,
        shadow=False,
        subject=f"{model} v{number}",
    )
    return version


def _check_blue_green(before: list[CurrentRoute], request: DeployRequest, category: str) -> None:
    if category in GENERATION:
        raise InvalidInputError(
            f"rollout strategy: blue-green smoke-tests its preview with chat or classification "
            f"requests, and {request.endpoint!r} serves {category} (generation jobs); use "
            "canary, rolling, direct or shadow",
            field="strategy",
        )
    serving = next((c for c in before if c.version == request.version), None)
    if serving is not None:
        raise InvalidInputError(
            f"v{request.version} already has a route on {request.endpoint!r} ({serving.weight}% "
            f"{serving.role}); blue-green previews a version that serves nothing yet: take it "
            "off first (`modelops endpoints undeploy … --version`) or use canary",
            field="version",
        )


def _check_approval(
    session: Session, team: Team, endpoint: EndpointRow, model: str, request: DeployRequest
) -> None:
    """A production endpoint's rollout ends by moving the candidate to production: if the
    policy needs approvers, an approval for that move is given now and settled at the end."""
    if endpoint.environment != Environment.PRODUCTION.value:
        return
    policy = ModelRepository(session, team).get(model).policy.get(Stage.PRODUCTION.value)
    version = ModelRepository(session, team).version(model, request.version)
    if policy is None or not policy.approvers or version.stage is Stage.PRODUCTION:
        return
    if request.approval_id is None:
        raise InvalidInputError(
            f"{model} v{request.version} enters production when this rollout succeeds, which "
            f"needs approval by {', '.join(policy.approvers)}; run the deploy flow (it asks "
            "for it) or give approval_id",
            field="approval_id",
        )
    approval = ApprovalRepository(session, team).get(request.approval_id)
    if (
        approval.status is not ApprovalStatus.APPROVED
        or approval.model != model
        or approval.version != request.version
        or approval.target_stage is not Stage.PRODUCTION
    ):
        raise InvalidInputError(
            f"approval #{approval.id} does not approve {model} v{request.version} for "
            f"production (it is {approval.status}, for v{approval.version} to "
            f"{approval.target_stage})",
            field="approval_id",
        )


def _describe(rollout: Rollout) -> str:
    if rollout.strategy is Strategy.SHADOW:
        return f"mirror {rollout.policy.shadow_percent}% of requests"
    steps = ", ".join(f"{weight}%" for weight in rollout.policy.steps)
    return f"steps {steps}"
