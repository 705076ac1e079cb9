"""`modelops run --here`: a failed run is one line naming the run, exit 2 for bad input, 1 else.

Each case goes through the real CLI (`main()`), runs the real flow in this process against the
Prefect server, and reads what a terminal would show: Prefect's own terminal handlers write
to this test's captured stderr.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType

from registry.database import make_engine, make_session_factory
from registry.evaluations import EvaluationRepository
from registry.keys import MasterKeyring
from registry.keys.repository import KeyRepository
from registry.model_repository import ModelRepository
from registry.stages import Stage
from registry.teams import TeamRepository
from tasks import context
from tasks.catalog import sync_catalog
from tests.cli.conftest import Cli, Result
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.flows.finetune_support import CATALOG, DATA, Env, flow_env
from tests.flows.test_promote import POLICY, _summary
from tests.registry.seed import add_version, advance, seed_model
from tests.support.prefect_server import PrefectServer
from tests.support.terminal import terminal

__all__ = ["flow_env", "terminal"]

KEY = "sk-only-00000000000"
RUN_ID = re.compile(r"\(flow run ([0-9a-f-]{36}); its logs: prefect flow-run logs \1\)$")


@pytest.fixture
def synced(prefect_api: PrefectServer, flow_env: Env, terminal: None) -> Env:
    sync_catalog.fn()
    return flow_env


def _one_failure_line(result: Result) -> tuple[str, UUID]:
    """The single error line, and the id of the run it names (which the server has, failed)."""
    assert "Traceback" not in result.err + result.out
    assert "| ERROR" not in result.err  # Prefect's failure reports stay in the run's logs
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.err
    found = RUN_ID.search(errors[0])
    assert found, errors[0]
    run_id = UUID(found[1])
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    assert state is not None and state.type is StateType.FAILED
    return errors[0], run_id


def _fine_tune(cli: Cli, dataset: Path | str, model: str = "support-intent") -> Result:
    return cli("run", "fine-tune", "--here", "-p", f"model={model}", "-p", f"dataset={dataset}")


def test_a_missing_training_dataset_is_bad_input(synced: Env, cli: Cli, tmp_path: Path) -> None:
    result = _fine_tune(cli, tmp_path / "nope.jsonl")
    line, _ = _one_failure_line(result)
    assert result.code == 2
    assert line.startswith(
        f"error: fine-tune run 'fine-tune-support-intent' ended Failed: DatasetError: "
        f"training dataset not found: {tmp_path / 'nope.jsonl'}"
    )


def test_a_training_dataset_that_is_not_json_is_bad_input(
    synced: Env, cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "notes.jsonl").write_text("these are notes, not JSON\n")
    result = _fine_tune(cli, tmp_path / "notes.jsonl")
    line, _ = _one_failure_line(result)
    assert result.code == 2
    assert "DatasetError: training dataset" in line and "line 1" in line


def test_a_directory_as_dataset_is_bad_input(synced: Env, cli: Cli, tmp_path: Path) -> None:
    result = _fine_tune(cli, tmp_path)
    line, _ = _one_failure_line(result)
    assert result.code == 2
    assert f"training dataset {tmp_path} cannot be read: [Errno 21] Is a directory" in line


def test_a_missing_eval_dataset_is_bad_input(synced: Env, cli: Cli, tmp_path: Path) -> None:
    result = cli(
        "run", "evaluate", "--here", "-p", "model=support-intent", "-p", "version=1",
        "-p", f"dataset={tmp_path / 'eval.jsonl'}",
    )  # fmt: skip
    line, _ = _one_failure_line(result)
    assert result.code == 2
    assert f"EvalDatasetError: eval dataset not found: {tmp_path / 'eval.jsonl'}" in line


def test_an_unknown_model_is_bad_input(synced: Env, cli: Cli) -> None:
    result = _fine_tune(cli, DATA / "train.jsonl", model="no-such-model")
    line, _ = _one_failure_line(result)
    assert result.code == 2
    assert "NotFoundError: no model 'no-such-model'" in line


def test_an_unknown_version_is_bad_input(synced: Env, cli: Cli) -> None:
    result = cli(
        "run", "evaluate", "--here", "-p", "model=support-intent", "-p", "version=99",
        "-p", f"dataset={DATA / 'eval.jsonl'}",
    )  # fmt: skip
    line, _ = _one_failure_line(result)
    assert result.code == 2
    assert "NotFoundError" in line and "99" in line


def test_a_refused_promotion_is_a_failure_not_bad_input(
    prefect_api: PrefectServer, registry_env: str, terminal: None, cli: Cli
) -> None:
    engine = make_engine(registry_env)
    with make_session_factory(engine).begin() as session:
        team = seed_model(session, "default", policy=POLICY)
        advance(session, team, add_version(session, team), Stage.STAGING)
        row = ModelRepository(session, team).version_row("support-intent", 1)
        EvaluationRepository(session, team).record(
            (row.model_id, row.id, None), _summary(0.70), [], None
        )
    engine.dispose()
    result = cli(
        "run", "promote", "--here", "-p", "model=support-intent", "-p", "version=1",
        "-p", "requester=carol",
    )  # fmt: skip
    line, _ = _one_failure_line(result)
    assert result.code == 1
    assert "PromotionRefused: gates for production failed: accuracy 0.700" in line
    assert "is below min_accuracy 0.85" in line


def test_a_provider_refusing_every_key_is_a_failure_not_bad_input(
    prefect_api: PrefectServer,
    flow_env: Env,
    terminal: None,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An OpenAI-compatible provider (the fake on a real socket) answering 401 to the only
    key: the upload fails, the key is disabled, and the run ends 1: the input was fine."""
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "models" / "helpdesk-chat.yaml").write_text(
        "name: helpdesk-chat\nteam: default\nprovider: openai\nbase_model: gpt-4o-mini\n"
        "category: chat\n"
    )
    with FakeOpenAIServer() as server:
        (catalog / "providers" / "openai.yaml").write_text(
            f"name: openai\nkind: openai\nbase_url: {server.base_url}\n"
        )
        monkeypatch.setenv("MODELOPS_CATALOG_DIR", str(catalog))
        context.settings.cache_clear()
        registered = cli("run", "register-model", "--here", "-p", "model=helpdesk-chat")
        assert registered.code == 0, registered.err
        _add_key(flow_env)
        server.always(KEY, Fault.unauthorized())

        result = _fine_tune(cli, DATA / "train.jsonl", model="helpdesk-chat")
    line, _ = _one_failure_line(result)
    assert result.code == 1
    assert "no usable openai key" in line.lower() or "401" in line, line


def _add_key(env: Env) -> None:
    ring = MasterKeyring.from_setting(context.settings().master_key)
    with env.sessions.begin() as session:
        team = TeamRepository(session).find("default")
        assert team is not None
        KeyRepository(session, team, ring).add("openai", "only", KEY, priority=0)
