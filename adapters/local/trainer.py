"""Running local fine-tune jobs: a training thread per job, resumable from any process.

The thread holds the job's run lock while it trains. If its process dies, the OS drops the lock
and the next `retrieve` (from any process) starts the job again; training is deterministic for
the seed, so the restart produces the same model, byte for byte.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime

from adapters.jobs import (
    EventLevel,
    FineTuneCheckpoint,
    FineTuneEvent,
    JobError,
    JobStatus,
)
from adapters.local import model as local_model
from adapters.local.dataset import DatasetError, Example, count_tokens, parse_chat_jsonl
from adapters.local.store import JobRecord, LocalStore, ModelManifest

__all__ = ["TrainingRunner", "job_event", "model_id_for", "run_job"]


class TrainingRunner:
    """Starts at most one training thread per job in this process."""

    def __init__(self, store: LocalStore) -> None:
        self._store = store
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def ensure_running(self, job_id: str) -> None:
        """Start training unless this or another live process is already at it."""
        with self._lock:
            thread = self._threads.get(job_id)
            if thread is not None and thread.is_alive():
                return
            if self._store.is_training(job_id):
                return
            # Daemon: a process that exits mid-training leaves the job to be resumed elsewhere.
            thread = threading.Thread(
                target=self._run, args=(job_id,), name=f"local-fine-tune-{job_id}", daemon=True
            )
            self._threads[job_id] = thread
            thread.start()

    def join(self, job_id: str, timeout: float | None) -> None:
        with self._lock:
            thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)

    def _run(self, job_id: str) -> None:
        lock = self._store.try_run_lock(job_id)
        if lock is None:
            return
        try:
            run_job(self._store, job_id)
        finally:
            lock.release()


def model_id_for(record: JobRecord) -> str:
    """`ft:<base>:<suffix>:<8 hex of the job>`, in the manner of OpenAI's fine-tuned ids."""
    return f"ft:{local_model.BASE_MODEL}:{record.suffix or 'modelops'}:{record.id[-8:]}"


def run_job(store: LocalStore, job_id: str) -> None:
    """Train the job to a terminal state (the caller holds its run lock)."""
    record = store.update_job(job_id, _start)
    if record is None or record.status is not JobStatus.RUNNING:
        return
    try:
        examples, validation, parent = _training_data(store, record)
    except (DatasetError, FileNotFoundError, LookupError) as exc:
        reason = str(exc)
        store.update_job(job_id, lambda r: _fail(r, "invalid_training_file", reason))
        return
    try:
        _train_and_save(store, record, examples, validation, parent)
    except Exception as exc:  # any failure of training ends the job, with the reason
        reason = repr(exc)
        store.update_job(job_id, lambda r: _fail(r, "training_failed", reason))


