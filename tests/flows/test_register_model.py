"""register-model: sync the catalog and create version 1 exactly once, ready to evaluate."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from flows.params import RegisterModelParams
from flows.register_model import RegisterModelOutcome, register_model
from registry.domain import LedgerAction
from registry.errors import NotFoundError
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.stages import Stage
from registry.teams import TeamRepository
from tasks import context
from tests.flows.finetune_support import (
    CATALOG,
    DATA,
    MODEL,
    Env,
    eval_accuracy,
    flow_env,
    sha256_of,
)
from tests.support.prefect_server import PrefectServer

__all__ = ["flow_env"]

CHAT_MODEL = """\
name: helpdesk-chat
team: default
provider: openai
base_model: gpt-4o-mini
category: chat
description: Answers customers
"""


def _register(model: str = MODEL) -> RegisterModelOutcome:
    return asyncio.run(register_model(RegisterModelParams(model=model)))


def test_local_version_1_is_base_fine_tuned_once_and_can_answer(
    prefect_api: PrefectServer, flow_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _register()
    again = _register()

    assert (first.version, first.stage, first.created) == (1, Stage.TESTING, True)
    assert first.catalog_changes
    assert (again.version, again.created, again.catalog_changes) == (1, False, [])
    (v1,) = flow_env.versions()
    assert v1.provider_model_id.startswith("ft:tfidf-logreg:support-intent:")
    assert v1.lineage.parent_version is None
    assert v1.lineage.dataset_uri == (DATA / "base.jsonl").as_uri()
    assert v1.lineage.dataset_sha256 == sha256_of(DATA / "base.jsonl")
    (job,) = flow_env.job_rows()
    assert (job.base_model, job.provider_job_id) == ("tfidf-logreg", v1.lineage.fine_tune_job_id)
    assert len(flow_env.local_jobs()) == 1
    # Servable as it is: the local adapter answers with it (an untrained base would refuse).
    accuracy = eval_accuracy(flow_env.data_dir, v1.provider_model_id)
    with capsys.disabled():
        print(f"\nregister-model: v1 {v1.provider_model_id} accuracy {accuracy:.4f} on eval.jsonl")
    assert 0.6 < accuracy < 0.8


def test_a_remote_model_gets_its_catalog_base_model_as_version_1(
    prefect_api: PrefectServer,
    flow_env: Env,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "models" / "helpdesk-chat.yaml").write_text(CHAT_MODEL)
    monkeypatch.setenv("MODELOPS_CATALOG_DIR", str(catalog))
    context.settings.cache_clear()

    first = _register("helpdesk-chat")
    again = _register("helpdesk-chat")

    assert (first.version, first.provider_model_id, first.stage) == (
        1,
        "gpt-4o-mini",
        Stage.TESTING,
    )
    assert (first.created, again.created, again.version) == (True, False, 1)
    assert flow_env.job_rows() == []  # no provider was called
    with flow_env.sessions.begin() as session:
        team = TeamRepository(session).find("default")
        assert team is not None
        models = ModelRepository(session, team)
        assert [v.version for v in models.versions("helpdesk-chat")] == [1]
        entries = LedgerRepository(session, team).history(models.row("helpdesk-chat"))
    assert [(e.action, e.to_stage) for e in entries] == [
        (LedgerAction.REGISTER, Stage.DEVELOPMENT),
        (LedgerAction.TRANSITION, Stage.TESTING),
    ]


def test_an_unknown_model_is_refused_with_the_known_ones(
    prefect_api: PrefectServer, flow_env: Env
) -> None:
    with pytest.raises(
        NotFoundError, match=r"no model 'no-such-model'.*known models: support-intent"
    ):
        _register("no-such-model")
    assert flow_env.job_rows() == []
