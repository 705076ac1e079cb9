"""The local adapter: a real model, fine-tuned as a resumable job on disk and served from it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters import errors
from adapters.base import Credential
from adapters.chat import ChatMessage, ChatRequest, ClassificationRequest, FinishReason, Role
from adapters.jobs import FilePurpose, FineTuneRequest, Hyperparameters, JobStatus
from adapters.local.adapter import LocalAdapter
from adapters.local.dataset import count_tokens
from adapters.registry import create_adapter
from tests.fakes.training_gate import TrainingGate

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "examples" / "support_tickets" / "base.jsonl"
NO_KEY = Credential()


def _local(data_dir: Path) -> LocalAdapter:
    adapter = create_adapter("local", data_dir=data_dir)
    assert isinstance(adapter, LocalAdapter)
    return adapter


def _request(file_id: str, key: str = "v1-of-support-intent", **changes: object) -> FineTuneRequest:
    fields: dict[str, object] = {
        "model": "tfidf-logreg",
        "training_file": file_id,
        "hyperparameters": Hyperparameters(n_epochs=3),
        "seed": 5,
        "suffix": "support",
        "idempotency_key": key,
    }
    return FineTuneRequest.model_validate(fields | changes)


async def _trained(adapter: LocalAdapter, key: str = "v1-of-support-intent") -> str:
    uploaded = await adapter.upload_file(NO_KEY, BASE, FilePurpose.FINE_TUNE)
    job = await adapter.create_fine_tune(NO_KEY, _request(uploaded.id, key))
    job = await adapter.wait_for_fine_tune(job.id, timeout=60)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.trained_model_id is not None
    return job.trained_model_id


async def test_upload_checks_the_chat_jsonl_and_names_the_bad_line(tmp_path: Path) -> None:
    bad = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]}\n'
    bad += b'{"messages": [{"role": "user", "content": "no label"}]}\n'
    with pytest.raises(errors.BadRequestError, match="line 2"):
        await _local(tmp_path).upload_file(NO_KEY, bad, FilePurpose.FINE_TUNE)


async def test_uploading_the_same_content_twice_gives_one_file(tmp_path: Path) -> None:
    adapter = _local(tmp_path)
    first = await adapter.upload_file(NO_KEY, BASE, FilePurpose.FINE_TUNE)
    second = await adapter.upload_file(NO_KEY, BASE.read_bytes(), FilePurpose.FINE_TUNE)
    assert first.id == second.id and first.bytes == BASE.stat().st_size


async def test_a_fine_tune_reports_progress_events_and_a_checkpoint(tmp_path: Path) -> None:
    adapter = _local(tmp_path)
    model_id = await _trained(adapter)
    job = await adapter.find_fine_tune(NO_KEY, "v1-of-support-intent")
    assert job is not None and job.trained_model_id == model_id
    assert job.progress == 1.0 and job.trained_tokens is not None
    messages = [e.message for e in await adapter.list_fine_tune_events(NO_KEY, job.id)]
    assert messages[0] == "Training started"
    assert [m.split(":")[0] for m in messages[1:4]] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert messages[-1] == f"Fine-tune succeeded: {model_id}"
    metrics = [e for e in job.events if e.type == "metrics"]
    assert [e.data["step"] for e in metrics if e.data] == [240, 480, 720]  # one per example
    later = await adapter.list_fine_tune_events(NO_KEY, job.id, after=job.events[2].id)
    assert [e.id for e in later] == [e.id for e in job.events[3:]]
    [checkpoint] = await adapter.list_fine_tune_checkpoints(NO_KEY, job.id)
    assert checkpoint.provider_model_id == model_id and checkpoint.step_number == 720


async def test_the_artifact_is_stored_with_its_sha256(tmp_path: Path) -> None:
    adapter = _local(tmp_path)
    model_id = await _trained(adapter)
    manifest = adapter.model_manifest(model_id)
    path = adapter.artifact_path(model_id)
    assert path.is_relative_to(tmp_path / "local" / "models")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == manifest.sha256
    assert manifest.parent_model_id is None and manifest.examples == 240
    assert manifest.hyperparameters.n_epochs == 3 and manifest.seed == 5
    assert manifest.hyperparameters.batch_size == 1
    assert len(manifest.labels) == 8


async def test_training_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    first = _local(tmp_path / "a")
    second = _local(tmp_path / "b")
    sha_a = first.model_manifest(await _trained(first)).sha256
    sha_b = second.model_manifest(await _trained(second)).sha256
    assert sha_a == sha_b


async def test_create_with_the_same_idempotency_key_returns_the_same_job(tmp_path: Path) -> None:
    adapter = _local(tmp_path)
    uploaded = await adapter.upload_file(NO_KEY, BASE, FilePurpose.FINE_TUNE)
    first = await adapter.create_fine_tune(NO_KEY, _request(uploaded.id))
    again = await adapter.create_fine_tune(NO_KEY, _request(uploaded.id))
    assert again.id == first.id
    with pytest.raises(errors.BadRequestError, match="different request"):
        await adapter.create_fine_tune(NO_KEY, _request(uploaded.id, seed=6))
    await adapter.wait_for_fine_tune(first.id)
    assert len(list((tmp_path / "local" / "jobs").glob("*.json"))) == 1


async def test_serving_answers_with_the_label_and_counts_tokens_and_time(tmp_path: Path) -> None:
    adapter = _local(tmp_path)
    model_id = await _trained(adapter)
    text = "I cannot log in, the password reset email never arrives"
    classified = await adapter.classify(NO_KEY, ClassificationRequest(model=model_id, text=text))
    assert classified.label == "login"
    assert classified.probabilities is not None
    assert sum(classified.probabilities.values()) == pytest.approx(1.0)
    assert classified.usage.input_tokens == count_tokens(text) == 11
    chat = await adapter.chat(
        NO_KEY,
        ChatRequest(
            model=model_id,
            messages=[
                ChatMessage(role="system", content="Classify the ticket."),
                ChatMessage(role="user", content=text),
            ],
        ),
    )
    assert chat.content == "login"
    assert chat.usage is not None
    assert (chat.usage.input_tokens, chat.usage.output_tokens) == (4 + 11, 1)
    assert chat.latency_ms > 0 and classified.latency_ms > 0


async def test_concurrent_first_calls_load_the_model_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained = _local(tmp_path)
    model_id = await _trained(trained)
    adapter = _local(tmp_path)  # a fresh process's adapter: nothing loaded yet
    reads: list[str] = []
    read = adapter._store.artifact

    def counted(name: str) -> bytes:
        reads.append(name)
        return read(name)

    monkeypatch.setattr(adapter._store, "artifact", counted)
    request = ClassificationRequest(model=model_id, text="the password reset never arrives")
    answers = await asyncio.gather(*(adapter.classify(NO_KEY, request) for _ in range(8)))
    assert {a.label for a in answers} == {"login"}
    assert reads == [model_id]


async def test_a_streamed_answer_is_one_content_chunk_then_the_finish_with_usage(
    tmp_path: Path,
) -> None:
    adapter = _local(tmp_path)
    model_id = await _trained(adapter)
    request = ChatRequest.model_validate(
        {
            "model": model_id,
            "messages": [
                {"role": "developer", "content": "Classify the ticket."},
                {"role": "user", "content": [{"type": "text", "text": "I cannot log in"}]},
            ],
            "extra": {"user": "u-1", "stream_options": {"include_usage": True}},
        }
    )
    whole = await adapter.chat(NO_KEY, request)
    async with await adapter.open_chat_stream(NO_KEY, request) as stream:
        first, last = [chunk async for chunk in stream]
    assert (first.role, first.content, first.finish_reason) == (Role.ASSISTANT, "login", None)
    assert whole.content == "login"
    assert (last.content, last.finish_reason, last.usage) == ("", FinishReason.STOP, whole.usage)
    assert first.id == last.id == stream.id and stream.usage == whole.usage


async def test_what_the_local_model_cannot_honour_is_refused_by_name(tmp_path: Path) -> None:
    adapter = _local(tmp_path)
    model_id = await _trained(adapter)
    image = {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
    refused = {
        r"extra\.tools: provider kind 'local' cannot send this field; .*: openai": {
            "extra": {"tools": [{"type": "function", "function": {"name": "f"}}]}
        },
        r"messages\[0\]\.content\[1\]\.type: .* text parts only, not 'image_url'": {
            "messages": [{"role": "user", "content": [{"type": "text", "text": "look"}, image]}]
        },
        r"messages\[0\]\.role: .*assistant, developer, system, user": {
            "messages": [{"role": "tool", "content": "42", "extra": {"tool_call_id": "c1"}}]
        },
    }
    for pattern, fields in refused.items():
        request = ChatRequest.model_validate(
            {"model": model_id, "messages": [{"role": "user", "content": "hi"}], **fields}
        )
        for call in (adapter.chat, adapter.open_chat_stream):
            with pytest.raises(errors.BadRequestError, match=pattern):
                await call(NO_KEY, request)


async def test_the_base_model_and_unknown_models_do_not_answer(tmp_path: Path) -> None:
    adapter = _local(tmp_path)
    with pytest.raises(errors.BadRequestError, match="untrained base model"):
        await adapter.classify(NO_KEY, ClassificationRequest(model="tfidf-logreg", text="hi"))
    chat = ChatRequest(model="tfidf-logreg", messages=[ChatMessage(role="user", content="hi")])
    with pytest.raises(errors.BadRequestError, match="untrained base model"):
        await adapter.open_chat_stream(NO_KEY, chat)  # from the open, before any chunk
    with pytest.raises(errors.ResourceNotFoundError):
        await adapter.classify(NO_KEY, ClassificationRequest(model="ft:nope", text="hi"))
    with pytest.raises(errors.ResourceNotFoundError):
        await adapter.retrieve_fine_tune(NO_KEY, "ftjob-missing")
    with pytest.raises(errors.ResourceNotFoundError):
        await adapter.create_fine_tune(NO_KEY, _request("file-missing"))


async def test_a_tampered_artifact_is_refused(tmp_path: Path) -> None:
    model_id = await _trained(_local(tmp_path))
    path = _local(tmp_path).artifact_path(model_id)
    path.write_bytes(path.read_bytes() + b"tampered")
    fresh = _local(tmp_path)  # no in-memory copy of the model
    with pytest.raises(errors.ModelUnavailableError, match="sha256"):
        await fresh.classify(NO_KEY, ClassificationRequest(model=model_id, text="refund please"))


class _RunsOnLoad:
    """A pickle that would create a file if anything unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (str(self.marker), "executed"))  # type: ignore[return-value]


