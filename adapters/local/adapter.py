"""The `local` adapter: fine-tunes and serves the TF-IDF + SGD logistic regression. No key needed.

Job ids derive from the idempotency key, so creating twice with one key returns the same job.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Self

from adapters.base import AdapterContext, AdapterOptions, Credential, validate_options
from adapters.categories import Category
from adapters.chat import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ClassificationRequest,
    ClassificationResponse,
    FinishReason,
    Role,
    Usage,
)
from adapters.chat_support import unsupported_reason
from adapters.errors import (
    BadRequestError,
    ConfigurationError,
    ModelUnavailableError,
    ResourceNotFoundError,
)
from adapters.jobs import (
    FilePurpose,
    FineTuneCheckpoint,
    FineTuneEvent,
    FineTuneJob,
    FineTuneRequest,
    JobStatus,
    UploadedFile,
)
from adapters.local import model as local_model
from adapters.local.dataset import DatasetError, count_tokens, parse_chat_jsonl
from adapters.local.store import JobRecord, LocalStore, ModelManifest
from adapters.local.trainer import TrainingRunner, job_event
from adapters.streaming import ChatStream, ListSource

__all__ = ["LocalAdapter"]

_SUFFIX = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
_POLL_SECONDS = 0.05  # only when another process is training the job we wait for
# The answer is made before the stream opens; this only bounds handing it over.
_STREAM_OPEN_SECONDS = 60.0
# OpenAI extras with nothing to do here: `user` (no provider to tell), and include_usage
# (usage always comes).
_EXTRA_FIELDS = frozenset({"user", "stream_options"})
_ROLES = frozenset({Role.SYSTEM, Role.DEVELOPER, Role.USER, Role.ASSISTANT})


class LocalAdapter:
    """Chat and classification from local artifacts; file upload and fine-tune jobs on disk."""

    kind: ClassVar[str] = "local"
    categories: ClassVar[frozenset[Category]] = frozenset({Category.CHAT, Category.CLASSIFICATION})

    def __init__(self, data_dir: Path) -> None:
        self._store = LocalStore(data_dir / "local")
        self._runner = TrainingRunner(self._store)
        self._models: dict[tuple[str, str], local_model.TextClassifier] = {}
        self._models_lock = threading.Lock()
        # One load at a time: concurrent first calls would each read the artifact, and
        # numpy parses an array header with ast.literal_eval, which CPython 3.11.7 can fail
        # when two threads build ASTs at once ("AST constructor recursion depth mismatch").
        self._loading = threading.Lock()

    @classmethod
    def from_context(cls, context: AdapterContext) -> Self:
        validate_options(AdapterOptions, context.options, cls.kind)
        if context.data_dir is None:
            raise ConfigurationError("provider kind 'local' needs a data_dir (MODELOPS_DATA_DIR)")
        return cls(context.data_dir)

    # serving

    async def chat(
        self, credential: Credential, request: ChatRequest, *, timeout: float | None = None
    ) -> ChatResponse:
        """Answer with the predicted label of the last user message."""
        started = time.perf_counter()
        reason = unsupported_reason(
            request, kind=self.kind, extra_fields=_EXTRA_FIELDS, roles=_ROLES
        )
        if reason is not None:
            raise BadRequestError(reason, provider=self.kind)
        users = [m.content for m in request.messages if m.role is Role.USER]
        if not users:
            raise BadRequestError("the local model needs a user message", provider=self.kind)
        classifier = await self._classifier(request.model)
        label = classifier.predict(users[-1])
        return ChatResponse(
            id=f"chatcmpl-local-{uuid.uuid4().hex[:24]}",
            provider=self.kind,
            model=request.model,
            content=label,
            finish_reason=FinishReason.STOP,
            raw_finish_reason="stop",
            usage=Usage(
                input_tokens=sum(count_tokens(m.content) for m in request.messages),
                output_tokens=count_tokens(label),
            ),
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )

    async def open_chat_stream(
        self, credential: Credential, request: ChatRequest, *, timeout: float | None = None
    ) -> ChatStream:
        """The answer as a stream: one content chunk (with the role), then the finish with
        usage. Everything is decided before the open returns, so faults raise from it."""
        answer = await self.chat(credential, request, timeout=timeout)
        chunks = [
            ChatChunk(
                id=answer.id, model=answer.model, role=Role.ASSISTANT, content=answer.content
            ),
            ChatChunk(
                id=answer.id,
                model=answer.model,
                finish_reason=answer.finish_reason,
                raw_finish_reason=answer.raw_finish_reason,
                usage=answer.usage,
            ),
        ]

        async def connect() -> tuple[ListSource, None]:
            return ListSource(chunks), None

        return await ChatStream.open(
            self.kind,
            connect,
            timeout=_STREAM_OPEN_SECONDS if timeout is None else timeout,
            idle_timeout=None,
        )

    async def classify(
        self,
        credential: Credential,
        request: ClassificationRequest,
        *,
        timeout: float | None = None,
    ) -> ClassificationResponse:
        started = time.perf_counter()
        classifier = await self._classifier(request.model)
        probabilities = classifier.probabilities(request.text)
        label = max(probabilities, key=lambda name: probabilities[name])
        return ClassificationResponse(
            provider=self.kind,
            model=request.model,
            label=label,
            probabilities=probabilities,
            usage=Usage(input_tokens=count_tokens(request.text), output_tokens=count_tokens(label)),
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )

    def model_manifest(self, model_id: str) -> ModelManifest:
        """The artifact's manifest: sha256, parent, data, hyperparameters, final metrics."""
        manifest = self._store.manifest(model_id) if self._valid_id(model_id) else None
        if manifest is None:
            raise ResourceNotFoundError(f"no local model {model_id!r}", provider=self.kind)
        return manifest

    def artifact_path(self, model_id: str) -> Path:
        return self._store.artifact_path(self.model_manifest(model_id).model_id)

    # files

    async def upload_file(
        self,
        credential: Credential,
        file: Path | bytes,
        purpose: FilePurpose,
        *,
        filename: str | None = None,
        timeout: float | None = None,
    ) -> UploadedFile:
        """Store a chat fine-tuning JSONL file; it is checked now, naming the first bad line."""
        content = await asyncio.to_thread(file.read_bytes) if isinstance(file, Path) else file
        try:
            parse_chat_jsonl(content)
        except DatasetError as exc:
            raise BadRequestError(f"invalid training file: {exc}", provider=self.kind) from exc
        name = filename or (file.name if isinstance(file, Path) else "data.jsonl")
        record = await asyncio.to_thread(self._store.save_file, content, name, _now())
        return UploadedFile(
            id=record.id,
            filename=record.filename,
            bytes=record.bytes,
            purpose=purpose,
            created_at=record.created_at,
        )

    # fine-tuning

    async def create_fine_tune(
        self, credential: Credential, request: FineTuneRequest, *, timeout: float | None = None
    ) -> FineTuneJob:
        record = self._new_record(request)
        stored, _ = await asyncio.to_thread(self._store.create_job, record)
        if stored.fingerprint != record.fingerprint:
            raise BadRequestError(
                f"idempotency key {request.idempotency_key!r} was used for a different request",
                provider=self.kind,
            )
        if not stored.status.is_terminal:
            self._runner.ensure_running(stored.id)
        return _to_job(stored)

    async def retrieve_fine_tune(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> FineTuneJob:
        """The job as on disk; a job whose trainer died is restarted here (see trainer.py)."""
        record = self._record(job_id)
        if not record.status.is_terminal:
            self._runner.ensure_running(job_id)
        return _to_job(record)

    async def list_fine_tune_events(
        self,
        credential: Credential,
        job_id: str,
        *,
        after: str | None = None,
        timeout: float | None = None,
    ) -> list[FineTuneEvent]:
        events = self._record(job_id).events
        ids = [e.id for e in events]
        return events[ids.index(after) + 1 :] if after in ids else list(events)

    async def list_fine_tune_checkpoints(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> list[FineTuneCheckpoint]:
        return list(self._record(job_id).checkpoints)

    async def cancel_fine_tune(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> FineTuneJob:
        """Cancel a queued or running job (training stops at the next epoch); a finished job
        is returned as it is."""
        self._record(job_id)
        record = await asyncio.to_thread(self._store.update_job, job_id, _cancel)
        return _to_job(record or self._record(job_id))

    async def find_fine_tune(
        self, credential: Credential, idempotency_key: str, *, timeout: float | None = None
    ) -> FineTuneJob | None:
        record = self._store.job(_job_id(idempotency_key))
        return _to_job(record) if record is not None else None

    async def wait_for_fine_tune(self, job_id: str, *, timeout: float = 300.0) -> FineTuneJob:
        """Wait until the job is terminal (joins the training thread when it runs here)."""
        deadline = time.monotonic() + timeout
        await self.retrieve_fine_tune(Credential(), job_id)
        await asyncio.to_thread(self._runner.join, job_id, timeout)
        while True:
            job = await self.retrieve_fine_tune(Credential(), job_id)
            if job.status.is_terminal or time.monotonic() >= deadline:
                return job
            await asyncio.sleep(_POLL_SECONDS)

    def _new_record(self, request: FineTuneRequest) -> JobRecord:
        if request.suffix is not None and not _SUFFIX.match(request.suffix):
            raise BadRequestError(
                "suffix may use letters, digits, '.', '_' and '-' (at most 40)", provider=self.kind
            )
        if request.hyperparameters.batch_size not in (None, local_model.BATCH_SIZE):
            raise BadRequestError(
                "hyperparameters.batch_size: the local trainer takes one SGD step per example, "
                f"so it must be {local_model.BATCH_SIZE} or auto",
                provider=self.kind,
            )
        if request.model != local_model.BASE_MODEL:
            self.model_manifest(request.model)
        for file_id in filter(None, (request.training_file, request.validation_file)):
            if not self._valid_id(file_id) or self._store.file_record(file_id) is None:
                raise ResourceNotFoundError(f"no uploaded file {file_id!r}", provider=self.kind)
        config = local_model.resolve(request.hyperparameters, request.seed)
        hyperparameters = request.hyperparameters.model_copy(
            update={
                "n_epochs": config.n_epochs,
                "batch_size": config.batch_size,
                "learning_rate_multiplier": config.learning_rate_multiplier,
            }
        )
        fingerprint = hashlib.sha256(
            request.model_dump_json(exclude={"idempotency_key"}).encode()
        ).hexdigest()
        return JobRecord(
            id=_job_id(request.idempotency_key),
            idempotency_key=request.idempotency_key,
            fingerprint=fingerprint,
            status=JobStatus.QUEUED,
            model=request.model,
            suffix=request.suffix,
            training_file=request.training_file,
            validation_file=request.validation_file,
            hyperparameters=hyperparameters,
            seed=config.seed,
            created_at=_now(),
        )

    def _record(self, job_id: str) -> JobRecord:
        record = self._store.job(job_id) if self._valid_id(job_id) else None
        if record is None:
            raise ResourceNotFoundError(f"no local fine-tune job {job_id!r}", provider=self.kind)
        return record

    async def _classifier(self, model_id: str) -> local_model.TextClassifier:
        if model_id == local_model.BASE_MODEL:
            raise BadRequestError(
                f"{model_id!r} is the untrained base model; fine-tune it to get one that answers",
                provider=self.kind,
            )
        manifest = self.model_manifest(model_id)
        key = (manifest.model_id, manifest.sha256)
        with self._models_lock:
            cached = self._models.get(key)
        if cached is not None:
            return cached
        return await asyncio.to_thread(self._load_once, key, manifest)

    def _load_once(
        self, key: tuple[str, str], manifest: ModelManifest
    ) -> local_model.TextClassifier:
        with self._loading:
            with self._models_lock:
                cached = self._models.get(key)
            if cached is not None:
                return cached  # loaded by the call this one waited for
            loaded = self._load(manifest)
            with self._models_lock:
                self._models[key] = loaded
            return loaded

    def _load(self, manifest: ModelManifest) -> local_model.TextClassifier:
        try:
            artifact = self._store.artifact(manifest.model_id)
        except FileNotFoundError as exc:
            raise ModelUnavailableError(
                f"artifact of {manifest.model_id!r} is missing", provider=self.kind
            ) from exc
        if hashlib.sha256(artifact).hexdigest() != manifest.sha256:
            raise ModelUnavailableError(
                f"artifact of {manifest.model_id!r} does not match its recorded sha256",
                provider=self.kind,
            )
        try:
            return local_model.loads(artifact)
        except ValueError as exc:
            raise ModelUnavailableError(
                f"artifact of {manifest.model_id!r} is unreadable: {exc}", provider=self.kind
            ) from exc

    @staticmethod
    def _valid_id(name: str) -> bool:
        return bool(name) and "/" not in name and not name.startswith(".")


def _job_id(idempotency_key: str) -> str:
    return f"ftjob-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}"


def _now() -> datetime:
    return datetime.now(UTC)


def _cancel(record: JobRecord) -> JobRecord | None:
    if record.status.is_terminal:
        return None
    return record.model_copy(
        update={
            "status": JobStatus.CANCELLED,
            "finished_at": _now(),
            "events": [*record.events, job_event(record, "Fine-tune cancelled")],
        }
    )


def _to_job(record: JobRecord) -> FineTuneJob:
    return FineTuneJob(
        id=record.id,
        provider=LocalAdapter.kind,
        status=record.status,
        raw_status=record.status.value,
        model=record.model,
        trained_model_id=record.trained_model_id,
        progress=record.progress,
        error=record.error,
        created_at=record.created_at,
        finished_at=record.finished_at,
        training_file=record.training_file,
        validation_file=record.validation_file,
        hyperparameters=record.hyperparameters,
        seed=record.seed,
        trained_tokens=record.trained_tokens,
        idempotency_key=record.idempotency_key,
        events=tuple(record.events),
    )
