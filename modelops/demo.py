"""The demo: the whole lifecycle on the embedded defaults, narrated step by step.

It runs on a fresh SQLite database under `$MODELOPS_DATA_DIR/demo` with the local
provider (real scikit-learn training), and on Prefect's ephemeral API unless
PREFECT_API_URL names a server. It enrols two approvers, plays their authenticator
apps (computing their one-time codes from the enrolled secrets) and answers its own
approvals through the Prefect API, as a reviewer would in the UI, and says so.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from flows.answers import answer, flow_run_state
from flows.evaluate import EvaluateOutcome, evaluate
from flows.fine_tune import FineTuneOutcome, fine_tune
from flows.params import (
    EvaluateParams,
    FineTuneParams,
    PromoteParams,
    RegisterModelParams,
    TrainingSettings,
)
from flows.promote import PromoteOutcome, promote
from flows.register_model import register_model
from modelops import demo_live, demo_usage
from modelops.cli.models_cmd import print_ledger
from modelops.cli.output import say_markup
from modelops.demo_gateway import (
    AFTER_ROLLBACK,
    CHATS,
    INVOKED,
    DemoGateway,
    chat_tickets,
    demo_gateway,
    invoke_tickets,
    report,
    show_dashboard,
    tickets,
    wait_for_version,
)
from modelops.prefect_env import prepare_prefect
from modelops.runtime import Runtime, open_runtime
from modelops.settings import Settings
from registry.approvals import ApprovalRepository
from registry.approvers.repository import ApproverRepository
from registry.approvers.totp import code_at
from registry.domain import Approval, ApprovalStatus
from registry.keys.crypto import MasterKeyring, new_master_key
from registry.ledger import LedgerRepository
from registry.lifecycle import RollbackRequest, rollback
from registry.model_repository import ModelRepository
from registry.schema import upgrade

MODEL = "support-intent"
REQUESTER = "demo-requester"
APPROVERS = ("alice", "bob")  # as the shipped catalog's production policy names them


def prepare(data_root: Path) -> Settings:
    """A fresh demo data dir and database; the flows read these settings."""
    demo_dir = data_root / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    demo_dir.mkdir(parents=True)
    demo_live.prepare_catalog(demo_dir)  # the shipped catalog, plus the generation model
    os.environ["MODELOPS_DATA_DIR"] = str(demo_dir)
    os.environ["MODELOPS_TEAM"] = "default"
    os.environ.pop("MODELOPS_DATABASE_URL", None)  # the demo never touches a real database
    # No telemetry, no tracebacks on the terminal, an ephemeral API that dies with the demo.
    prepare_prefect(start_api=True)
    # Approvers' TOTP secrets are sealed under the master key; without one, a throwaway key
    # lives only in this process (the demo database is rebuilt on every run).
    if not os.environ.get("MODELOPS_MASTER_KEY"):
        os.environ["MODELOPS_MASTER_KEY"] = new_master_key()
    logging.getLogger("prefect").setLevel(logging.WARNING)
    return Settings()


def run_demo(data_root: Path, *, serve: bool = False) -> None:
    settings = prepare(data_root)
    rt = open_runtime(settings, check_schema=False, create=True)
    before, after = upgrade(rt.engine)
    say_markup(f"[bold]modelops demo[/bold]: SQLite at {settings.resolved_database_url}")
    say_markup(f"1. schema migrated {before or 'empty'} -> {after}")
    try:
        _lifecycle(rt)
        show_dashboard(rt, serve=serve, step="17.")
    finally:
        rt.close()
    command = ".venv/bin/modelops" if Path(".venv/bin/modelops").exists() else "modelops"
    explore = f"MODELOPS_DATA_DIR={settings.data_dir} {command} models history {MODEL}"
    say_markup(f"\nexplore it: {explore}")


def _lifecycle(rt: Runtime) -> None:
    registered = asyncio.run(register_model(RegisterModelParams(model=MODEL, actor="demo")))
    say_markup(
        f"2. register-model: catalog synced; {MODEL} v{registered.version} = "
        f"{registered.provider_model_id}, trained on the bootstrap set, now {registered.stage}"
    )
    _report_evaluation("3.", registered.version, _evaluate(registered.version))
    tuned = _fine_tune("4.", TrainingSettings(seed=0))
    _report_evaluation("5.", tuned.version, _evaluate(tuned.version))
    apps = _enrol_approvers(rt)
    _promote("  ", tuned.version, reviewer="alice", app=apps["alice"])
    challenger = _fine_tune("7.", TrainingSettings(seed=7, n_epochs=8))
    scored = _evaluate(challenger.version)
    _report_evaluation("8.", challenger.version, scored)
    if not scored.passed:
        say_markup("   the challenger did not pass its gates, so production stays as it is")
        _print_ledger(rt)
        return
    with demo_live.live_gateway(rt) as live:
        demo_live.alert_burst(live, step="9.")
        demo_live.ab_test(live, step="10.")
        demo_live.generation_job(live, step="11.")
    _promote("12.", challenger.version, reviewer="bob", app=apps["bob"])
    with demo_gateway(rt, MODEL) as gw:
        _traffic(gw, challenger.version)
        between = datetime.now(UTC)
        with rt.transaction() as session:
            result = rollback(
                session,
                rt.require_team(session),
                RollbackRequest(model=MODEL, actor="demo", reason="demo: roll back the challenger"),
            )
        restored = result.version.version
        say_markup(f"13. rollback: v{result.replaced} taken down, v{restored} restored")
        _traffic_after_rollback(gw, result.version.version)
    say_markup("14. what the gateway recorded, per version:")
    report(rt, gw)
    _print_ledger(rt, between)
    _rollouts(rt, "15.")
    demo_usage.run(rt, MODEL, result.version.version, "16.")


def _rollouts(rt: Runtime, step: str) -> None:
    from modelops import demo_rollouts  # the deploy flow: loaded for this step only

    with rt.transaction() as session:
        team = rt.require_team(session)
    demo_rollouts.run(rt.sessions, team, rt.settings, step=step)


def _traffic(gw: DemoGateway, version: int) -> None:
    batch = tickets()
    right, _ = invoke_tickets(gw, batch[:INVOKED])
    say_markup(
        f"   gateway on {gw.url}: endpoint {gw.endpoint!r} serves v{version}; {INVOKED} "
        f"tickets through POST /v1/endpoints/{gw.endpoint}/invoke, {right} classified as a "
        "person had"
    )
    answers = chat_tickets(gw, batch[INVOKED : INVOKED + CHATS])
    say_markup(
        f"   the official openai client, base_url {gw.url}/v1: {len(answers)} chat "
        f"completions (e.g. {answers[0]!r})"
    )


def _traffic_after_rollback(gw: DemoGateway, version: int) -> None:
    wait_for_version(gw, version)
    batch = tickets()[INVOKED + CHATS : INVOKED + CHATS + AFTER_ROLLBACK]
    right, _ = invoke_tickets(gw, batch)
    say_markup(
        f"   the endpoint followed the rollback: {len(batch)} more tickets served by "
        f"v{version}, {right} classified as a person had"
    )


def _fine_tune(step: str, training: TrainingSettings) -> FineTuneOutcome:
    params = FineTuneParams(model=MODEL, training=training, actor="demo", poll_seconds=0.5)
    tuned = asyncio.run(fine_tune(params))
    say_markup(
        f"{step} fine-tune: v{tuned.version} from v{tuned.parent_version} on {tuned.examples} "
        f"examples (sha256 {tuned.dataset_sha256[:12]}), job {tuned.fine_tune_job_id}, "
        f"now {tuned.stage}"
    )
    return tuned


def _evaluate(version: int) -> EvaluateOutcome:
    return asyncio.run(evaluate(EvaluateParams(model=MODEL, version=version, actor="demo")))


def _report_evaluation(step: str, version: int, scored: EvaluateOutcome) -> None:
    say_markup(
        f"{step} evaluate v{version}: accuracy {scored.accuracy:.3f} "
        f"[{scored.accuracy_low:.3f}, {scored.accuracy_high:.3f}] on {scored.examples} "
        f"examples, p95 {scored.latency_p95_ms:.1f} ms; {scored.versus_champion}; "
        f"now {scored.stage}"
    )
    for failure in scored.gate_failures:
        say_markup(f"   gate failed: {failure}")


def _enrol_approvers(rt: Runtime) -> dict[str, SecretStr]:
    """Enrol the policy's approvers; their secrets stay in memory, standing in for the
    authenticator apps that would have scanned the otpauth URIs."""
    ring = MasterKeyring.from_setting(rt.settings.master_key)
    with rt.transaction() as session:
        approvers = ApproverRepository(session, rt.require_team(session), ring)
        apps = {name: approvers.enroll(name).secret for name in APPROVERS}
    say_markup(
        f"6. approvers {' and '.join(APPROVERS)} enrolled: each got a TOTP secret (RFC 6238), "
        "stored sealed under the master key; the demo plays their authenticator apps, "
        "computing each code from the secret as the app would"
    )
    return apps


def _promote(step: str, version: int, *, reviewer: str, app: SecretStr) -> PromoteOutcome:
    """Run promote in a thread; answer its approval through the Prefect API meanwhile."""
    params = PromoteParams(model=MODEL, version=version, requester=REQUESTER, reason="demo")
    box: dict[str, PromoteOutcome | BaseException] = {}
    runner = threading.Thread(
        target=contextvars.copy_context().run, args=(_capture, box, lambda: promote(params))
    )
    runner.start()
    approval = _wait_for(lambda: _paused_approval(version), what="the approval to open")
    say_markup(
        f"{step} promote v{version}: approval #{approval.id} needs one of "
        f"{', '.join(approval.approvers)} (four eyes: not {approval.requester}); "
        f"the run is paused in Prefect"
    )
    code = code_at(app.get_secret_value(), time.time())
    say_markup(
        f"   {reviewer}'s authenticator app shows a six-digit code (computed by the demo); "
        f"answering as {reviewer} through the Prefect API, as the UI's Resume form does"
    )
    answer(
        approval.flow_run_id or "",
        approve=True,
        reviewer=reviewer,
        code=code,
        comment=f"demo approval by {reviewer}",
    )
    runner.join()
    outcome = box["result"]
    if isinstance(outcome, BaseException):
        raise outcome
    replaced = f"; v{outcome.replaced} archived" if outcome.replaced else ""
    approvers = ", ".join(outcome.approved_by)
    say_markup(f"   v{version} is now {outcome.stage} (approved by {approvers}){replaced}")
    return outcome


def _capture(box: dict[str, PromoteOutcome | BaseException], call: Callable[[], object]) -> None:
    try:
        box["result"] = asyncio.run(call())  # type: ignore[arg-type]
    except BaseException as exc:  # handed to the main thread, which re-raises it
        box["result"] = exc


def _paused_approval(version: int) -> Approval | None:
    from tasks.context import unit_of_work

    with unit_of_work() as (session, team):
        pending = ApprovalRepository(session, team).all(status=ApprovalStatus.PENDING)
    for approval in pending:
        if approval.version == version and approval.flow_run_id:
            state = flow_run_state(approval.flow_run_id)
            if state is not None and state.value == "PAUSED":
                return approval
    return None


def _wait_for(
    condition: Callable[[], Approval | None], *, what: str, timeout: float = 300
) -> Approval:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found is not None:
            return found
        time.sleep(0.5)  # the flow runs in another thread; its pause is only visible via the API
    raise TimeoutError(f"demo: timed out waiting for {what}")


def _print_ledger(rt: Runtime, between: datetime | None = None) -> None:
    with rt.transaction() as session:
        team = rt.require_team(session)
        model = ModelRepository(session, team).row(MODEL)
        ledger = LedgerRepository(session, team)
        entries = ledger.history(model)
        then = ledger.production_at(model, between) if between else None
    say_markup("")
    print_ledger(MODEL, entries)
    if between is not None:
        say_markup(f"production just before the rollback ({between:%H:%M:%S} UTC): v{then}")