async def test_an_artifact_is_read_without_unpickling_even_when_its_sha256_matches(
    tmp_path: Path,
) -> None:
    # Someone who can write the store swaps in a pickle and updates the manifest's sha256.
    model_id = await _trained(_local(tmp_path))
    marker = tmp_path / "executed"
    payload = pickle.dumps(_RunsOnLoad(marker))
    _local(tmp_path).artifact_path(model_id).write_bytes(payload)
    manifest_path = tmp_path / "local" / "models" / f"{model_id}.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"] = hashlib.sha256(payload).hexdigest()
    manifest_path.write_text(json.dumps(manifest))

    with pytest.raises(errors.ModelUnavailableError, match="unreadable"):
        await _local(tmp_path).classify(NO_KEY, ClassificationRequest(model=model_id, text="hi"))
    assert not marker.exists()


async def test_a_batch_size_the_trainer_cannot_honour_is_refused(tmp_path: Path) -> None:
    adapter = _local(tmp_path)
    uploaded = await adapter.upload_file(NO_KEY, BASE, FilePurpose.FINE_TUNE)
    request = _request(uploaded.id, hyperparameters=Hyperparameters(batch_size=16))
    with pytest.raises(errors.BadRequestError, match=r"batch_size.*must be 1 or auto"):
        await adapter.create_fine_tune(NO_KEY, request)
    assert not list((tmp_path / "local" / "jobs").glob("*.json"))


