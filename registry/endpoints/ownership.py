"""Ownership of an endpoint by a rollout or A/B test: while it holds the endpoint, only it
may move the routes (and may place a candidate on a production endpoint)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.domain import Team
from registry.endpoints.domain import Endpoint, EndpointChange, Owner, RouteAction
from registry.endpoints.repository import EndpointRepository, owner_of
from registry.endpoints.writes import (
    EndpointOwnedError,
    Note,
    check_owner,
    check_routes,
    lock,
    write_change,
)
from registry.errors import InvalidInputError, InvalidTransitionError, translate_database_errors


def claim_endpoint(session: Session, team: Team, change: EndpointChange, owner: Owner) -> Endpoint:
    """Make `owner` the only one who may route the endpoint. Claiming again by the same
    owner changes nothing, so a resumed flow may repeat it."""
    repo = EndpointRepository(session, team)
    with translate_database_errors(f"claiming endpoint {change.endpoint}"):
        row = lock(repo, change.endpoint, change.expect_revision, serving=True)
        current = owner_of(row.owner_kind, row.owner_id)
        if current == owner:
            return repo.get(row.name)
        if current is not None:
            raise EndpointOwnedError(
                f"endpoint {row.name!r} is owned by {current}; {owner} cannot claim it until "
                "that one ends"
            )
        return write_change(
            repo,
            row,
            repo.current_routes(row.id),
            Note(RouteAction.CLAIM, change.actor, change.reason, owner),
            fields={"owner_kind": owner.kind.value, "owner_id": owner.id},
        )


def release_endpoint(
    session: Session, team: Team, change: EndpointChange, owner: Owner
) -> Endpoint:
    """End `owner`'s hold. Its routes must already be ones the endpoint may serve unowned
    (on production: the production version alone, plus staging shadows)."""
    repo = EndpointRepository(session, team)
    with translate_database_errors(f"releasing endpoint {change.endpoint}"):
        row = lock(repo, change.endpoint, change.expect_revision, serving=False)
        if owner_of(row.owner_kind, row.owner_id) is None:
            return repo.get(row.name)
        check_owner(row, owner)
        before = repo.current_routes(row.id)
        stages = {current.version: current.stage for current in before}
        try:
            check_routes(session, row, [c.route for c in before], stages, owned=False)
        except InvalidInputError as exc:
            raise InvalidTransitionError(
                f"{owner} cannot release endpoint {row.name!r} yet: {exc}; route it first"
            ) from None
        return write_change(
            repo,
            row,
            before,
            Note(RouteAction.RELEASE, change.actor, change.reason, owner),
            fields={"owner_kind": None, "owner_id": None},
        )
