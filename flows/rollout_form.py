"""The form a paused rollout shows in the Prefect UI (with its evidence above it), and how
an answer, there or from `modelops rollouts resume|abort`, reaches the waiting run."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from prefect.input import RunInput
from pydantic import Field

from registry.rollouts.domain import Measurement, Rollout
from tasks.rollout_markdown import measurement_markdown


class RolloutAction(StrEnum):
    RESUME = "resume"
    ROLLBACK = "rollback"


class RolloutAnswer(RunInput):
    """Resume the rollout at its step, or roll it back now; who and why go in the ledger."""

    action: RolloutAction = Field(description="Resume at this step, or roll back now.")
    actor: str = Field(min_length=1, max_length=128, description="Your name.")
    reason: str = Field(min_length=1, max_length=2000, description="Why (kept in the ledger).")


def paused_markdown(rollout: Rollout, looked: list[Measurement]) -> str:
    lines = [
        f"# Rollout #{rollout.id} is paused: {rollout.model} v{rollout.version} on "
        f"`{rollout.endpoint}`, step {rollout.step + 1} ({rollout.weight}%)",
        "",
        rollout.outcome,
        "",
        "Resume to keep collecting at this step (its deadline counts again from now), or "
        "roll back to restore the routes from before.",
    ]
    if looked:
        lines += ["", measurement_markdown(looked[-1])]
    return "\n".join(lines)


def wake(flow_run_id: str, action: RolloutAction, actor: str, reason: str) -> bool:
    """Resume the deploy run paused in Prefect for this rollout (the answer already applied
    in the database, the run only moves on); False when it is not paused there."""
    from prefect.client.schemas.objects import StateType
    from prefect.flow_runs import resume_flow_run

    from flows.answers import flow_run_state

    if flow_run_state(flow_run_id) is not StateType.PAUSED:
        return False
    answer = RolloutAnswer(action=action, actor=actor, reason=reason)
    resume_flow_run(UUID(flow_run_id), run_input=answer.model_dump(mode="json"))
    return True