async def test_cancel_stops_a_job_and_leaves_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = TrainingGate(tmp_path / "gate")  # training holds after epoch 1 until released
    gate.install(monkeypatch)
    adapter = _local(tmp_path)
    uploaded = await adapter.upload_file(NO_KEY, BASE, FilePurpose.FINE_TUNE)
    record = tmp_path / "local" / "jobs"
    job = await adapter.create_fine_tune(
        NO_KEY, _request(uploaded.id, hyperparameters=Hyperparameters(n_epochs=3))
    )
    try:
        await _until(lambda: _local_record(record, job.id)["progress"] > 0)
        cancelled = await adapter.cancel_fine_tune(NO_KEY, job.id)
    finally:
        gate.release()
    final = await adapter.wait_for_fine_tune(job.id)
    assert cancelled.status is JobStatus.CANCELLED and final.status is JobStatus.CANCELLED
    assert final.trained_model_id is None and final.progress == pytest.approx(1 / 3)
    assert final.events[-1].message == "Fine-tune cancelled"
    assert not list((tmp_path / "local" / "models").glob("*.npz"))
    assert _local_record(record, job.id)["status"] == "cancelled"
    again = await adapter.cancel_fine_tune(NO_KEY, job.id)  # a finished job is left as it is
    assert again.status is JobStatus.CANCELLED


