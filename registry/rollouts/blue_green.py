"""Blue-green's own moves: the smoke evaluation of the preview judged and persisted, then the
switch (the candidate takes all traffic, the old versions stay warm as previews) or the way
back. The watch after the switch is an ordinary look (registry.rollouts.steps) whose bake
time is the rollback window. Each function runs in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlalchemy.orm import Session

from registry.domain import Frozen, Team
from registry.errors import InvalidTransitionError, translate_database_errors
from registry.orm import utcnow
from registry.outcomes.histogram import LogHistogram
from registry.rollouts.arms import p95_ms
from registry.rollouts.domain import (
    ArmSums,
    Check,
    Decision,
    DecisionKind,
    Measurement,
    Rollout,
    RolloutPolicy,
    RolloutStatus,
    Strategy,
    Verdict,
)
from registry.rollouts.judge import limit_check
from registry.rollouts.lifecycle import begin_step
from registry.rollouts.repository import RolloutRepository
from registry.rollouts.routes import apply_routes, step_routes
from registry.rollouts.settle import roll_back_row
from registry.rollouts.tables import RolloutRow

PREVIEW_STEP, SWITCHED_STEP = 0, 1


class SmokeAnswer(Frozen):
    """One smoke example as the preview answered it through the gateway."""

    latency_ms: float = Field(ge=0)
    error: str | None = None  # the error class, when the gateway did not answer 200
    correct: bool | None = None  # None: the example's answer is not scored (free text)


class SmokeResult(Frozen):
    dataset: str
    answers: list[SmokeAnswer] = Field(min_length=1)
    min_accuracy: float | None = None  # the endpoint's stage gate, judged when set

    def sums(self, version: int) -> ArmSums:
        """The preview's answers as one arm's sufficient statistics."""
        served = [a.latency_ms for a in self.answers if a.error is None]
        histogram = LogHistogram.from_durations_ms(served).counts
        return ArmSums(
            versions=[version],
            requests=len(self.answers),
            errors=sum(a.error is not None for a in self.answers),
            latency_n=len(served),
            latency_sum_ms=sum(served),
            latency_sum_sq_ms2=sum(ms * ms for ms in served),
            latency_histogram=dict(histogram),
        )


def judge_smoke(policy: RolloutPolicy, smoke: SmokeResult, arm: ArmSums) -> list[Check]:
    """Every request answered (or within `max_error_rate`), p95 within `max_p95_latency_ms`,
    accuracy at least the stage gate's `min_accuracy`. Failing any one fails the smoke."""
    allowed = policy.max_error_rate or 0.0
    rate = arm.errors / arm.requests
    failed = f"error rate {rate:.2%} ({arm.errors} of {arm.requests} smoke requests failed)"
    checks = [limit_check("smoke_errors", rate, allowed, failed, f"{allowed:.2%}")]
    p95, most = p95_ms(arm), policy.max_p95_latency_ms
    if most is not None and p95 is not None:
        checks.append(limit_check("smoke_p95_latency_ms", p95, most, f"p95 {p95:.1f} ms",
                                  f"{most:g} ms"))  # fmt: skip
    scored = [a.correct for a in smoke.answers if a.correct is not None]
    if scored:
        checks.append(_accuracy(sum(scored) / len(scored), len(scored), smoke.min_accuracy))
    return checks


def _accuracy(accuracy: float, n: int, gate: float | None) -> Check:
    """Judged against the gate when the stage has one; measured and shown either way."""
    measured = f"accuracy {accuracy:.4f} on {n} examples"
    if gate is None:
        return Check(name="smoke_accuracy", outcome=Verdict.PASS, reason="no_gate",
                     detail=f"{measured} (no min_accuracy gate)", estimate=accuracy)  # fmt: skip
    passed = accuracy >= gate
    return Check(
        name="smoke_accuracy",
        outcome=Verdict.PASS if passed else Verdict.FAIL,
        reason="at_least_gate" if passed else "below_gate",
        detail=f"{measured} (gate min_accuracy {gate:g})",
        estimate=accuracy,
        margin=gate,
    )


