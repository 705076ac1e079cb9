"""How a rollout ends or waits: promoted (the candidate alone, the registry's stage moved),
rolled back (the routes from before, the candidate rejected with the evidence), reported
(shadow), paused and resumed, or aborted by a person. Each in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from registry.alerts.events import emit
from registry.domain import JsonObject, LedgerAction, Team
from registry.endpoints import (
    EndpointChange,
    EndpointRepository,
    EndpointStatus,
    Environment,
    Owner,
    OwnerKind,
    Route,
    release_endpoint,
)
from registry.errors import InvalidTransitionError, RegistryError, translate_database_errors
from registry.ledger import LedgerRepository
from registry.lifecycle import TransitionRequest, transition_stage
from registry.model_repository import ModelRepository
from registry.orm import utcnow
from registry.rollouts.domain import (
    ACTIVE,
    Decision,
    DecisionKind,
    Rollout,
    RolloutStatus,
)
from registry.rollouts.repository import RolloutRepository
from registry.rollouts.routes import apply_routes, final_routes, step_routes
from registry.rollouts.tables import RolloutRow
from registry.stages import Stage

ANNOUNCED = {
    RolloutStatus.SUCCEEDED: ("rollout.succeeded", "info"),
    RolloutStatus.ROLLED_BACK: ("rollout.rolled_back", "error"),
    RolloutStatus.FAILED: ("rollout.failed", "critical"),
}


def promote_row(
    session: Session, team: Team, row: RolloutRow, reason: str, number: int | None, now: datetime
) -> Decision:
    """The candidate serves 100%; on a production endpoint it enters production (settling the
    approval given for it); the endpoint is released."""
    rollouts = RolloutRepository(session, team)
    rollout = rollouts.view(row)
    routes = apply_routes(
        session, team, rollout, final_routes(rollout), f"rollout #{row.id}: {reason}"
    )
    written = _write_back_production(session, team, rollout, reason)
    _release(session, team, rollout, reason)
    outcome = f"v{rollout.version} serves 100% of {rollout.endpoint}{written}"
    return _close(session, team, row, RolloutStatus.SUCCEEDED, DecisionKind.PROMOTE, reason,
                  outcome, routes, number, now, actor="rollout")  # fmt: skip


def roll_back_row(
    session: Session,
    team: Team,
    row: RolloutRow,
    reason: str,
    number: int | None,
    now: datetime,
    *,
    actor: str,
    reject: bool = True,
) -> Decision:
    """The routes from before, at once; the endpoint released; the candidate rejected (or,
    when its stage cannot move or a person aborted, the evidence recorded beside it)."""
    rollouts = RolloutRepository(session, team)
    rollout = rollouts.view(row)
    routes = _restore(session, team, rollout, f"rollout #{row.id} rolled back: {reason}")
    _release(session, team, rollout, reason)
    if reject:
        rejected = _reject(session, team, rollout, reason, actor)
    else:
        rejected = "its stage is unchanged"
        _evidence(session, team, rollout, f"rolled back: {reason}; {rejected}", actor)
    outcome = f"rolled back: {reason}; {rejected}"
    return _close(session, team, row, RolloutStatus.ROLLED_BACK, DecisionKind.ROLLBACK, reason,
                  outcome, routes, number, now, actor=actor)  # fmt: skip


def report_row(
    session: Session, team: Team, row: RolloutRow, reason: str, number: int | None, now: datetime
) -> Decision:
    """Shadow: the mirror stops and the comparison is the result; nothing switches."""
    rollouts = RolloutRepository(session, team)
    rollout = rollouts.view(row)
    routes = _restore(session, team, rollout, f"rollout #{row.id} shadow ended: {reason}")
    _release(session, team, rollout, reason)
    _evidence(session, team, rollout, f"shadow report: {reason}", "rollout")
    outcome = f"shadow report: {reason}; no traffic was switched"
    return _close(session, team, row, RolloutStatus.SUCCEEDED, DecisionKind.REPORT, reason,
                  outcome, routes, number, now, actor="rollout")  # fmt: skip


def pause_row(
    session: Session, team: Team, row: RolloutRow, reason: str, number: int | None, now: datetime,
    *, actor: str = "rollout",
) -> Decision:  # fmt: skip
    rollouts = RolloutRepository(session, team)
    rollout = rollouts.view(row)
    row.status = RolloutStatus.PAUSED.value
    row.outcome = f"paused: {reason}"
    session.flush()
    return rollouts.add_decision(row, DecisionKind.PAUSE, actor=actor, reason=reason,
                                 routes=step_routes(rollout, row.step), at=now,
                                 measurement=number)  # fmt: skip


def pause_rollout(
    session: Session, team: Team, rollout_id: int, *, actor: str, reason: str
) -> Rollout:
    """Hold a progressing rollout where it is (its routes stay) until resumed or aborted."""
    rollouts = RolloutRepository(session, team)
    with translate_database_errors(f"pausing rollout #{rollout_id}"):
        row = rollouts.row(rollout_id, for_update=True)
        if row.status != RolloutStatus.PROGRESSING.value:
            raise InvalidTransitionError(
                f"rollout #{rollout_id} is {row.status}; only a progressing rollout can pause"
            )
        pause_row(session, team, row, f"paused by {actor}: {reason}", None, utcnow(), actor=actor)
        return rollouts.view(row)


def resume_rollout(
    session: Session, team: Team, rollout_id: int, *, actor: str, reason: str
) -> Rollout:
    """Continue a paused rollout at its step; the step's deadline counts again from now and
    the measurements so far stay in its window."""
    rollouts = RolloutRepository(session, team)
    with translate_database_errors(f"resuming rollout #{rollout_id}"):
        row = rollouts.row(rollout_id, for_update=True)
        if row.status != RolloutStatus.PAUSED.value:
            raise InvalidTransitionError(
                f"rollout #{rollout_id} is {row.status}; only a paused rollout can resume"
            )
        now = utcnow()
        row.status = RolloutStatus.PROGRESSING.value
        row.step_started_at = now
        row.outcome = ""
        session.flush()
        rollout = rollouts.view(row)
        rollouts.add_decision(row, DecisionKind.RESUME, actor=actor,
                              reason=f"resumed by {actor}: {reason}",
                              routes=step_routes(rollout, row.step), at=now)  # fmt: skip
        return rollouts.view(row)


def abort_rollout(
    session: Session, team: Team, rollout_id: int, *, actor: str, reason: str
) -> Rollout:
    """Roll back now, whatever the step: the routes from before, the candidate rejected."""
    rollouts = RolloutRepository(session, team)
    with translate_database_errors(f"aborting rollout #{rollout_id}"):
        row = rollouts.row(rollout_id, for_update=True)
        if RolloutStatus(row.status) not in ACTIVE:
            raise InvalidTransitionError(
                f"rollout #{rollout_id} is already {row.status} ({row.outcome}); nothing changed"
            )
        note = f"aborted by {actor}: {reason}"
        if row.status == RolloutStatus.PENDING.value:
            rollout = rollouts.view(row)
            _close(session, team, row, RolloutStatus.ROLLED_BACK, DecisionKind.ROLLBACK, note,
                   f"{note}; never started, the endpoint was not touched",
                   list(rollout.routes_before), None, utcnow(), actor=actor)  # fmt: skip
        else:
            roll_back_row(session, team, row, note, None, utcnow(), actor=actor, reject=False)
        return rollouts.view(row)


def fail_row(session: Session, team: Team, row: RolloutRow, reason: str, now: datetime) -> Decision:
    """The rollout cannot go on (its endpoint was undeployed under it): record why. An
    undeployed endpoint serves nothing again, so its routes (and owner) stay for the record."""
    rollout = RolloutRepository(session, team).view(row)
    return _close(session, team, row, RolloutStatus.FAILED, DecisionKind.FAIL, reason,
                  f"failed: {reason}", list(rollout.routes_before), None, now,
                  actor="rollout")  # fmt: skip


def _restore(session: Session, team: Team, rollout: Rollout, reason: str) -> list[Route]:
    endpoint = EndpointRepository(session, team).get(rollout.endpoint)
    if endpoint.status is not EndpointStatus.SERVING:
        return list(endpoint.routes)
    return apply_routes(session, team, rollout, list(rollout.routes_before), reason)


def _release(session: Session, team: Team, rollout: Rollout, reason: str) -> None:
    change = EndpointChange(
        endpoint=rollout.endpoint,
        actor=rollout.created_by,
        reason=f"rollout #{rollout.id}: {reason}"[:4000],
    )
    release_endpoint(session, team, change, Owner(kind=OwnerKind.ROLLOUT, id=rollout.id))


def _write_back_production(session: Session, team: Team, rollout: Rollout, reason: str) -> str:
    """On a production endpoint the candidate (a staging version) becomes the production
    version: the stage machine's move, with the approval given for it when it started."""
    if rollout.environment is not Environment.PRODUCTION:
        return ""
    version = ModelRepository(session, team).version(rollout.model, rollout.version)
    if version.stage is not Stage.STAGING:
        return ""
    moved = transition_stage(
        session,
        team,
        TransitionRequest(
            model=rollout.model,
            version=rollout.version,
            target=Stage.PRODUCTION,
            actor=rollout.created_by,
            reason=f"rollout #{rollout.id} on {rollout.endpoint} succeeded: {reason}"[:4000],
            expect=Stage.STAGING,
            evidence=_summary(session, team, rollout, reason),
            flow_run_id=rollout.flow_run_id,
            approval_id=rollout.approval_id,
        ),
    )
    replaced = f", v{moved.replaced} archived" if moved.replaced else ""
    return f"; v{rollout.version} is now in production{replaced}"


