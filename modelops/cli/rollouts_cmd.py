"""`modelops rollouts …`: list and show rollouts with their measurements and decisions;
pause, resume or abort one (the deploy flow run sees it at its next look)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from modelops.cli.context import runtime
from modelops.cli.errors import BadInput
from modelops.cli.output import print_json, print_table, say
from modelops.runtime import Runtime
from registry.domain import Team
from registry.rollouts.domain import ArmSums, Decision, Measurement, Rollout, RolloutStatus
from registry.rollouts.repository import RolloutRepository

app = typer.Typer(
    help="Rollouts of MODELOPS_TEAM: versions deployed onto endpoints step by step.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
RolloutId = Annotated[
    int, typer.Argument(min=1, help="The rollout's id (see `modelops rollouts list`).")
]
Actor = Annotated[str, typer.Option("--actor", help="Who does it (kept in the ledger).")]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the ledger).")]


@app.command("list")
def list_cmd(
    status: Annotated[
        str | None, typer.Option("--status", help="Only rollouts in this status.")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Only this endpoint's.")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """List the team's rollouts, oldest first."""
    wanted = _status(status) if status else None
    with runtime() as rt, rt.transaction() as session:
        rollouts = RolloutRepository(session, _team(rt, session)).list(
            status=wanted, endpoint=endpoint
        )
    if json:
        print_json([rollout_json(r) for r in rollouts])
        return
    print_table(
        f"rollouts of team {rt.settings.team}",
        ["id", "endpoint", "version", "strategy", "status", "step", "measurements", "started"],
        [
            (r.id, r.endpoint, f"v{r.version}", r.strategy, r.status, _step(r), r.measurements,
             r.started_at)
            for r in rollouts
        ],
    )  # fmt: skip


@app.command("show")
def show_cmd(rollout_id: RolloutId, json: JsonFlag = False) -> None:
    """Show one rollout: policy, steps, every measurement and every decision."""
    with runtime() as rt, rt.transaction() as session:
        rollouts = RolloutRepository(session, _team(rt, session))
        rollout = rollouts.get(rollout_id)
        looked, decided = rollouts.measurements(rollout_id), rollouts.decisions(rollout_id)
    if json:
        print_json(
            {
                **rollout_json(rollout),
                "measurements_detail": [m.model_dump(mode="json") for m in looked],
                "decisions": [d.model_dump(mode="json") for d in decided],
            }
        )
        return
    say(
        f"rollout #{rollout.id} ({rollout.status}): {rollout.model} "
        f"v{rollout.version} on {rollout.endpoint} by {rollout.strategy}, {_step(rollout)}"
    )
    if rollout.outcome:
        say(f"outcome: {_plain(rollout.outcome)}")
    print_table("measurements", ["#", "step", "at", "baseline", "candidate", "verdict", "why"],
                [_measurement_cells(m) for m in looked])  # fmt: skip
    print_table("decisions", ["#", "step", "at", "decision", "by", "routes", "why"],
                [_decision_cells(d) for d in decided])  # fmt: skip


@app.command("pause")
def pause_cmd(rollout_id: RolloutId, actor: Actor, reason: Reason, json: JsonFlag = False) -> None:
    """Hold a progressing rollout at its step (its routes stay) until resumed or aborted."""
    from registry.rollouts.settle import pause_rollout

    _check(actor, reason)
    with runtime() as rt, rt.transaction() as session:
        rollout = pause_rollout(session, rt.require_team(session), rollout_id, actor=actor,
                                reason=reason)  # fmt: skip
    _done(rollout, json, "paused at")


@app.command("resume")
def resume_cmd(rollout_id: RolloutId, actor: Actor, reason: Reason, json: JsonFlag = False) -> None:
    """Continue a paused rollout at its step (its deadline counts again from now)."""
    from registry.rollouts.settle import resume_rollout

    _check(actor, reason)
    with runtime() as rt, rt.transaction() as session:
        rollout = resume_rollout(session, rt.require_team(session), rollout_id, actor=actor,
                                 reason=reason)  # fmt: skip
    _wake(rollout, "resume", actor, reason)
    _done(rollout, json, "resumed at")


