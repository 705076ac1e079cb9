"""`modelops run … --wait` against a real server and a process worker: it follows the deployment
run to its end, prints each state it enters, and exits by the final state."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType

from registry.database import make_engine, make_session_factory
from registry.evaluations import EvaluationRepository
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tests.cli.conftest import Cli, Result
from tests.flows.conftest import wait_until
from tests.flows.finetune_support import CATALOG
from tests.flows.test_promote import POLICY, _summary
from tests.flows.test_promote_deployment import worker
from tests.registry.seed import add_version, advance, seed_model
from tests.support.prefect_server import PrefectServer
from tests.support.terminal import terminal

__all__ = ["terminal", "worker"]

pytestmark = pytest.mark.slow

STATE_LINE = re.compile(r"^  \d\d:\d\d:\d\d (\w+)")


def _states(result: Result) -> list[str]:
    return [m[1] for line in result.out.splitlines() if (m := STATE_LINE.match(line))]


def _final_state(run_id: UUID) -> StateType | None:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    return state.type if state is not None and state.is_final() else None


def test_wait_follows_a_run_to_completion_and_exits_0(
    prefect_api: PrefectServer, worker: None, terminal: None, cli: Cli
) -> None:
    result = cli("run", "register-model", "-p", "model=support-intent", "--wait")

    assert result.code == 0, result.err
    assert "Traceback" not in result.out + result.err
    assert result.out.startswith("following register-model/register-model run ")
    states = _states(result)
    assert states[-1] == "Completed" and "Running" in states, result.out
    assert states.index("Running") < states.index("Completed")
    assert len(states) == len(set(states)), "each state is printed once"
    # Its return value stays on the worker; what it published (here by its fine-tune subflow)
    # is listed instead.
    tail = result.out.split("register-model run register-model-support-intent completed")[1]
    assert tail.startswith(
        "; it published:\n  table fine-tune-support-intent-events: Fine-tune job"
    )
    assert f"details: prefect flow-run inspect {_run_id(result)}" in tail


def _run_id(result: Result) -> str:
    found = re.search(r"run \S+ \(([0-9a-f-]{36})\)", result.out)
    assert found, result.out
    return found[1]


def test_wait_on_a_run_failing_for_bad_data_exits_2_with_one_line(
    prefect_api: PrefectServer, pg_url: str, worker: None, terminal: None, cli: Cli, tmp_path: Path
) -> None:
    synced = cli(
        "catalog",
        "sync",
        env={"MODELOPS_DATABASE_URL": pg_url, "MODELOPS_CATALOG_DIR": str(CATALOG)},
    )
    assert synced.code == 0, synced.err
    missing = tmp_path / "nope.jsonl"
    result = cli(
        "run", "fine-tune", "-p", "model=support-intent", "-p", f"dataset={missing}", "--wait"
    )

    assert result.code == 2, result.out + result.err
    assert "Traceback" not in result.out + result.err
    assert _states(result)[-1] == "Failed"
    (line,) = result.err.splitlines()
    found = re.match(
        r"error: fine-tune run '(fine-tune-support-intent)' ended Failed: DatasetError: training "
        rf"dataset not found: {re.escape(str(missing))} .*\(flow run ([0-9a-f-]+); its logs: ",
        line,
    )
    assert found, line
    assert _final_state(UUID(found[2])) is StateType.FAILED


def test_wait_on_a_refused_promotion_exits_1(
    prefect_api: PrefectServer, pg_url: str, worker: None, terminal: None, cli: Cli
) -> None:
    engine = make_engine(pg_url)
    with make_session_factory(engine).begin() as session:
        team = seed_model(session, "default", policy=POLICY)
        advance(session, team, add_version(session, team), Stage.STAGING)
        row = ModelRepository(session, team).version_row("support-intent", 1)
        EvaluationRepository(session, team).record(
            (row.model_id, row.id, None), _summary(0.70), [], None
        )
    engine.dispose()
    result = cli(
        "run", "promote", "-p", "model=support-intent", "-p", "version=1",
        "-p", "requester=carol", "--wait",
    )  # fmt: skip

    assert result.code == 1, result.out + result.err
    (line,) = result.err.splitlines()
    assert "ended Failed: PromotionRefused: gates for production failed: accuracy 0.700" in line


def test_without_wait_it_says_which_run_and_how_to_follow_it(
    prefect_api: PrefectServer, worker: None, terminal: None, cli: Cli, tmp_path: Path
) -> None:
    result = cli("run", "fine-tune", "-p", "model=support-intent", "-p", f"dataset={tmp_path}")

    assert result.code == 0, result.err
    found = re.match(
        r"scheduled fine-tune/fine-tune as flow run (\S+) \(([0-9a-f-]+)\) for a worker on its "
        r"pool; follow it with `prefect flow-run watch \2` or in the Prefect UI at (\S+), or "
        r"run again with --wait$",
        result.out.strip(),
    )
    assert found, result.out
    assert found[3].endswith(f"/runs/flow-run/{found[2]}")
    # The worker runs it meanwhile; it fails (a directory is no dataset) and the test is clean.
    run_id = UUID(found[2])
    assert wait_until(lambda: _final_state(run_id), timeout=180, what="the run to end") is (
        StateType.FAILED
    )