def record_smoke(
    session: Session, team: Team, rollout_id: int, smoke: SmokeResult, *,
    now: datetime | None = None,
) -> tuple[Rollout, Measurement]:  # fmt: skip
    """Persist the smoke as the preview step's measurement; a failed smoke rolls back at once
    (the preview removed, the candidate rejected with the evidence)."""
    now = now or utcnow()
    rollouts = RolloutRepository(session, team)
    with translate_database_errors(f"recording the smoke of rollout #{rollout_id}"):
        row = _at_preview(rollouts, rollout_id)
        rollout = rollouts.view(row)
        arm = smoke.sums(rollout.version)
        checks = judge_smoke(rollout.policy, smoke, arm)
        failed = [c for c in checks if c.outcome is Verdict.FAIL]
        verdict = Verdict.FAIL if failed else Verdict.PASS
        reasons = [c.detail for c in (failed or checks)]
        reasons[0] = f"smoke on {smoke.dataset}: {reasons[0]}"
        assert row.step_started_at is not None
        measurement = rollouts.add_measurement(
            row, now, row.step_started_at, (ArmSums(versions=[]), arm),
            (verdict, reasons, checks),
        )  # fmt: skip
        why = "; ".join(reasons)
        if failed:
            roll_back_row(session, team, row, f"step 1 (preview) failed: {why}",
                          measurement.number, now, actor="rollout")  # fmt: skip
        else:
            rollouts.add_decision(row, DecisionKind.HOLD, actor="rollout",
                                  reason=f"step 1 (preview) passed: {why}; the switch is next",
                                  routes=step_routes(rollout, PREVIEW_STEP), at=now,
                                  measurement=measurement.number)  # fmt: skip
        return rollouts.view(row), measurement


def switch(
    session: Session, team: Team, rollout_id: int, *, actor: str, approval_id: int | None,
    now: datetime | None = None,
) -> Decision:  # fmt: skip
    """The candidate takes all traffic; the old versions stay warm as previews for the
    rollback window. Only after a passed smoke; `approval_id` settles at promotion."""
    now = now or utcnow()
    rollouts = RolloutRepository(session, team)
    with translate_database_errors(f"switching rollout #{rollout_id}"):
        row = _at_preview(rollouts, rollout_id)
        looked = rollouts.measurements(rollout_id)
        if not looked or looked[-1].verdict is not Verdict.PASS:
            raise InvalidTransitionError(
                f"rollout #{rollout_id} has no passed smoke evaluation of its preview; the "
                "switch waits for one"
            )
        if approval_id is not None:
            row.approval_id = approval_id
        rollout = rollouts.view(row)
        routes = apply_routes(
            session, team, rollout, step_routes(rollout, SWITCHED_STEP),
            f"rollout #{row.id}: switch to v{rollout.version}, the old kept warm",
        )  # fmt: skip
        begin_step(session, team, row, SWITCHED_STEP, now)
        window = rollout.policy.rollback_window_seconds
        return rollouts.add_decision(
            row, DecisionKind.SWITCH, actor=actor,
            reason=f"switched to v{rollout.version}; the old stays warm and watched for "
                   f"{window}s, a failure switches back at once",
            routes=routes, at=now, measurement=looked[-1].number,
        )  # fmt: skip


def refuse_switch(
    session: Session, team: Team, rollout_id: int, *, actor: str, reason: str
) -> Rollout:
    """No switch (the approval was refused or expired): the preview goes, the stage stays."""
    rollouts = RolloutRepository(session, team)
    with translate_database_errors(f"ending rollout #{rollout_id}"):
        row = _at_preview(rollouts, rollout_id)
        roll_back_row(session, team, row, f"not switched: {reason}", None, utcnow(),
                      actor=actor, reject=False)  # fmt: skip
        return rollouts.view(row)


def _at_preview(rollouts: RolloutRepository, rollout_id: int) -> RolloutRow:
    row = rollouts.row(rollout_id, for_update=True)
    if row.strategy != Strategy.BLUE_GREEN.value:
        raise InvalidTransitionError(f"rollout #{rollout_id} is {row.strategy}, not blue-green")
    if row.status != RolloutStatus.PROGRESSING.value or row.step != PREVIEW_STEP:
        raise InvalidTransitionError(
            f"rollout #{rollout_id} is {row.status} at step {row.step + 1}; only a progressing "
            "blue-green rollout at its preview step takes a smoke result or switches"
        )
    return row
