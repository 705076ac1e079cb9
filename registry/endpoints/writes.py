"""How every endpoint change is written, whoever makes it: lock the row, check the owner,
replace the routes (moving the fewest buckets), bump the revision, append to the route
ledger and queue the notice, all in the caller's transaction."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from registry import notifications
from registry.buckets import reallocate
from registry.endpoints.domain import (
    Endpoint,
    EndpointStatus,
    Environment,
    Owner,
    Route,
    RouteAction,
)
from registry.endpoints.repository import CurrentRoute, EndpointRepository, owner_of
from registry.endpoints.rules import check_routable
from registry.endpoints.tables import EndpointRow, RouteLedgerRow, RouteRow
from registry.errors import ConflictError, InvalidTransitionError, NotFoundError
from registry.orm import utcnow
from registry.routing import RouteRole
from registry.stages import Stage
from registry.tables import ModelRow, ModelVersionRow


class EndpointOwnedError(ConflictError):
    """A rollout or A/B test owns the endpoint: its routes move only through that owner."""


@dataclass(frozen=True)
class Note:
    """What the route ledger says of a change besides the routes: what, who, why, for whom."""

    action: RouteAction
    actor: str
    reason: str
    owner: Owner | None = None


def write_change(
    repo: EndpointRepository,
    row: EndpointRow,
    before: list[CurrentRoute],
    note: Note,
    *,
    target: Sequence[Route] | None = None,
    version_ids: Mapping[int, int] | None = None,
    fields: Mapping[str, Any] | None = None,
) -> Endpoint:
    """Write one checked change: routes (if `target`), endpoint fields, the revision bump,
    the ledger entry and the notice. The caller has locked `row` and checked the rules."""
    session = repo.session
    if target is not None:
        replace_routes(session, row, before, target, version_ids or {})
    _bump(session, row, fields or {})
    record(repo, row, before, note)
    return repo.get(row.name)


def record(
    repo: EndpointRepository, row: EndpointRow, before: Sequence[CurrentRoute], note: Note
) -> None:
    """Append the ledger entry of the change that brought `row` to its revision, and queue
    the notice that LISTENing replicas hear when the transaction commits."""
    session = repo.session
    after = repo.current_routes(row.id)
    session.add(
        RouteLedgerRow(
            team_id=row.team_id,
            endpoint_id=row.id,
            revision=row.revision,
            action=note.action.value,
            actor=note.actor,
            reason=note.reason,
            before=[route.ledger_entry() for route in before],
            after=[route.ledger_entry() for route in after],
            owner_kind=note.owner.kind.value if note.owner else None,
            owner_id=note.owner.id if note.owner else None,
            at=utcnow(),
        )
    )
    session.flush()
    notice = notifications.EndpointNotice(
        team_id=row.team_id,
        endpoint_id=row.id,
        name=row.name,
        revision=row.revision,
        action=note.action.value,
    )
    notifications.send(session, notice)


def lock(
    repo: EndpointRepository, name: str, expect_revision: int | None, *, serving: bool
) -> EndpointRow:
    """The endpoint's row, locked until commit; refused unless at `expect_revision` (if
    given) and, with `serving`, unless it still serves."""
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


def check_owner(row: EndpointRow, caller: Owner | None) -> None:
    current = owner_of(row.owner_kind, row.owner_id)
    if current == caller:
        return
    if current is None:
        raise EndpointOwnedError(f"{caller} does not own endpoint {row.name!r}; claim it first")
    raise EndpointOwnedError(
        f"endpoint {row.name!r} is owned by {current}: its routes change only through it "
        "until it ends"
    )


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


def replace_routes(
    session: Session,
    row: EndpointRow,
    before: Sequence[CurrentRoute],
    target: Sequence[Route],
    version_ids: Mapping[int, int],
) -> None:
    served = {route.version: route.weight for route in target if route.role.splits_traffic}
    held = {c.version: c.buckets for c in before if c.role.splits_traffic}
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


def _model_name(session: Session, row: EndpointRow) -> str:
    return session.scalars(select(ModelRow.name).where(ModelRow.id == row.model_id)).one()
