"""Answering a paused approval through the Prefect API, exactly as the UI form does, and
settling the Prefect side of a run that can no longer be answered."""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import TERMINAL_STATES, StateType
from prefect.flow_runs import resume_flow_run
from prefect.states import Cancelled

from flows.review_form import Decision, ReviewForm


class NotWaitingError(Exception):
    """The approval's flow run is not paused, so there is nothing to answer."""

    def __init__(self, message: str, *, state: StateType | None) -> None:
        super().__init__(message)
        self.state = state

    @property
    def finished(self) -> bool:
        """The run has ended: it will never take an answer."""
        return self.state is None or self.state in TERMINAL_STATES


def flow_run_state(flow_run_id: str) -> StateType | None:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(flow_run_id)).state
    return state.type if state else None


def answer(flow_run_id: str, *, approve: bool, reviewer: str, code: str, comment: str) -> None:
    """Resume the paused promote run with the same input the UI form sends.

    The one-time code travels in the run input: the run uses it up when it reads it, so
    the stored input holds only a spent code.
    """
    state = flow_run_state(flow_run_id)
    if state is not StateType.PAUSED:
        raise NotWaitingError(
            f"flow run {flow_run_id} is {state.value.lower() if state else 'unknown'}, "
            "not paused waiting for an answer",
            state=state,
        )
    form = ReviewForm(
        decision=Decision.APPROVE if approve else Decision.REJECT,
        reviewer=reviewer,
        code=code,
        comment=comment,
    )
    resume_flow_run(UUID(flow_run_id), run_input=form.model_dump(mode="json"))


def cancel_paused_run(flow_run_id: str, message: str) -> StateType | None:
    """Cancel a run left paused by a dead process; returns the state it was in."""
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(flow_run_id))
        state = run.state.type if run.state else None
        if state is StateType.PAUSED:
            client.set_flow_run_state(UUID(flow_run_id), Cancelled(message=message), force=True)
    return state