def _train_and_save(
    store: LocalStore,
    record: JobRecord,
    examples: list[Example],
    validation: list[Example],
    parent: local_model.TextClassifier | None,
) -> None:
    config = local_model.resolve(record.hyperparameters, record.seed)
    steps_per_epoch = -(-len(examples) // config.batch_size)
    last: dict[str, float] = {}

    def on_epoch(metrics: local_model.EpochMetrics) -> bool:
        values = {k: v for k, v in vars(metrics).items() if v is not None and k != "epoch"}
        last.update(values)
        data = {**values, "epoch": metrics.epoch, "step": metrics.epoch * steps_per_epoch}
        data["total_steps"] = config.n_epochs * steps_per_epoch
        updated = store.update_job(record.id, lambda r: _progress(r, metrics.epoch, config, data))
        return updated is not None and updated.status is JobStatus.RUNNING

    trained = local_model.train(
        examples, config, parent=parent, validation=validation, on_epoch=on_epoch
    )
    if trained is None:
        return  # cancelled between epochs
    artifact = local_model.dumps(trained)
    sha256 = hashlib.sha256(artifact).hexdigest()
    manifest = _manifest(record, trained, sha256, last, examples=len(examples))
    store.save_model(artifact, manifest)
    tokens = sum(count_tokens(e.text) for e in examples) * config.n_epochs
    total_steps = config.n_epochs * steps_per_epoch
    final = store.update_job(record.id, lambda r: _succeed(r, manifest, tokens, total_steps))
    if final is None or final.trained_model_id != manifest.model_id:
        store.delete_model(manifest.model_id)  # cancelled after the last epoch: no model


def _manifest(
    record: JobRecord,
    trained: local_model.TextClassifier,
    sha256: str,
    metrics: dict[str, float],
    *,
    examples: int,
) -> ModelManifest:
    return ModelManifest(
        model_id=model_id_for(record),
        sha256=sha256,
        base_model=local_model.BASE_MODEL,
        parent_model_id=None if record.model == local_model.BASE_MODEL else record.model,
        job_id=record.id,
        labels=list(trained.labels),
        examples=examples,
        training_files=[record.training_file],
        hyperparameters=record.hyperparameters,
        seed=record.seed,
        metrics=metrics,
        created_at=datetime.now(UTC),
    )


def _training_data(
    store: LocalStore, record: JobRecord
) -> tuple[list[Example], list[Example], local_model.TextClassifier | None]:
    """This job's examples, its validation examples, and the parent model it starts from."""
    parent = None if record.model == local_model.BASE_MODEL else _parent(store, record.model)
    examples = parse_chat_jsonl(store.file_content(record.training_file))
    if parent is None and len({e.label for e in examples}) < 2:
        raise DatasetError("training data needs at least two distinct labels")
    validation = []
    if record.validation_file is not None:
        validation = parse_chat_jsonl(store.file_content(record.validation_file))
    return examples, validation, parent


def _parent(store: LocalStore, model_id: str) -> local_model.TextClassifier:
    """The parent model, read only once its artifact matches the sha256 in its manifest."""
    manifest = store.manifest(model_id)
    if manifest is None:
        raise LookupError(f"parent model {model_id!r} does not exist")
    artifact = store.artifact(manifest.model_id)
    if hashlib.sha256(artifact).hexdigest() != manifest.sha256:
        raise LookupError(f"artifact of {manifest.model_id!r} does not match its sha256")
    try:
        return local_model.loads(artifact)
    except ValueError as exc:
        raise LookupError(f"artifact of {manifest.model_id!r} is unreadable: {exc}") from exc


def job_event(
    record: JobRecord,
    message: str,
    *,
    level: EventLevel = EventLevel.INFO,
    data: dict[str, object] | None = None,
) -> FineTuneEvent:
    """The record's next event; ids are ordered within the job."""
    return FineTuneEvent.model_validate(
        {
            "id": f"ftevent-{record.id[-8:]}-{len(record.events) + 1:04d}",
            "created_at": datetime.now(UTC),
            "level": level,
            "message": message,
            "type": "metrics" if data and "step" in data else "message",
            "data": data or None,
        }
    )


def _start(record: JobRecord) -> JobRecord | None:
    if record.status.is_terminal:
        return None
    resumed = record.attempts > 0
    message = (
        f"Resumed after the training process stopped (attempt {record.attempts + 1})"
        if resumed
        else "Training started"
    )
    return record.model_copy(
        update={
            "status": JobStatus.RUNNING,
            "attempts": record.attempts + 1,
            "started_at": record.started_at or datetime.now(UTC),
            "heartbeat_at": datetime.now(UTC),
            "progress": 0.0,
            "checkpoints": [],
            "events": [*record.events, job_event(record, message)],
        }
    )


def _progress(
    record: JobRecord, epoch: int, config: local_model.TrainingConfig, data: dict[str, object]
) -> JobRecord | None:
    if record.status is not JobStatus.RUNNING:
        return None  # cancelled meanwhile: leave the record alone, the trainer stops
    losses = ", ".join(f"{k}={v:.4f}" for k, v in data.items() if isinstance(v, float))
    message = f"Epoch {epoch}/{config.n_epochs}: {losses}"
    return record.model_copy(
        update={
            "progress": epoch / config.n_epochs,
            "heartbeat_at": datetime.now(UTC),
            "events": [*record.events, job_event(record, message, data=data)],
        }
    )


def _succeed(
    record: JobRecord, manifest: ModelManifest, tokens: int, total_steps: int
) -> JobRecord | None:
    if record.status is not JobStatus.RUNNING:
        return None
    checkpoint = FineTuneCheckpoint(
        id=f"ftckpt-{record.id[-8:]}-{total_steps}",
        created_at=manifest.created_at,
        step_number=total_steps,
        provider_model_id=manifest.model_id,
        metrics=manifest.metrics,
    )
    done = job_event(
        record,
        f"Fine-tune succeeded: {manifest.model_id}",
        data={"model_id": manifest.model_id, "artifact_sha256": manifest.sha256},
    )
    return record.model_copy(
        update={
            "status": JobStatus.SUCCEEDED,
            "progress": 1.0,
            "finished_at": datetime.now(UTC),
            "trained_model_id": manifest.model_id,
            "trained_tokens": tokens,
            "checkpoints": [checkpoint],
            "events": [*record.events, done],
        }
    )


def _fail(record: JobRecord, code: str, message: str) -> JobRecord | None:
    if record.status.is_terminal:
        return None
    event = job_event(record, f"Fine-tune failed: {message}", level=EventLevel.ERROR)
    return record.model_copy(
        update={
            "status": JobStatus.FAILED,
            "finished_at": datetime.now(UTC),
            "error": JobError(code=code, message=message),
            "events": [*record.events, event],
        }
    )