def _reject(session: Session, team: Team, rollout: Rollout, reason: str, actor: str) -> str:
    version = ModelRepository(session, team).version(rollout.model, rollout.version)
    if version.stage in (Stage.DEVELOPMENT, Stage.TESTING, Stage.STAGING):
        try:
            with session.begin_nested():
                transition_stage(
                    session,
                    team,
                    TransitionRequest(
                        model=rollout.model,
                        version=rollout.version,
                        target=Stage.REJECTED,
                        actor=actor,
                        reason=f"rollout #{rollout.id} on {rollout.endpoint}: {reason}"[:4000],
                        expect=version.stage,
                        evidence=_summary(session, team, rollout, reason),
                        flow_run_id=rollout.flow_run_id,
                    ),
                )
            return f"v{rollout.version} {version.stage} -> rejected"
        except RegistryError as exc:
            # Another endpoint still routes to it: the stage stays, the evidence is kept.
            note = f"v{rollout.version} stays {version.stage} ({exc})"
    else:
        note = f"v{rollout.version} stays {version.stage}"
    _evidence(session, team, rollout, f"rolled back: {reason}; {note}", actor)
    return note


def _evidence(session: Session, team: Team, rollout: Rollout, what: str, actor: str) -> None:
    models = ModelRepository(session, team)
    row = models.version_row(rollout.model, rollout.version)
    stage = Stage(row.stage)
    LedgerRepository(session, team).append(
        row,
        action=LedgerAction.ROLLOUT,
        transition=(stage, stage),
        actor=actor,
        reason=f"rollout #{rollout.id} on {rollout.endpoint}: {what}"[:4000],
        evidence=_summary(session, team, rollout, what),
        flow_run_id=rollout.flow_run_id,
    )


