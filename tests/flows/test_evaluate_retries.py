"""The evaluate flow's provider faults: retried by Prefect only when a retry can help."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import State

from adapters.base import Credential
from adapters.errors import ModelUnavailableError
from adapters.jobs import FilePurpose, FineTuneRequest
from adapters.local.adapter import LocalAdapter
from flows import evaluate as evaluate_module
from flows.evaluate import evaluate
from flows.params import EvaluateParams
from registry.database import make_engine, make_session_factory
from registry.evaluations import EvaluationRow
from registry.lifecycle import NewVersion, register_version
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tasks.evaluation import run_examples
from tasks.evaluation_run import NothingAnsweredError
from tests.registry.seed import advance, seed_model
from tests.support.prefect_server import PrefectServer

DATA = Path(__file__).resolve().parents[2] / "examples" / "support_tickets"
MODEL = "support-intent"


@pytest.fixture
def setup(
    registry_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[object, object, Path]]:
    monkeypatch.setenv("MODELOPS_MASTER_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    # Same task, same retry condition; only the wait between attempts is cut for the test.
    monkeypatch.setattr(
        evaluate_module, "run_examples", run_examples.with_options(retry_delay_seconds=0)
    )
    engine = make_engine(registry_env)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_model(
            session, "default", name=MODEL, policy={"staging": {"gates": {"min_accuracy": 0.5}}}
        )
    yield sessions, team, tmp_path / "data"
    engine.dispose()


def _add(sessions, team, provider_model_id: str) -> int:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        version = register_version(
            session, team, NewVersion(model=MODEL, provider_model_id=provider_model_id, actor="t")
        ).version
        advance(session, team, version, Stage.TESTING, model=MODEL)
    return version


def _train_and_corrupt(data_dir: Path) -> str:
    async def train() -> str:
        adapter = LocalAdapter(data_dir)
        uploaded = await adapter.upload_file(
            Credential(), DATA / "base.jsonl", FilePurpose.FINE_TUNE
        )
        request = FineTuneRequest(
            model="tfidf-logreg", training_file=uploaded.id, seed=1, idempotency_key="retry-test"
        )
        job = await adapter.wait_for_fine_tune(
            (await adapter.create_fine_tune(Credential(), request)).id
        )
        assert job.trained_model_id
        # The artifact no longer matches its sha256: every load is a (retryable) ModelUnavailableError.
        adapter.artifact_path(job.trained_model_id).write_bytes(b"not a model")
        return job.trained_model_id

    return asyncio.run(train())


def _run_counts(state: State) -> dict[str, int]:
    flow_run_id = state.state_details.flow_run_id
    assert isinstance(flow_run_id, UUID)
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {run.name: run.run_count for run in runs}


def _stored_and_stage(sessions, team, version: int) -> tuple[int, Stage]:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        stored = session.query(EvaluationRow).count()
        return stored, ModelRepository(session, team).version(MODEL, version).stage


def test_a_retryable_provider_fault_is_retried_by_prefect_then_fails_the_run_storing_nothing(
    prefect_api: PrefectServer, setup
) -> None:  # type: ignore[no-untyped-def]
    sessions, team, data_dir = setup
    version = _add(sessions, team, _train_and_corrupt(data_dir))

    state = asyncio.run(evaluate(EvaluateParams(model=MODEL, version=version), return_state=True))

    assert state.is_failed()
    with pytest.raises(ModelUnavailableError, match="does not match its recorded sha256"):
        state.result()
    assert _run_counts(state)[f"run-{MODEL}-v{version}"] == 3  # the first try and 2 retries
    assert _stored_and_stage(sessions, team, version) == (0, Stage.TESTING)


def test_a_version_that_answers_no_example_fails_at_once_without_retries(
    prefect_api: PrefectServer, setup
) -> None:  # type: ignore[no-untyped-def]
    sessions, team, _ = setup
    version = _add(sessions, team, "tfidf-logreg")  # the untrained base: every request is refused

    state = asyncio.run(evaluate(EvaluateParams(model=MODEL, version=version), return_state=True))

    assert state.is_failed()
    with pytest.raises(
        NothingAnsweredError, match=r"every one of the 640 examples failed, e\.g\. BadRequestError"
    ):
        state.result()
    assert _run_counts(state)[f"run-{MODEL}-v{version}"] == 1
    assert _stored_and_stage(sessions, team, version) == (0, Stage.TESTING)
