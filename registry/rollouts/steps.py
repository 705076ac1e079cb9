"""One look at a rollout's current step: measure both arms over the step's window, judge,
persist the measurement, then decide (advance, hold, pause, roll back, promote) in the same
transaction, so no route moves without the measurement and decision behind it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy.orm import Session

from registry.domain import Team
from registry.endpoints import EndpointStatus
from registry.endpoints.tables import EndpointRow
from registry.errors import translate_database_errors
from registry.orm import utcnow
from registry.rollouts.arms import read_arms, subtract
from registry.rollouts.domain import (
    ArmSums,
    Decision,
    DecisionKind,
    InconclusiveAction,
    Measurement,
    Rollout,
    RolloutStatus,
    Strategy,
    Verdict,
)
from registry.rollouts.judge import judge_step
from registry.rollouts.lifecycle import arm_versions, begin_step
from registry.rollouts.repository import RolloutRepository
from registry.rollouts.routes import apply_routes, step_routes
from registry.rollouts.settle import fail_row, pause_row, promote_row, report_row, roll_back_row
from registry.rollouts.tables import RolloutRow


class LookTaken(NamedTuple):
    rollout: Rollout
    measurement: Measurement | None  # None: the rollout was not progressing
    decision: Decision | None


def take_look(
    session: Session, team: Team, rollout_id: int, *, now: datetime | None = None
) -> LookTaken:
    now = now or utcnow()
    rollouts = RolloutRepository(session, team)
    with translate_database_errors(f"looking at rollout #{rollout_id}"):
        row = rollouts.row(rollout_id, for_update=True)
        if row.status != RolloutStatus.PROGRESSING.value or _previewing(row):
            return LookTaken(rollouts.view(row), None, None)
        endpoint = session.get(EndpointRow, row.endpoint_id)
        if endpoint is not None and endpoint.status == EndpointStatus.UNDEPLOYED.value:
            # Stopped under the rollout (`endpoints undeploy` works even while owned).
            reason = f"endpoint {endpoint.name!r} was undeployed while the rollout ran"
            decision = fail_row(session, team, row, reason, now)
            return LookTaken(rollouts.view(row), None, decision)
        baseline, candidate = step_window(session, team, row, now)
        if _nothing_new(rollouts, row, (baseline, candidate), now):
            return LookTaken(rollouts.view(row), None, None)
        rollout = rollouts.view(row)
        judged = judge_step(rollout.policy, baseline, candidate)
        assert row.step_started_at is not None
        measurement = rollouts.add_measurement(
            row,
            now,
            row.step_started_at,
            (baseline, candidate),
            (judged.verdict, judged.reasons, judged.checks),
        )
        decision = _decide(session, team, row, measurement, now)
        return LookTaken(rollouts.view(row), measurement, decision)


def _previewing(row: RolloutRow) -> bool:
    """Blue-green before its switch: the preview serves no user traffic to look at; its
    measurement is the smoke evaluation (registry.rollouts.blue_green)."""
    return row.strategy == Strategy.BLUE_GREEN.value and row.step == 0


def _nothing_new(
    rollouts: RolloutRepository, row: RolloutRow, arms: tuple[ArmSums, ArmSums], now: datetime
) -> bool:
    """No request since the step's last measurement, and its deadline not reached: a look
    would judge the same data again and spend one of the rollout's looks for nothing."""
    assert row.step_started_at is not None
    deadline = row.step_started_at + timedelta(seconds=int(row.policy["step_deadline_seconds"]))
    if now >= deadline:
        return False
    looked = [m for m in rollouts.measurements(row.id) if m.step == row.step]
    if not looked:
        return False
    last = looked[-1]
    return (last.baseline.requests, last.candidate.requests) == (
        arms[0].requests,
        arms[1].requests,
    )


def step_window(
    session: Session, team: Team, row: RolloutRow, now: datetime
) -> tuple[ArmSums, ArmSums]:
    """Both arms since the step began (direct and blue-green: the baseline is the old
    version's hour before the switch)."""
    assert row.started_at is not None
    totals = read_arms(
        session, team, row.endpoint_id, row.started_at, now, arm_versions(session, row)
    )
    offsets = {name: ArmSums.model_validate(value) for name, value in row.step_offset.items()}
    baseline = subtract(totals["baseline"], offsets.get("baseline"))
    candidate = subtract(totals["candidate"], offsets.get("candidate"))
    if row.prior_baseline is not None:
        baseline = ArmSums.model_validate(row.prior_baseline)
    return baseline, candidate


def _decide(
    session: Session, team: Team, row: RolloutRow, measurement: Measurement, now: datetime
) -> Decision:
    rollouts = RolloutRepository(session, team)
    rollout = rollouts.view(row)
    policy = rollout.policy
    assert row.step_started_at is not None
    elapsed = now - row.step_started_at
    # Blue-green's switched step bakes for its rollback window: the old stays warm so long.
    bake = policy.rollback_window_seconds if rollout.strategy is Strategy.BLUE_GREEN else None
    baked = elapsed >= timedelta(seconds=policy.bake_seconds if bake is None else bake)
    overdue = elapsed >= timedelta(seconds=policy.step_deadline_seconds)
    out_of_looks = measurement.number >= policy.max_looks
    why = "; ".join(measurement.reasons)
    label = f"step {row.step + 1} ({rollout.weight}%), measurement {measurement.number}"
    number = measurement.number
    if rollout.strategy is Strategy.SHADOW and (
        (measurement.verdict is not Verdict.INCONCLUSIVE and baked) or overdue or out_of_looks
    ):
        return report_row(session, team, row, f"{label}: {measurement.verdict}: {why}", number, now)
    if measurement.verdict is Verdict.FAIL:
        return roll_back_row(
            session, team, row, f"{label} failed: {why}", number, now, actor="rollout"
        )
    if measurement.verdict is Verdict.PASS and baked:
        # Reaching 100% is the promotion: no baseline would be left to compare with.
        if row.step + 1 >= len(policy.steps) or policy.steps[row.step + 1] == 100:
            return promote_row(session, team, row, f"{label} passed: {why}", number, now)
        return _advance(session, team, row, f"{label} passed: {why}", number, now)
    if overdue or out_of_looks:
        limit = "its deadline passed" if overdue else f"the {policy.max_looks} looks are used"
        note = f"{label} undecided and {limit}: {why}"
        if policy.on_inconclusive is InconclusiveAction.ROLLBACK:
            return roll_back_row(session, team, row, note, number, now, actor="rollout")
        return pause_row(session, team, row, note, number, now)
    wait = "bake time left" if measurement.verdict is Verdict.PASS else "collecting"
    return rollouts.add_decision(
        row,
        DecisionKind.HOLD,
        actor="rollout",
        reason=f"{label}: {measurement.verdict} ({wait}): {why}",
        routes=step_routes(rollout, row.step),
        at=now,
        measurement=number,
    )


def _advance(
    session: Session, team: Team, row: RolloutRow, reason: str, number: int, now: datetime
) -> Decision:
    rollouts = RolloutRepository(session, team)
    rollout = rollouts.view(row)
    step = row.step + 1
    routes = step_routes(rollout, step)
    applied = apply_routes(
        session, team, rollout, routes, f"rollout #{row.id}: step {step + 1}, {reason}"
    )
    begin_step(session, team, row, step, now)
    return rollouts.add_decision(
        row,
        DecisionKind.ADVANCE,
        actor="rollout",
        reason=f"{reason}; step {step + 1}: {rollout.policy.steps[step]}%",
        routes=applied,
        at=now,
        measurement=number,
    )