@app.command("abort")
def abort_cmd(rollout_id: RolloutId, actor: Actor, reason: Reason, json: JsonFlag = False) -> None:
    """Roll back now: the routes from before, the endpoint released (the version's stage stays)."""
    from registry.rollouts.settle import abort_rollout  # loads scipy: only when aborting

    _check(actor, reason)
    with runtime() as rt, rt.transaction() as session:
        rollout = abort_rollout(session, rt.require_team(session), rollout_id, actor=actor,
                                reason=reason)  # fmt: skip
    _wake(rollout, "rollback", actor, reason)
    _done(rollout, json, "aborted at")


def _team(rt: Runtime, session: Session) -> Team:
    """The CLI's team; one not created yet has nothing to show (and is named as such)."""
    return rt.team(session) or Team(id=-1, name=rt.settings.team)


def _wake(rollout: Rollout, action: str, actor: str, reason: str) -> None:
    """A deploy run paused in Prefect for this rollout moves on (the database has the
    answer already); a run that is not paused there, or an API out of reach, is left be."""
    if rollout.flow_run_id is None:
        return
    from flows.rollout_form import RolloutAction, wake  # loads Prefect: only when needed

    try:
        wake(rollout.flow_run_id, RolloutAction(action), actor, reason)
    except Exception as exc:  # the change is made; telling the run is a courtesy
        say(f"note: could not reach the deploy run {rollout.flow_run_id} in Prefect "
            f"({type(exc).__name__}); it sees the change at its next look")  # fmt: skip


def rollout_json(rollout: Rollout) -> dict[str, object]:
    return {
        "id": rollout.id,
        "endpoint": rollout.endpoint,
        "environment": rollout.environment.value,
        "model": rollout.model,
        "version": rollout.version,
        "baseline_versions": rollout.baseline_versions,
        "strategy": rollout.strategy.value,
        "status": rollout.status.value,
        "step": rollout.step + 1,
        "steps": list(rollout.policy.steps),
        "weight": rollout.weight,
        "policy": rollout.policy.model_dump(mode="json"),
        "routes_before": [r.model_dump(mode="json") for r in rollout.routes_before],
        "outcome": rollout.outcome,
        "measurements": rollout.measurements,
        "approval_id": rollout.approval_id,
        "run_name": rollout.run_name,
        "flow_run_id": rollout.flow_run_id,
        "created_by": rollout.created_by,
        "created_at": rollout.created_at.isoformat(),
        "started_at": _iso(rollout.started_at),
        "finished_at": _iso(rollout.finished_at),
    }


def _done(rollout: Rollout, json: bool, what: str) -> None:
    if json:
        print_json(rollout_json(rollout))
        return
    say(f"rollout #{rollout.id} {what} {_step(rollout)}: now {rollout.status}")
    if rollout.outcome:
        say(_plain(rollout.outcome))


def _check(actor: str, reason: str) -> None:
    if not actor.strip() or not reason.strip():
        raise BadInput("--actor and --reason must not be empty")


def _status(value: str) -> RolloutStatus:
    try:
        return RolloutStatus(value.lower())
    except ValueError:
        allowed = ", ".join(s.value for s in RolloutStatus)
        raise BadInput(f"--status {value!r}: expected one of {allowed}") from None


def _step(rollout: Rollout) -> str:
    if rollout.strategy.value == "shadow":
        return f"mirroring {rollout.policy.shadow_percent}%"
    if rollout.status is RolloutStatus.SUCCEEDED:
        return "done (100%)"  # the last step's move to 100 is the promotion, not a judged step
    return f"step {rollout.step + 1}/{len(rollout.policy.steps)} ({rollout.weight}%)"


def _rate(arm: ArmSums) -> str:
    value = arm.error_rate
    return "-" if value is None else f"{value:.2%}"


def _measurement_cells(m: Measurement) -> tuple[str, ...]:
    return (
        str(m.number), str(m.step + 1), f"{m.at:%H:%M:%S}",
        f"{m.baseline.requests} req, {_rate(m.baseline)} err",
        f"{m.candidate.requests} req, {_rate(m.candidate)} err",
        m.verdict.value, _plain("; ".join(m.reasons)),
    )  # fmt: skip


def _decision_cells(d: Decision) -> tuple[str, ...]:
    routes = " ".join(f"v{r.version}={r.weight}" for r in d.routes)
    return (str(d.number), str(d.step + 1), f"{d.at:%H:%M:%S}", d.kind.value, _plain(d.actor),
            routes, _plain(d.reason))  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _plain(text: str) -> str:
    """Text from the database on one line (the output layer prints it as it is)."""
    return "".join(c if c.isprintable() else " " for c in text)
