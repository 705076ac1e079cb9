"""Changing endpoints: create, route, undeploy, claim, release. Each change runs in the
caller's transaction: it locks the endpoint, checks the rules, bumps the revision
(compare-and-set), appends to the route ledger and notifies gateway replicas, or does
nothing at all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from registry import notifications
from registry.buckets import reallocate
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
from registry.endpoints.repository import CurrentRoute, EndpointRepository, owner_of
from registry.endpoints.rules import LIVE, check_routable, check_route_set, choose_roles
from registry.endpoints.tables import EndpointRow, RouteLedgerRow, RouteRow
from registry.errors import (
    ConflictError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    translate_database_errors,
)
from registry.model_repository import ModelRepository
from registry.orm import utcnow
from registry.routing import RouteRole, new_salt
from registry.stages import Stage
from registry.tables import ModelRow, ModelVersionRow


class EndpointOwnedError(ConflictError):
    """A rollout or A/B test owns the endpoint: its routes move only through that owner."""


def create_endpoint(session: Session, team: Team, new: NewEndpoint) -> Endpoint:
    """A serving endpoint with one stable route, 100% on `new.version`; by default the
    production version on a production endpoint, else the newest live version."""
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
        _replace_routes(session, row, [], [stable], {version.version: version.id})
        _record(
            session,
            row,
            RouteAction.CREATE,
            [],
            repo.current_routes(row.id),
            new.actor,
            new.reason,
            None,
        )
    return repo.get(new.name)


def set_routes(
    session: Session, team: Team, change: RouteChange, *, owner: Owner | None = None
) -> Endpoint:
    """Replace the endpoint's routes. Refused while a rollout or A/B test owns the endpoint
    unless that owner is the caller (`owner=`); an owner may add staging candidates to a
    production endpoint."""
    repo = EndpointRepository(session, team)
    with translate_database_errors(f"routing endpoint {change.endpoint}"):
        row = _lock(repo, change.endpoint, change.expect_revision, serving=True)
        _check_owner(row, owner)
        before = repo.current_routes(row.id)
        roles = {c.version: c.role for c in before if c.role is not RouteRole.SHADOW}
        served = choose_roles(change.routes, roles)
        shadows = [
            Route(version=s.version, weight=s.percent, role=RouteRole.SHADOW)
            for s in change.shadows
        ]
        check_route_set(served, shadows)
        versions = versions_of(session, row, [r.version for r in [*served, *shadows]])
        check_routes(
            session,
            row,
            [*served, *shadows],
            {n: Stage(v.stage) for n, v in versions.items()},
            owned=owner is not None,
        )
        return write_change(
            session, repo, row, before, RouteAction.ROUTE, change.actor, change.reason,
            target=[*served, *shadows], version_ids={n: v.id for n, v in versions.items()},
            owner=owner,
        )  # fmt: skip


def undeploy_endpoint(session: Session, team: Team, change: EndpointChange) -> Endpoint:
    """Stop serving new requests (the gateway answers them 404/409; in-flight ones finish).
    Works even while owned: it is how traffic is stopped now. Routes stay for the record."""
    repo = EndpointRepository(session, team)
    with translate_database_errors(f"undeploying endpoint {change.endpoint}"):
        row = _lock(repo, change.endpoint, change.expect_revision, serving=False)
        if row.status == EndpointStatus.UNDEPLOYED.value:
            raise InvalidTransitionError(
                f"endpoint {row.name!r} is already undeployed (since "
                f"{row.undeployed_at:%Y-%m-%d %H:%M:%S} UTC); nothing changed"
            )
        before = repo.current_routes(row.id)
        fields = {"status": EndpointStatus.UNDEPLOYED.value, "undeployed_at": utcnow()}
        return write_change(
            session, repo, row, before, RouteAction.UNDEPLOY, change.actor, change.reason,
            fields=fields,
        )  # fmt: skip


def claim_endpoint(session: Session, team: Team, change: EndpointChange, owner: Owner) -> Endpoint:
    """Make `owner` (a rollout or A/B test) the only one who may route the endpoint.
    Claiming again by the same owner changes nothing, so a resumed flow may repeat it."""
    repo = EndpointRepository(session, team)
    with translate_database_errors(f"claiming endpoint {change.endpoint}"):
        row = _lock(repo, change.endpoint, change.expect_revision, serving=True)
        current = owner_of(row.owner_kind, row.owner_id)
        if current == owner:
            return repo.get(row.name)
        if current is not None:
            raise EndpointOwnedError(
                f"endpoint {row.name!r} is owned by {current}; {owner} cannot claim it until "
                "that one ends"
            )
        before = repo.current_routes(row.id)
        fields = {"owner_kind": owner.kind.value, "owner_id": owner.id}
        return write_change(
            session, repo, row, before, RouteAction.CLAIM, change.actor, change.reason,
            fields=fields, owner=owner,
        )  # fmt: skip


def release_endpoint(
    session: Session, team: Team, change: EndpointChange, owner: Owner
) -> Endpoint:
    """End `owner`'s hold. Its routes must already be ones the endpoint may serve unowned
    (on production: the production version alone, plus staging shadows)."""
    repo = EndpointRepository(session, team)
    with translate_database_errors(f"releasing endpoint {change.endpoint}"):
        row = _lock(repo, change.endpoint, change.expect_revision, serving=False)
        current = owner_of(row.owner_kind, row.owner_id)
        if current is None:
            return repo.get(row.name)
        _check_owner(row, owner)
        before = repo.current_routes(row.id)
        try:
            check_routes(
                session,
                row,
                [c.route for c in before],
                {c.version: c.stage for c in before},
                owned=False,
            )
        except InvalidInputError as exc:
            raise InvalidTransitionError(
                f"{owner} cannot release endpoint {row.name!r} yet: {exc}; route it first"
            ) from None
        fields = {"owner_kind": None, "owner_id": None}
        return write_change(
            session, repo, row, before, RouteAction.RELEASE, change.actor, change.reason,
            fields=fields, owner=owner,
        )  # fmt: skip


# -- shared with follow ------------------------------------------------------------


def check_routes(
    session: Session,
    row: EndpointRow,
    routes: Sequence[Route],
    stages: Mapping[int, Stage],
    *,
    owned: bool,
) -> None:
    """Refuse routes to a version the endpoint's environment may not route to."""
    environment = Environment(row.environment)
    model = _model_name(session, row)
    for route in routes:
        check_routable(
            environment,
            stages[route.version],
            owned=owned,
            shadow=route.role is RouteRole.SHADOW,
            subject=f"{model} v{route.version}",
        )


