"""Changing endpoints: create, route, undeploy. Each change runs in the caller's
transaction: it locks the endpoint, checks the rules, bumps the revision (compare-and-set),
appends to the route ledger and notifies gateway replicas, or does nothing at all.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.domain import Team
from registry.endpoints.domain import (
    Endpoint,
    EndpointChange,
    EndpointStatus,
    Environment,
    NewEndpoint,
    Owner,
    Route,
    RouteAction,
    RouteChange,
)
from registry.endpoints.repository import EndpointRepository
from registry.endpoints.rules import LIVE, check_routable, check_route_set, choose_roles
from registry.endpoints.tables import EndpointRow
from registry.endpoints.writes import (
    Note,
    check_owner,
    check_routes,
    lock,
    record,
    replace_routes,
    versions_of,
    write_change,
)
from registry.errors import InvalidInputError, InvalidTransitionError, translate_database_errors
from registry.model_repository import ModelRepository
from registry.orm import utcnow
from registry.routing import RouteRole, new_salt
from registry.stages import Stage
from registry.tables import ModelRow, ModelVersionRow


def create_endpoint(session: Session, team: Team, new: NewEndpoint) -> Endpoint:
    """A serving endpoint at revision 1 with one stable route, 100% on `new.version`; by
    default the production version on a production endpoint, else the newest live one."""
    repo = EndpointRepository(session, team)
    with translate_database_errors(f"creating endpoint {new.name}"):
        model = ModelRepository(session, team).row(new.model)
        _check_name_free(session, team, new.name)
        version = _initial_version(session, model, new)
        subject = f"{model.name} v{version.version}"
        check_routable(
            new.environment, Stage(version.stage), owned=False, shadow=False, subject=subject
        )
        now = utcnow()
        row = EndpointRow(
            team_id=team.id,
            name=new.name,
            model_id=model.id,
            environment=new.environment.value,
            status=EndpointStatus.SERVING.value,
            routing_salt=new_salt().hex(),
            created_by=new.actor,
            deployed_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        stable = Route(version=version.version, weight=100, role=RouteRole.STABLE)
        replace_routes(session, row, [], [stable], {version.version: version.id})
        record(repo, row, [], Note(RouteAction.CREATE, new.actor, new.reason))
    return repo.get(new.name)


def set_routes(
    session: Session, team: Team, change: RouteChange, *, owner: Owner | None = None
) -> Endpoint:
    """Replace the endpoint's routes. Refused while a rollout or A/B test owns the endpoint
    unless that owner is the caller (`owner=`); an owner may add staging candidates to a
    production endpoint."""
    repo = EndpointRepository(session, team)
    with translate_database_errors(f"routing endpoint {change.endpoint}"):
        row = lock(repo, change.endpoint, change.expect_revision, serving=True)
        check_owner(row, owner)
        before = repo.current_routes(row.id)
        roles = {c.version: c.role for c in before if c.role.splits_traffic}
        shadows = [
            Route(version=s.version, weight=s.percent, role=RouteRole.SHADOW)
            for s in change.shadows
        ]
        previews = [Route(version=v, weight=0, role=RouteRole.PREVIEW) for v in change.previews]
        served = choose_roles(change.routes, roles)
        check_route_set(served, [*shadows, *previews])
        target = [*served, *shadows, *previews]
        versions = versions_of(session, row, [route.version for route in target])
        stages = {number: Stage(version.stage) for number, version in versions.items()}
        check_routes(session, row, target, stages, owned=owner is not None)
        return write_change(
            repo,
            row,
            before,
            Note(RouteAction.ROUTE, change.actor, change.reason, owner),
            target=target,
            version_ids={number: version.id for number, version in versions.items()},
        )


def undeploy_endpoint(session: Session, team: Team, change: EndpointChange) -> Endpoint:
    """Take the endpoint out of service for new requests (requests already routed finish).
    Works even while owned: it is how traffic is stopped now. Routes stay for the record."""
    repo = EndpointRepository(session, team)
    with translate_database_errors(f"undeploying endpoint {change.endpoint}"):
        row = lock(repo, change.endpoint, change.expect_revision, serving=False)
        if row.status == EndpointStatus.UNDEPLOYED.value:
            raise InvalidTransitionError(
                f"endpoint {row.name!r} is already undeployed (since "
                f"{row.undeployed_at:%Y-%m-%d %H:%M:%S} UTC); nothing changed"
            )
        return write_change(
            repo,
            row,
            repo.current_routes(row.id),
            Note(RouteAction.UNDEPLOY, change.actor, change.reason),
            fields={"status": EndpointStatus.UNDEPLOYED.value, "undeployed_at": utcnow()},
        )


def _check_name_free(session: Session, team: Team, name: str) -> None:
    taken = session.scalar(
        select(EndpointRow).where(EndpointRow.team_id == team.id, EndpointRow.name == name)
    )
    if taken is None:
        return
    state = "serving" if taken.status == EndpointStatus.SERVING.value else "undeployed"
    raise InvalidInputError(
        f"team {team.name!r} already has an endpoint named {name!r} ({state}); names are "
        "never reused, pick another",
        field="name",
    )


def _initial_version(session: Session, model: ModelRow, new: NewEndpoint) -> ModelVersionRow:
    if model.retired_at is not None:
        raise InvalidInputError(
            f"model {model.name!r} is retired (removed from the catalog); restore its catalog "
            "file and run `modelops catalog sync`",
            field="model",
        )
    query = select(ModelVersionRow).where(ModelVersionRow.model_id == model.id)
    if new.version is not None:
        query = query.where(ModelVersionRow.version == new.version)
        what = f"no version {new.version}; see `modelops models versions {model.name}`"
    elif new.environment is Environment.PRODUCTION:
        query = query.where(ModelVersionRow.stage == Stage.PRODUCTION.value)
        what = (
            "no production version; promote one first, or create a development or staging "
            "endpoint (--environment staging)"
        )
    else:
        live = [stage.value for stage in LIVE]
        query = query.where(ModelVersionRow.stage.in_(live)).order_by(
            ModelVersionRow.version.desc()
        )
        what = "no version that is neither rejected nor archived; register one first"
    version = session.scalars(query.limit(1)).first()
    if version is None:
        raise InvalidInputError(f"model {model.name!r} has {what}", field="version")
    return version
