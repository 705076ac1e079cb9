"""`modelops approvals …`: see promotions waiting for approval, answer them outside the UI
(proving who you are with a one-time code read from stdin), settle ones nobody can answer."""

from __future__ import annotations

import getpass
import sys
import time
from datetime import datetime
from typing import Annotated

import typer

from modelops.cli.arguments import INT32_MAX, single_line
from modelops.cli.context import runtime
from modelops.cli.errors import BadInput, CliError
from modelops.cli.output import print_json, print_table, say
from modelops.runtime import Runtime
from registry.approval_liveness import unanswerable_reason
from registry.approvals import ApprovalRepository
from registry.domain import Approval, ApprovalStatus
from registry.orm import utcnow

app = typer.Typer(
    help="Approvals: list and show them, approve or reject (resumes the waiting promote run), "
    "expire one whose run is gone."
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ApprovalId = Annotated[
    int,
    typer.Argument(help="Approval id (see `modelops approvals list`).", min=1, max=INT32_MAX),
]
Reviewer = Annotated[
    str,
    typer.Option(
        "--reviewer",
        help="Who answers (an enrolled approver of the policy).",
        callback=single_line(128),
    ),
]
Comment = Annotated[
    str, typer.Option("--comment", help="Why (kept in the ledger).", callback=single_line(2000))
]
Wait = Annotated[
    float,
    typer.Option(
        "--wait", help="Seconds to wait for the run to take the answer (0: don't).", min=0
    ),
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
    now = utcnow()
    print_table(
        "approvals" if all_ else "pending approvals",
        ["id", "model", "version", "to", "requester", "approvers", "status", "decisions",
         "refused", "expires", "answerable"],
        [
            (
                a.id, a.model, a.version, a.target_stage, a.requester, ", ".join(a.approvers),
                a.status, ", ".join(f"{d.reviewer}: {d.decision}" for d in a.decisions) or None,
                len(a.attempts) or None, a.expires_at, _answerable(a, now),
            )
            for a in approvals
        ],
    )  # fmt: skip


def _answerable(approval: Approval, now: datetime) -> str | None:
    if approval.status is not ApprovalStatus.PENDING:
        return None
    return "no (see `approvals show`)" if unanswerable_reason(approval, now) else "yes"


@app.command("show")
def show_cmd(approval_id: ApprovalId, json: JsonFlag = False) -> None:
    """Show one approval: decisions, refused answers (never codes), its waiting run."""
    with runtime() as rt, rt.transaction() as session:
        approval = ApprovalRepository(session, rt.require_team(session)).get(approval_id)
    if json:
        print_json(approval)
        return
    rule = f"{approval.min_approvals} of {', '.join(approval.approvers) or 'anyone'}"
    four_eyes = " (four eyes)" if approval.four_eyes else ""
    say(
        f"approval {approval.id}: {approval.model} v{approval.version} to "
        f"{approval.target_stage}, requested by {approval.requester}; needs {rule}{four_eyes}"
    )
    expires = f"{approval.expires_at:%Y-%m-%d %H:%M:%S} UTC" if approval.expires_at else "never"
    say(f"status {approval.status}; expires {expires}; flow run {approval.flow_run_id or '-'}")
    if approval.status is ApprovalStatus.PENDING:
        problem = unanswerable_reason(approval, utcnow())
        waiting = "its promote run is waiting for answers"
        say(f"cannot be answered: {problem}" if problem else waiting)
    print_table(
        "decisions",
        ["reviewer", "decision", "at", "comment"],
        [(d.reviewer, d.decision, d.at, d.comment or None) for d in approval.decisions],
    )
    print_table(
        "refused answers",
        ["who", "answer", "at", "why refused"],
        [(a.reviewer, a.decision, a.at, a.reason) for a in approval.attempts],
    )


@app.command("approve")
def approve_cmd(
    approval_id: ApprovalId, reviewer: Reviewer, comment: Comment = "", wait: Wait = 60
) -> None:
    """Approve: the one-time code is read from stdin; resumes the waiting promote run."""
    _answer(approval_id, approve=True, reviewer=reviewer, comment=comment, wait=wait)


@app.command("reject")
def reject_cmd(
    approval_id: ApprovalId, reviewer: Reviewer, comment: Comment = "", wait: Wait = 60
) -> None:
    """Reject: the one-time code is read from stdin; resumes the waiting promote run."""
    _answer(approval_id, approve=False, reviewer=reviewer, comment=comment, wait=wait)


def _answer(approval_id: int, *, approve: bool, reviewer: str, comment: str, wait: float) -> None:
    from flows.answers import NotWaitingError, answer  # Prefect's client: only when answering
    from registry.approval_service import ReviewAnswer

    review = ReviewAnswer(
        approve=approve, reviewer=reviewer.strip(), code=_read_code(reviewer), comment=comment
    )
    with runtime() as rt:
        approval = _approval(rt, approval_id)
        _check_answerable(approval)
        assert approval.flow_run_id is not None  # checked by _check_answerable
        try:
            answer(
                approval.flow_run_id,
                approve=approve,
                reviewer=review.reviewer,
                code=review.code,
                comment=comment,
            )
        except NotWaitingError as exc:
            message = f"{exc}; {_settle_hint(approval_id)}" if exc.finished else str(exc)
            raise CliError(message) from None
        verb = "approve" if approve else "reject"
        say(f"sent {review.reviewer}'s answer ({verb}) to approval {approval_id}")
        if wait > 0:
            _report_when_taken(rt, approval, review.reviewer, wait)


def _read_code(reviewer: str) -> str:
    """Six digits from stdin (a hidden prompt on a terminal): never an argument, which
    would land in shell history and process listings."""
    from registry.approvers.totp import CODE_PATTERN

    if sys.stdin.isatty():
        raw = getpass.getpass(f"one-time code of {reviewer} (from the authenticator app): ")
    else:
        raw = sys.stdin.readline(64)
    code = raw.strip()
    if not CODE_PATTERN.fullmatch(code):
        raise BadInput(
            "code: expected the six digits the authenticator app shows, on stdin "
            "(e.g. `echo 123456 | modelops approvals approve ID --reviewer NAME`)"
        )
    return code


def _approval(rt: Runtime, approval_id: int) -> Approval:
    with rt.transaction() as session:
        return ApprovalRepository(session, rt.require_team(session)).get(approval_id)


def _check_answerable(approval: Approval) -> None:
    if approval.status is not ApprovalStatus.PENDING:
        raise CliError(f"approval {approval.id} is already {approval.status}; nothing to answer")
    problem = unanswerable_reason(approval, utcnow())
    if problem is not None:
        raise CliError(
            f"approval {approval.id} cannot be answered: {problem}; {_settle_hint(approval.id)}"
        )
    if approval.flow_run_id is None:
        raise CliError(
            f"approval {approval.id} has no promote run to resume; {_settle_hint(approval.id)}"
        )


def _settle_hint(approval_id: int) -> str:
    return f"settle it with `modelops approvals expire {approval_id}`"


def _report_when_taken(rt: Runtime, before: Approval, reviewer: str, wait: float) -> None:
    """Wait until the run recorded the answer, as a decision or a refusal, and say which."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        current = _approval(rt, before.id)
        refused = [a for a in current.attempts[len(before.attempts) :] if a.reviewer == reviewer]
        if refused:
            raise BadInput(f"answer refused: {refused[-1].reason}")
        if any(d.reviewer == reviewer for d in current.decisions):
            say(f"approval {current.id} is {current.status}")
            return
        time.sleep(0.5)  # the run polls the API for its input; nothing to block on here
    raise CliError(
        f"the promote run has not taken the answer within {wait:g} s; "
        f"check `modelops approvals show {before.id}` (flow run {before.flow_run_id})"
    )


@app.command("expire")
def expire_cmd(
    approval_id: ApprovalId,
    force: Annotated[
        bool, typer.Option("--force", help="Expire even though its run still looks alive.")
    ] = False,
) -> None:
    """Settle a pending approval nobody can answer (its run died, or its time ran out)."""
    from registry.approval_service import expire

    with runtime() as rt:
        approval = _approval(rt, approval_id)
        if approval.status is not ApprovalStatus.PENDING:
            raise CliError(
                f"approval {approval_id} is already {approval.status}; nothing to expire"
            )
        problem = unanswerable_reason(approval, utcnow())
        if problem is None and not force:
            raise CliError(
                f"approval {approval_id} is still awaited by a live promote run; answer it with "
                "`modelops approvals approve|reject`, or pass --force"
            )
        with rt.transaction() as session:
            expire(session, rt.require_team(session), approval_id)
    say(f"approval {approval_id} expired ({problem or 'forced'}); nothing was promoted")
    if approval.flow_run_id:
        _cancel_run(approval.flow_run_id, approval_id)


def _cancel_run(flow_run_id: str, approval_id: int) -> None:
    from flows.answers import cancel_paused_run

    try:
        state = cancel_paused_run(flow_run_id, f"approval {approval_id} expired: its run was gone")
    except Exception as exc:  # the approval is settled; Prefect's side is tidying only
        say(f"flow run {flow_run_id} left as it is (Prefect: {type(exc).__name__})")
        return
    if state is not None and state.value == "PAUSED":
        say(f"flow run {flow_run_id} cancelled in Prefect")
