"""The fine-tune flow end to end: the real local provider, a real Prefect server, PostgreSQL.

Version 1 comes from register-model (tfidf-logreg fine-tuned on base.jsonl); version 2 is
version 1 fine-tuned on train.jsonl. Accuracy figures are on eval.jsonl (640 tickets).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from prefect.artifacts import Artifact

from flows.fine_tune import FineTuneFailed, fine_tune
from flows.params import FineTuneParams, RegisterModelParams
from flows.register_model import register_model
from registry.domain import LedgerAction
from registry.finetune_jobs import FineTuneStatus
from registry.stages import Stage
from tasks import context
from tasks.catalog import sync_catalog
from tasks.finetune import FineTuneRefused
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

TRAIN = DATA / "train.jsonl"


def _fine_tune(dataset: Path, **overrides: object) -> FineTuneParams:
    return FineTuneParams.model_validate(
        {"model": MODEL, "dataset": str(dataset), "poll_seconds": 0.2, **overrides}
    )


@pytest.fixture
def with_v1(prefect_api: PrefectServer, flow_env: Env) -> Env:
    asyncio.run(register_model(RegisterModelParams(model=MODEL)))
    return flow_env


def test_fine_tune_registers_v2_from_v1_in_testing_with_full_lineage(
    with_v1: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = asyncio.run(fine_tune(_fine_tune(TRAIN)))

    assert (outcome.version, outcome.stage, outcome.parent_version) == (2, Stage.TESTING, 1)
    v1, v2 = with_v1.versions()
    assert v2.provider_model_id == outcome.provider_model_id
    assert v2.provider_model_id.startswith("ft:tfidf-logreg:support-intent:")
    lineage = v2.lineage
    assert lineage.parent_version == 1
    assert lineage.dataset_uri == TRAIN.as_uri()
    assert lineage.dataset_sha256 == sha256_of(TRAIN)
    # "auto" resolved by the provider: 8 epochs, one SGD step per example, multiplier 1.0.
    assert lineage.hyperparameters == {
        "n_epochs": 8,
        "batch_size": 1,
        "learning_rate_multiplier": 1.0,
        "seed": 0,
    }
    assert lineage.provider_key_id is None  # local needs no key
    (_, row) = with_v1.job_rows()
    assert lineage.fine_tune_job_id == row.provider_job_id == outcome.fine_tune_job_id
    assert (row.status, row.progress, row.result_version_id) == ("succeeded", 1.0, v2.id)
    assert row.trained_model_id == v2.provider_model_id
    messages = [event["message"] for event in row.events]
    assert (len(messages), messages[0]) == (10, "Training started")  # start, 8 epochs, end
    assert messages[-1] == f"Fine-tune succeeded: {v2.provider_model_id}"
    moves = with_v1.ledger(2)
    assert [(e.action, e.from_stage, e.to_stage) for e in moves] == [
        (LedgerAction.REGISTER, None, Stage.DEVELOPMENT),
        (LedgerAction.TRANSITION, Stage.DEVELOPMENT, Stage.TESTING),
    ]
    assert (moves[1].reason, moves[1].flow_run_id) == ("fine-tuned", row.flow_run_id)

    before = eval_accuracy(with_v1.data_dir, v1.provider_model_id)
    after = eval_accuracy(with_v1.data_dir, v2.provider_model_id)
    with capsys.disabled():
        print(
            f"\nfine-tune flow: v1 {v1.provider_model_id} ({v1.lineage.fine_tune_job_id}) "
            f"accuracy {before:.4f}; v2 {v2.provider_model_id} ({lineage.fine_tune_job_id}) "
            f"accuracy {after:.4f} on eval.jsonl"
        )
    assert before < 0.80 < 0.85 < after


def test_progress_and_events_are_published_as_artifacts(with_v1: Env) -> None:
    asyncio.run(fine_tune(_fine_tune(TRAIN)))

    progress = Artifact.get(f"fine-tune-{MODEL}-progress")
    events = Artifact.get(f"fine-tune-{MODEL}-events")
    assert progress is not None and events is not None
    assert float(progress.data) == 100.0  # type: ignore[arg-type]
    table = json.loads(events.data) if isinstance(events.data, str) else events.data
    assert any("epoch" in row["message"].lower() for row in table), table
    assert "succeeded" in (events.description or "")


def test_rerunning_a_finished_fine_tune_returns_the_same_version(with_v1: Env) -> None:
    first = asyncio.run(fine_tune(_fine_tune(TRAIN)))
    again = asyncio.run(fine_tune(_fine_tune(TRAIN)))

    assert again == first
    assert [v.version for v in with_v1.versions()] == [1, 2]
    assert len(with_v1.job_rows()) == 2  # v1's job (register-model) and v2's
    assert len(with_v1.local_jobs()) == 2


def test_a_failed_provider_job_fails_the_flow_and_a_rerun_makes_a_new_attempt(
    prefect_api: PrefectServer, flow_env: Env, tmp_path: Path
) -> None:
    # Valid for the flow (12 examples, one label), but the local trainer needs two labels.
    # The model has no version yet, so the job starts from the base model with no other data.
    one_label = tmp_path / "one-label.jsonl"
    one_label.write_text("".join(_line(f"invoice {n} is wrong", "billing") for n in range(12)))
    sync_catalog.fn()

    for _ in range(2):
        with pytest.raises(FineTuneFailed, match="at least two distinct labels"):
            asyncio.run(fine_tune(_fine_tune(one_label)))

    rows = flow_env.job_rows()
    assert [row.idempotency_key[-3:] for row in rows] == ["-a1", "-a2"]
    assert {row.status for row in rows} == {FineTuneStatus.FAILED.value}
    assert {row.result_version_id for row in rows} == {None}
    assert len(flow_env.local_jobs()) == 2
    assert flow_env.versions() == []


def _line(text: str, label: str) -> str:
    messages = [{"role": "user", "content": text}, {"role": "assistant", "content": label}]
    return json.dumps({"messages": messages}) + "\n"


def test_an_unknown_base_model_fails_the_job_row_and_the_fixed_catalog_then_trains(
    prefect_api: PrefectServer, flow_env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    model_file = catalog / "models" / f"{MODEL}.yaml"
    correct = model_file.read_text()
    model_file.write_text(correct.replace("base_model: tfidf-logreg", "base_model: tfidf-nope"))
    monkeypatch.setenv("MODELOPS_CATALOG_DIR", str(catalog))
    context.settings.cache_clear()
    sync_catalog.fn()

    for _ in range(2):  # a re-run of the same input fails the same way, leaving no row behind
        with pytest.raises(FineTuneRefused, match="no local model 'tfidf-nope'"):
            asyncio.run(fine_tune(_fine_tune(TRAIN)))
    refused = flow_env.job_rows()
    assert [(row.idempotency_key[-3:], row.status) for row in refused] == [
        ("-a1", "failed"),
        ("-a2", "failed"),
    ]
    assert all("no local model 'tfidf-nope'" in (row.error or "") for row in refused)
    assert flow_env.local_jobs() == []

    model_file.write_text(correct)
    sync_catalog.fn()
    outcome = asyncio.run(fine_tune(_fine_tune(TRAIN)))

    assert (outcome.version, outcome.parent_version) == (1, None)
    assert [row.status for row in flow_env.job_rows()] == ["failed", "failed", "succeeded"]
