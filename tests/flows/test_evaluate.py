"""The evaluate flow, run for real: Prefect server, PostgreSQL registry, trained local models.

v1 = tfidf-logreg fine-tuned on base.jsonl (weak, ~0.71 on eval.jsonl); v2 = v1 fine-tuned on
train.jsonl (strong, ~0.91). Both are trained once per module and copied into each test's
MODELOPS_DATA_DIR, so each test serves them from its own data dir.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect.artifacts import Artifact
from scipy import stats
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Credential
from adapters.chat import ClassificationRequest
from adapters.jobs import FilePurpose, FineTuneRequest, JobStatus
from adapters.local.adapter import LocalAdapter
from adapters.local.dataset import count_tokens
from flows.evaluate import EvaluateOutcome, evaluate
from flows.params import EvaluateParams
from registry.database import make_engine, make_session_factory
from registry.domain import JsonObject, LedgerEntry, Team
from registry.evaluations import Evaluation, EvaluationRepository, EvaluationRow, ExampleResult
from registry.ledger import LedgerRepository
from registry.lifecycle import NewVersion, register_version
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tasks.evaluation_dataset import EvalDatasetError
from tests.registry.seed import advance, seed_model
from tests.support.prefect_server import PrefectServer

DATA = Path(__file__).resolve().parents[2] / "examples" / "support_tickets"
EVAL = DATA / "eval.jsonl"
MODEL = "support-intent"
STAGING_GATES = {"min_accuracy": 0.8, "not_worse_than_champion": True, "max_p95_latency_ms": 1000}


@dataclass(frozen=True)
class Trained:
    store: Path  # a data dir holding local/ with both artifacts
    weak: str
    strong: str


async def _fine_tune(adapter: LocalAdapter, parent: str, data: str, key: str) -> str:
    uploaded = await adapter.upload_file(Credential(), DATA / data, FilePurpose.FINE_TUNE)
    request = FineTuneRequest(
        model=parent, training_file=uploaded.id, seed=1, suffix="support", idempotency_key=key
    )
    created = await adapter.create_fine_tune(Credential(), request)
    job = await adapter.wait_for_fine_tune(created.id)
    assert job.status is JobStatus.SUCCEEDED and job.trained_model_id, job.error
    return job.trained_model_id


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    store = tmp_path_factory.mktemp("trained")

    async def train() -> Trained:
        adapter = LocalAdapter(store)
        weak = await _fine_tune(adapter, "tfidf-logreg", "base.jsonl", "eval-test-v1")
        strong = await _fine_tune(adapter, weak, "train.jsonl", "eval-test-v2")
        return Trained(store, weak, strong)

    return asyncio.run(train())


@dataclass
class Registry:
    sessions: sessionmaker[Session]
    team: Team
    data_dir: Path

    def add(self, provider_model_id: str, stage: Stage) -> int:
        with self.sessions.begin() as session:
            new = NewVersion(model=MODEL, provider_model_id=provider_model_id, actor="tester")
            version = register_version(session, self.team, new).version
            if stage is not Stage.DEVELOPMENT:
                advance(session, self.team, version, stage, model=MODEL)
        return version

    def stage(self, version: int) -> Stage:
        with self.sessions.begin() as session:
            return ModelRepository(session, self.team).version(MODEL, version).stage

    def latest(self, version: int) -> tuple[Evaluation, list[ExampleResult]]:
        with self.sessions.begin() as session:
            models = ModelRepository(session, self.team)
            evaluations = EvaluationRepository(session, self.team)
            found = evaluations.latest_for_version(models.version(MODEL, version).id)
            assert found is not None
            return found, evaluations.examples(found.id)

    def examples_of(self, evaluation_id: int) -> list[ExampleResult]:
        with self.sessions.begin() as session:
            return EvaluationRepository(session, self.team).examples(evaluation_id)

    def evaluation_count(self) -> int:
        with self.sessions.begin() as session:
            return int(session.scalar(select(func.count()).select_from(EvaluationRow)) or 0)

    def ledger(self) -> list[LedgerEntry]:
        with self.sessions.begin() as session:
            model = ModelRepository(session, self.team).row(MODEL)
            return LedgerRepository(session, self.team).history(model)


def _registry(
    registry_env: str, tmp_path: Path, trained: Trained, policy: JsonObject
) -> Iterator[Registry]:
    data_dir = tmp_path / "data"  # registry_env's MODELOPS_DATA_DIR
    shutil.copytree(trained.store / "local", data_dir / "local")
    engine = make_engine(registry_env)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_model(session, "default", name=MODEL, policy=policy)
    yield Registry(sessions, team, data_dir)
    engine.dispose()


@pytest.fixture
def registry(
    registry_env: str, tmp_path: Path, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Registry]:
    # tasks.context.provider() builds the keyring even for the keyless local provider.
    monkeypatch.setenv("MODELOPS_MASTER_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    yield from _registry(registry_env, tmp_path, trained, {"staging": {"gates": STAGING_GATES}})


def _run(version: int, dataset: Path = EVAL, concurrency: int = 8) -> EvaluateOutcome:
    params = EvaluateParams(
        model=MODEL, version=version, dataset=str(dataset), concurrency=concurrency
    )
    return asyncio.run(evaluate(params))


def _eval_lines() -> list[tuple[str, str]]:
    """(ticket text, expected label) straight from the file, independently of the flow."""
    rows = [json.loads(line) for line in EVAL.read_text().splitlines() if line.strip()]
    return [
        (
            [m["content"] for m in row["messages"] if m["role"] == "user"][-1],
            row["messages"][-1]["content"],
        )
        for row in rows
    ]


def _reclassify(data_dir: Path, model_id: str) -> list[str]:
    async def labels() -> list[str]:
        adapter = LocalAdapter(data_dir)
        requests = [ClassificationRequest(model=model_id, text=text) for text, _ in _eval_lines()]
        return [(await adapter.classify(Credential(), r)).label for r in requests]

    return asyncio.run(labels())


def _report(key: str) -> str:
    """The markdown artifact as the UI shows it (printed, for `pytest -s`)."""
    artifact = Artifact.get(key)
    assert artifact is not None, f"no artifact {key!r}"
    print(f"\n----- artifact {key} -----\n{artifact.data}")
    return str(artifact.data)


def test_better_version_moves_testing_to_staging_with_accuracy_and_mcnemar_checked_independently(
    prefect_api: PrefectServer, registry: Registry, trained: Trained
) -> None:
    champion = registry.add(trained.weak, Stage.PRODUCTION)
    candidate = registry.add(trained.strong, Stage.TESTING)

    outcome = _run(candidate)

    assert (outcome.stage, outcome.moved, outcome.passed) == (Stage.STAGING, True, True)
    assert registry.stage(candidate) is Stage.STAGING
    evaluation, rows = registry.latest(candidate)
    assert evaluation.id == outcome.evaluation_id and len(rows) == evaluation.examples == 640
    # Accuracy: the stored rows, and our own classification of every line of the file.
    expected = [label for _, label in _eval_lines()]
    mine = _reclassify(registry.data_dir, trained.strong)
    assert [r.predicted for r in rows] == mine and [r.expected for r in rows] == expected
    correct = sum(p == e for p, e in zip(mine, expected, strict=True))
    assert evaluation.correct == correct == sum(r.correct for r in rows)
    assert evaluation.accuracy == pytest.approx(correct / 640) == pytest.approx(outcome.accuracy)
    wilson = stats.binomtest(correct, 640).proportion_ci(0.95, method="wilson")
    assert (evaluation.accuracy_low, evaluation.accuracy_high) == pytest.approx(
        (wilson.low, wilson.high)
    )
    # McNemar: pair the stored champion baseline with the candidate by example hash.
    comparison = evaluation.comparison
    champion_rows = {
        r.example_sha256: r.correct
        for r in registry.examples_of(int(comparison["champion_evaluation_id"]))
    }  # type: ignore[arg-type]
    b = sum(champion_rows[r.example_sha256] and not r.correct for r in rows)
    c = sum(r.correct and not champion_rows[r.example_sha256] for r in rows)
    assert (comparison["b"], comparison["c"], evaluation.champion_version) == (b, c, champion)
    assert comparison["p_value"] == pytest.approx(stats.binomtest(c, b + c, 0.5).pvalue, rel=1e-9)
    assert comparison["p_value_worse"] == pytest.approx(
        stats.binomtest(c, b + c, 0.5, alternative="less").pvalue, rel=1e-9
    )
    assert comparison["worse_than_champion"] is False
    assert f"(b={b}, c={c})" in str(comparison["summary"])
    # The ledger keeps the evidence and the run; the UI has the report and full progress.
    entry = registry.ledger()[-1]
    assert (entry.version, entry.from_stage, entry.to_stage) == (
        candidate,
        Stage.TESTING,
        Stage.STAGING,
    )
    assert entry.flow_run_id == evaluation.flow_run_id is not None
    assert entry.evidence["evaluation_id"] == evaluation.id
    assert entry.evidence["gates"]["min_accuracy"]["passed"] is True  # type: ignore[index,call-overload]
    report = _report(outcome.report_key)
    assert outcome.report_key == f"evaluation-{MODEL}-v{candidate}"
    assert str(comparison["summary"]) in report and "not_worse_than_champion" in report
    progress = Artifact.get(f"evaluation-{MODEL}-v{candidate}-progress")
    assert progress is not None and float(progress.data) == 100.0  # type: ignore[arg-type]


def test_version_outside_testing_is_only_recorded_and_reuses_the_champions_stored_results(
    prefect_api: PrefectServer, registry: Registry, trained: Trained
) -> None:
    champion = registry.add(trained.weak, Stage.PRODUCTION)
    candidate = registry.add(trained.strong, Stage.STAGING)
    baseline = _run(champion)  # the champion itself: nothing to compare with, not moved
    assert (baseline.stage, baseline.moved, baseline.champion_version) == (
        Stage.PRODUCTION,
        False,
        None,
    )
    assert "production version itself" in baseline.versus_champion

    outcome = _run(candidate)

    assert (outcome.stage, outcome.moved) == (Stage.STAGING, False)
    assert "not testing" in outcome.note and registry.stage(candidate) is Stage.STAGING
    evaluation, _ = registry.latest(candidate)
    assert evaluation.comparison["champion_evaluation_id"] == baseline.evaluation_id
    assert registry.evaluation_count() == 2  # no second run of the champion was stored
    assert [e.to_stage for e in registry.ledger()][-1] is Stage.STAGING


def test_version_below_min_accuracy_moves_to_rejected_with_the_evidence_in_the_ledger(
    prefect_api: PrefectServer, registry: Registry, trained: Trained
) -> None:
    weak = registry.add(trained.weak, Stage.TESTING)

    outcome = _run(weak, concurrency=3)

    assert (outcome.stage, outcome.moved, outcome.passed) == (Stage.REJECTED, True, False)
    assert outcome.accuracy < 0.8 and outcome.champion_version is None
    assert outcome.gate_failures == [
        f"accuracy {outcome.accuracy:.3f} (95% CI {outcome.accuracy_low:.3f}-"
        f"{outcome.accuracy_high:.3f}) is below min_accuracy 0.8"
    ]
    assert registry.stage(weak) is Stage.REJECTED
    entry = registry.ledger()[-1]
    assert (entry.from_stage, entry.to_stage, entry.actor) == (
        Stage.TESTING,
        Stage.REJECTED,
        "evaluate",
    )
    assert entry.flow_run_id is not None and "below min_accuracy 0.8" in entry.reason
    assert entry.evidence["evaluation_id"] == outcome.evaluation_id
    assert entry.evidence["failures"] == outcome.gate_failures
    assert entry.evidence["gates"]["min_accuracy"] == {  # type: ignore[index,call-overload]
        "passed": False,
        "threshold": 0.8,
        "observed": outcome.accuracy,
        "reason": outcome.gate_failures[0],
    }
    _report(outcome.report_key)


def test_chat_model_is_scored_by_exact_match_of_the_whole_assistant_answer(
    prefect_api: PrefectServer, registry: Registry, trained: Trained, tmp_path: Path
) -> None:
    with registry.sessions.begin() as session:
        ModelRepository(session, registry.team).row(MODEL).category = "chat"
    version = registry.add(trained.strong, Stage.TESTING)
    subset = tmp_path / "eval40.jsonl"
    subset.write_text("\n".join(EVAL.read_text().splitlines()[:40]) + "\n")

    outcome = _run(version, dataset=subset)

    evaluation, rows = registry.latest(version)
    mine = _reclassify(registry.data_dir, trained.strong)[:40]  # local chat answers with the label
    assert [r.predicted for r in rows] == mine
    assert evaluation.correct == sum(
        p == e for p, (_, e) in zip(mine, _eval_lines()[:40], strict=False)
    )
    # A chat request sends every message: the system prompt counts as input too.
    records = [json.loads(line) for line in subset.read_text().splitlines()]
    sent = sum(count_tokens(m["content"]) for r in records for m in r["messages"][:-1])
    assert evaluation.input_tokens == sent
    assert (outcome.stage, outcome.examples) == (Stage.STAGING, 40)


def test_missing_dataset_is_an_error_naming_the_path_and_stores_nothing(
    prefect_api: PrefectServer, registry: Registry, trained: Trained, tmp_path: Path
) -> None:
    version = registry.add(trained.strong, Stage.TESTING)
    missing = tmp_path / "nowhere" / "eval.jsonl"

    with pytest.raises(EvalDatasetError, match=f"eval dataset not found: {missing}"):
        _run(version, dataset=missing)

    assert registry.evaluation_count() == 0 and registry.stage(version) is Stage.TESTING


def test_malformed_jsonl_line_is_an_error_naming_the_line_and_stores_nothing(
    prefect_api: PrefectServer, registry: Registry, trained: Trained, tmp_path: Path
) -> None:
    version = registry.add(trained.strong, Stage.TESTING)
    lines = EVAL.read_text().splitlines()[:5]
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([*lines[:3], lines[3][:-5], lines[4]]) + "\n")

    with pytest.raises(EvalDatasetError, match=r"broken\.jsonl, line 4: not JSON"):
        _run(version, dataset=broken)

    assert registry.evaluation_count() == 0 and registry.stage(version) is Stage.TESTING
