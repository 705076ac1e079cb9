"""`modelops approvals …`: see pending promotions and answer them outside the UI."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from modelops.cli.arguments import INT32_MAX, single_line
from modelops.cli.context import runtime
from modelops.cli.errors import BadInput, CliError
from modelops.cli.output import print_json, print_table, say
from modelops.runtime import Runtime
from registry.approval_service import ReviewAnswer, refusal_reason
from registry.approvals import ApprovalRepository
from registry.domain import Approval, ApprovalStatus

app = typer.Typer(help="Approvals: list them, approve or reject (resumes the waiting promote run).")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ApprovalId = Annotated[
    int,
    typer.Argument(help="Approval id (see `modelops approvals list`).", min=1, max=INT32_MAX),
]
Reviewer = Annotated[
    str, typer.Option("--reviewer", help="Who answers (an approver).", callback=single_line(128))
]
Comment = Annotated[
    str, typer.Option("--comment", help="Why (kept with the decision).", callback=single_line(4000))
]
Wait = Annotated[
    float,
    typer.Option("--wait", help="Seconds to wait for the flow to take the answer (0: don't)."),
]


@app.command("list")
def list_cmd(
    json: JsonFlag = False,
    all_: Annotated[bool, typer.Option("--all", help="Include settled approvals.")] = False,
) -> None:
    """List the team's approvals (pending ones unless --all)."""
    with runtime() as rt, rt.transaction() as session:
        team = rt.team(session)
        status = None if all_ else ApprovalStatus.PENDING
        approvals = ApprovalRepository(session, team).all(status=status) if team else []
    if json:
        print_json(approvals)
        return
    print_table(
        "approvals" if all_ else "pending approvals",
        ["id", "model", "version", "to", "requester", "approvers", "status", "decisions", "run"],
        [
            (
                a.id, a.model, a.version, a.target_stage, a.requester, ", ".join(a.approvers),
                a.status, ", ".join(f"{d.reviewer}: {d.decision}" for d in a.decisions) or None,
                a.flow_run_id,
            )
            for a in approvals
        ],
    )  # fmt: skip


@app.command("approve")
def approve_cmd(
    approval_id: ApprovalId, reviewer: Reviewer, comment: Comment = "", wait: Wait = 60
) -> None:
    """Approve: resume the waiting promote run with your answer."""
    _answer(approval_id, approve=True, reviewer=reviewer, comment=comment, wait=wait)


@app.command("reject")
def reject_cmd(
    approval_id: ApprovalId, reviewer: Reviewer, comment: Comment = "", wait: Wait = 60
) -> None:
    """Reject: resume the waiting promote run with your answer."""
    _answer(approval_id, approve=False, reviewer=reviewer, comment=comment, wait=wait)


def _answer(approval_id: int, *, approve: bool, reviewer: str, comment: str, wait: float) -> None:
    from flows.answers import NotWaitingError, answer  # Prefect's client: only when answering

    review = ReviewAnswer(approve=approve, reviewer=reviewer, comment=comment)
    with runtime() as rt:
        with rt.transaction() as session:
            approval = ApprovalRepository(session, rt.require_team(session)).get(approval_id)
        # The flow would refuse these too; saying so here spares a round trip.
        refusal = refusal_reason(approval, review)
        if refusal is not None:
            raise BadInput(refusal)
        if approval.flow_run_id is None:
            raise CliError(f"approval {approval_id} has no waiting flow run to resume")
        try:
            answer(approval.flow_run_id, approve=approve, reviewer=reviewer, comment=comment)
        except NotWaitingError as exc:
            raise CliError(str(exc)) from None
        say(f"answered approval {approval_id} as {reviewer}: {'approve' if approve else 'reject'}")
        if wait > 0:
            _report_when_taken(rt, approval, reviewer, wait)


def _report_when_taken(rt: Runtime, approval: Approval, reviewer: str, wait: float) -> None:
    """Wait until the flow recorded the answer, then say what it did."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with rt.transaction() as session:
            current = ApprovalRepository(session, rt.require_team(session)).get(approval.id)
        if any(d.reviewer == reviewer for d in current.decisions):
            say(f"approval {approval.id} is {current.status}")
            return
        time.sleep(0.5)  # the flow polls the API for its input; nothing to block on here
    say(
        "the flow has not taken the answer yet; check `modelops approvals list` "
        f"(flow run {approval.flow_run_id})"
    )