def versions_of(
    session: Session, row: EndpointRow, numbers: Collection[int]
) -> dict[int, ModelVersionRow]:
    """The endpoint's model's versions by number; a number it does not have is an error."""
    found = {
        version.version: version
        for version in session.scalars(
            select(ModelVersionRow).where(
                ModelVersionRow.team_id == row.team_id,
                ModelVersionRow.model_id == row.model_id,
                ModelVersionRow.version.in_(set(numbers)),
            )
        )
    }
    missing = sorted(set(numbers) - set(found))
    if missing:
        model = _model_name(session, row)
        raise NotFoundError(
            f"model {model!r} of endpoint {row.name!r} has no version {missing[0]}; "
            f"see `modelops models versions {model}`"
        )
    return found


def write_change(
    session: Session,
    repo: EndpointRepository,
    row: EndpointRow,
    before: list[CurrentRoute],
    action: RouteAction,
    actor: str,
    reason: str,
    *,
    target: Sequence[Route] | None = None,
    version_ids: Mapping[int, int] | None = None,
    fields: Mapping[str, Any] | None = None,
    owner: Owner | None = None,
) -> Endpoint:
    """Write one checked change: routes (if `target`), endpoint fields, the revision bump,
    the ledger entry and the notice. The caller has locked `row` and checked the rules."""
    if target is not None:
        _replace_routes(session, row, before, target, version_ids or {})
    _bump(session, row, fields or {})
    _record(session, row, action, before, repo.current_routes(row.id), actor, reason, owner)
    return repo.get(row.name)