def _local_record(jobs: Path, job_id: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((jobs / f"{job_id}.json").read_text())
    return record


async def _until(condition: Callable[[], bool], timeout: float = 60) -> None:
    """Poll a condition that another thread makes true (the trainer writes it to disk)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_job_whose_process_died_is_resumed_by_the_next_retrieve(tmp_path: Path) -> None:
    """Another process creates the job and exits at once; its training thread dies with it."""
    script = textwrap.dedent(
        f"""
        import asyncio, os
        from pathlib import Path
        from adapters.base import Credential
        from adapters.jobs import FilePurpose, FineTuneRequest, Hyperparameters
        from adapters.local.adapter import LocalAdapter

        async def main():
            adapter = LocalAdapter(Path({str(tmp_path)!r}))
            uploaded = await adapter.upload_file(Credential(), Path({str(BASE)!r}), FilePurpose.FINE_TUNE)
            request = FineTuneRequest(
                model="tfidf-logreg", training_file=uploaded.id, seed=5, suffix="support",
                hyperparameters=Hyperparameters(n_epochs=3), idempotency_key="v1-of-support-intent",
            )
            job = await adapter.create_fine_tune(Credential(), request)
            print(job.id, flush=True)
            os._exit(0)  # the process dies: no cleanup, the training thread is gone

        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    job_id = done.stdout.strip()
    assert done.returncode == 0 and job_id, done.stderr
    orphan = json.loads((tmp_path / "local" / "jobs" / f"{job_id}.json").read_text())
    assert orphan["status"] in {"queued", "running"}

    adapter = _local(tmp_path)
    job = await adapter.wait_for_fine_tune(job_id, timeout=60)
    assert job.status is JobStatus.SUCCEEDED
    uninterrupted = _local(tmp_path / "elsewhere")
    reference = uninterrupted.model_manifest(await _trained(uninterrupted))
    assert job.trained_model_id is not None
    assert adapter.model_manifest(job.trained_model_id).sha256 == reference.sha256