def _summary(session: Session, team: Team, rollout: Rollout, reason: str) -> JsonObject:
    """The rollout's evidence for the ledger: what it was, and the last measurement."""
    measurements = RolloutRepository(session, team).measurements(rollout.id)
    last = measurements[-1].model_dump(mode="json") if measurements else None
    return {
        "rollout": rollout.id,
        "endpoint": rollout.endpoint,
        "strategy": rollout.strategy.value,
        "step": rollout.step + 1,
        "steps": list(rollout.policy.steps),
        "measurements": len(measurements),
        "reason": reason,
        "last_measurement": last,
    }


def _close(
    session: Session,
    team: Team,
    row: RolloutRow,
    status: RolloutStatus,
    kind: DecisionKind,
    reason: str,
    outcome: str,
    routes: list[Route],
    number: int | None,
    now: datetime,
    *,
    actor: str,
) -> Decision:
    rollouts = RolloutRepository(session, team)
    row.status = status.value
    row.outcome = outcome[:4000]
    row.finished_at = now
    session.flush()
    decision = rollouts.add_decision(row, kind, actor=actor, reason=reason[:4000], routes=routes,
                                     at=now, measurement=number)  # fmt: skip
    _announce(session, team, rollouts.view(row))
    return decision


def _announce(session: Session, team: Team, rollout: Rollout) -> None:
    """The outcome as an alert event, in the same transaction (as A/B verdicts are)."""
    kind, severity = ANNOUNCED[rollout.status]
    emit(
        session,
        team,
        kind,
        severity,
        {
            "model": rollout.model,
            "endpoint": rollout.endpoint,
            "version": str(rollout.version),
            "rollout": str(rollout.id),
        },
        {"summary": f"rollout #{rollout.id} of v{rollout.version} on {rollout.endpoint}: "
                    f"{rollout.outcome}"[:2000]},
    )  # fmt: skip
