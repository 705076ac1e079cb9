"""Ending an A/B test: the endpoint serves the winner alone or goes back to the routes it had,
it is released, and both versions' stage ledgers keep the verdict with its evidence (a
loser stays in its stage). A person may stop a test at any point before that."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.abtests.domain import ABTest, ABTestStatus, VerdictKind
from registry.abtests.lifecycle import owner_of_test, record_look
from registry.abtests.repository import ABTestRepository
from registry.abtests.tables import ABTestRow
from registry.domain import JsonObject, LedgerAction, Team
from registry.endpoints import (
    EndpointChange,
    EndpointRepository,
    EndpointStatus,
    Route,
    RouteChange,
    ShadowedVersion,
    WeightedVersion,
    release_endpoint,
    set_routes,
)
from registry.errors import InvalidTransitionError, translate_database_errors
from registry.ledger import LedgerRepository
from registry.orm import utcnow
from registry.routing import RouteRole
from registry.stages import Stage
from registry.tables import ModelVersionRow


def finish_test(
    session: Session,
    team: Team,
    test_id: int,
    *,
    keep: int | None,
    note: str,
    now: datetime | None = None,
) -> ABTest:
    """Act on a concluded test: serve version `keep` alone (a winner), or, with None, the
    routes from before the test; release the endpoint; record the evidence. Finishing a
    finished test changes nothing, so a resumed flow may repeat it."""
    tests = ABTestRepository(session, team)
    with translate_database_errors(f"finishing A/B test #{test_id}"):
        row = tests.row(test_id, for_update=True)
        if row.status in (ABTestStatus.FINISHED.value, ABTestStatus.STOPPED.value):
            return tests.view(row)
        if row.status != ABTestStatus.CONCLUDED.value:
            raise InvalidTransitionError(
                f"A/B test #{test_id} is {row.status}; only a concluded test is finished"
            )
        test = tests.view(row)
        _settle_routes(session, team, test, keep, reason=f"A/B test #{test.id}: {note}")
        _record_evidence(session, team, test, note)
        _close(row, ABTestStatus.FINISHED, note, now)
        return tests.view(row)


def stop_test(
    session: Session,
    team: Team,
    test_id: int,
    *,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> ABTest:
    """Stop a test now: a running one gets a last look (verdict `stopped`, with the interval
    reached), the endpoint goes back to its routes from before and is released."""
    now = now or utcnow()
    tests = ABTestRepository(session, team)
    with translate_database_errors(f"stopping A/B test #{test_id}"):
        row = tests.row(test_id, for_update=True)
        status = ABTestStatus(row.status)
        if status in (ABTestStatus.FINISHED, ABTestStatus.STOPPED):
            raise InvalidTransitionError(
                f"A/B test #{test_id} is already {status} ({row.action or row.verdict_reason})"
            )
        note = f"stopped by {actor}: {reason}"
        if status is ABTestStatus.PLANNED:
            row.verdict, row.verdict_reason = VerdictKind.STOPPED.value, f"{note}; never started"
            _close(row, ABTestStatus.STOPPED, "never started; the endpoint was not touched", now)
            return tests.view(row)
        if status is ABTestStatus.RUNNING:
            record_look(session, team, row, now, stopped_by=f"{actor} ({reason})")
        else:
            note = f"{note}, after its verdict ({row.verdict})"
        test = tests.view(row)
        _settle_routes(session, team, test, None, reason=f"A/B test #{test.id} {note}")
        action = f"{note}; routes restored"
        _record_evidence(session, team, test, action)
        _close(row, ABTestStatus.STOPPED, action, now)
        return tests.view(row)


def _settle_routes(
    session: Session, team: Team, test: ABTest, keep: int | None, *, reason: str
) -> None:
    owner = owner_of_test(test.id)
    actor = test.definition.actor
    endpoint = EndpointRepository(session, team).get(test.endpoint)
    if keep is not None:
        wanted = [Route(version=keep, weight=100, role=RouteRole.STABLE)]
    else:
        wanted = test.routes_before
    if endpoint.status is EndpointStatus.SERVING and _key(endpoint.routes) != _key(wanted):
        change = RouteChange(
            endpoint=test.endpoint,
            routes=[
                WeightedVersion(version=r.version, weight=r.weight, role=r.role)
                for r in wanted
                if r.role is not RouteRole.SHADOW
            ],
            shadows=[
                ShadowedVersion(version=r.version, percent=r.weight)
                for r in wanted
                if r.role is RouteRole.SHADOW
            ],
            actor=actor,
            reason=reason,
        )
        set_routes(session, team, change, owner=owner)
    release_endpoint(
        session, team, EndpointChange(endpoint=test.endpoint, actor=actor, reason=reason), owner
    )


def _key(routes: list[Route]) -> set[tuple[int, int, str]]:
    return {(r.version, r.weight, r.role.value) for r in routes}


def _record_evidence(session: Session, team: Team, test: ABTest, action: str) -> None:
    """A stage-ledger entry on each variant: the verdict, what was done, the last look."""
    looks = ABTestRepository(session, team).looks(test.id)
    last = looks[-1].result.model_dump(mode="json") if looks else None
    row = session.get(ABTestRow, test.id)
    assert row is not None
    ledger = LedgerRepository(session, team)
    for arm, version_id in (("a", row.a_version_id), ("b", row.b_version_id)):
        version = session.scalars(
            select(ModelVersionRow).where(ModelVersionRow.id == version_id).with_for_update()
        ).one()
        stage = Stage(version.stage)
        evidence: JsonObject = {
            "ab_test": test.id,
            "endpoint": test.endpoint,
            "arm": arm,
            "verdict": test.verdict.value if test.verdict else None,
            "verdict_reason": test.verdict_reason,
            "action": action,
            "looks": len(looks),
            "last_look": last,
        }
        ledger.append(
            version,
            action=LedgerAction.AB_TEST,
            transition=(stage, stage),
            actor=test.definition.actor,
            reason=f"A/B test #{test.id} on {test.endpoint} ({arm}): "
            f"{test.verdict or 'no verdict'}; {action}",
            evidence=evidence,
            flow_run_id=test.flow_run_id,
        )


def _close(row: ABTestRow, status: ABTestStatus, action: str, now: datetime | None) -> None:
    row.status = status.value
    row.action = action
    row.finished_at = now or utcnow()