# -- internals -----------------------------------------------------------------------


def _lock(
    repo: EndpointRepository, name: str, expect_revision: int | None, *, serving: bool
) -> EndpointRow:
    row = repo.row(name, for_update=True)
    if expect_revision is not None and row.revision != expect_revision:
        raise ConflictError(
            f"endpoint {name!r} is at revision {row.revision}, not {expect_revision} as "
            f"expected; nothing changed (see `modelops endpoints show {name}`)"
        )
    if serving and row.status == EndpointStatus.UNDEPLOYED.value:
        raise InvalidTransitionError(
            f"endpoint {name!r} was undeployed at {row.undeployed_at:%Y-%m-%d %H:%M:%S} UTC "
            "and routes nothing any more; create a new endpoint"
        )
    return row


def _check_owner(row: EndpointRow, caller: Owner | None) -> None:
    current = owner_of(row.owner_kind, row.owner_id)
    if current == caller:
        return
    if current is None:
        raise EndpointOwnedError(f"{caller} does not own endpoint {row.name!r}; claim it first")
    raise EndpointOwnedError(
        f"endpoint {row.name!r} is owned by {current}: its routes change only through it "
        "until it ends"
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


def _replace_routes(
    session: Session,
    row: EndpointRow,
    before: Sequence[CurrentRoute],
    target: Sequence[Route],
    version_ids: Mapping[int, int],
) -> None:
    served = {route.version: route.weight for route in target if route.role is not RouteRole.SHADOW}
    held = {c.version: c.buckets for c in before if c.role is not RouteRole.SHADOW}
    layout = reallocate(held, served)
    session.execute(delete(RouteRow).where(RouteRow.endpoint_id == row.id))
    session.add_all(
        RouteRow(
            team_id=row.team_id,
            endpoint_id=row.id,
            version_id=version_ids[route.version],
            role=route.role.value,
            weight=route.weight,
            buckets=[list(pair) for pair in layout.get(route.version, ())],
        )
        for route in target
    )
    session.flush()


def _bump(session: Session, row: EndpointRow, fields: Mapping[str, Any]) -> None:
    """Write `fields` and the next revision; the ORM's version counter makes the UPDATE a
    compare-and-set on the revision read, so a writer that slipped past the lock loses."""
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError(
            f"endpoint {row.name!r} changed concurrently; nothing changed, re-read and retry"
        ) from None


def _record(
    session: Session,
    row: EndpointRow,
    action: RouteAction,
    before: Sequence[CurrentRoute],
    after: Sequence[CurrentRoute],
    actor: str,
    reason: str,
    owner: Owner | None,
) -> None:
    session.add(
        RouteLedgerRow(
            team_id=row.team_id,
            endpoint_id=row.id,
            revision=row.revision,
            action=action.value,
            actor=actor,
            reason=reason,
            before=[route.ledger_entry() for route in before],
            after=[route.ledger_entry() for route in after],
            owner_kind=owner.kind.value if owner else None,
            owner_id=owner.id if owner else None,
            at=utcnow(),
        )
    )
    session.flush()
    notice = notifications.EndpointNotice(
        team_id=row.team_id,
        endpoint_id=row.id,
        name=row.name,
        revision=row.revision,
        action=action.value,
    )
    notifications.send(session, notice)


def _model_name(session: Session, row: EndpointRow) -> str:
    return session.scalars(select(ModelRow.name).where(ModelRow.id == row.model_id)).one()
