"""The local provider's files on disk, shared by every process that points at the same data_dir.

<data_dir>/local/files/<file-id>.jsonl    uploaded training data (id = sha256 of content)
<data_dir>/local/jobs/<job-id>.json       job record, replaced atomically on every change
<data_dir>/local/jobs/<job-id>.lock       flock held briefly around read-modify-write
<data_dir>/local/jobs/<job-id>.run        flock held by whichever process is training it
<data_dir>/local/models/<model-id>.npz    the trained model as numpy arrays (see model.py)
<data_dir>/local/models/<model-id>.json   manifest: sha256, parent, data, hyperparameters
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, Field

from adapters.jobs import FineTuneCheckpoint, FineTuneEvent, Hyperparameters, JobError, JobStatus

__all__ = ["FileRecord", "JobRecord", "LocalStore", "ModelManifest", "RunLock"]


class FileRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    filename: str
    bytes: int
    sha256: str
    created_at: datetime


class JobRecord(BaseModel):
    """Everything about a local fine-tune job; the file is the job's single source of truth."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    idempotency_key: str
    fingerprint: str  # sha256 of the request, so a reused key with other parameters is refused
    status: JobStatus
    model: str
    suffix: str | None = None
    training_file: str
    validation_file: str | None = None
    hyperparameters: Hyperparameters  # "auto" already resolved
    seed: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    attempts: int = 0
    progress: float = 0.0
    trained_model_id: str | None = None
    trained_tokens: int | None = None
    error: JobError | None = None
    events: list[FineTuneEvent] = Field(default_factory=list)
    checkpoints: list[FineTuneCheckpoint] = Field(default_factory=list)


class ModelManifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str
    sha256: str
    base_model: str
    parent_model_id: str | None
    job_id: str
    labels: list[str]
    examples: int  # in this job's file; a fine-tune starts from its parent's weights
    training_files: list[str]
    hyperparameters: Hyperparameters
    seed: int
    metrics: dict[str, float]
    created_at: datetime


class RunLock:
    """An exclusive flock on a job's .run file; the OS drops it if the process dies."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def release(self) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("files", "jobs", "models"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    # files

    def save_file(self, content: bytes, filename: str, now: datetime) -> FileRecord:
        digest = hashlib.sha256(content).hexdigest()
        record = FileRecord(
            id=f"file-{digest[:24]}",
            filename=filename,
            bytes=len(content),
            sha256=digest,
            created_at=now,
        )
        if not self._path("files", record.id, ".json").exists():
            _write_atomic(self._path("files", record.id, ".jsonl"), content)
            _write_atomic(
                self._path("files", record.id, ".json"), record.model_dump_json().encode()
            )
        return self.file_record(record.id) or record

    def file_record(self, file_id: str) -> FileRecord | None:
        path = self._path("files", file_id, ".json")
        return FileRecord.model_validate_json(path.read_bytes()) if path.exists() else None

    def file_content(self, file_id: str) -> bytes:
        return self._path("files", file_id, ".jsonl").read_bytes()

    # jobs

    def job(self, job_id: str) -> JobRecord | None:
        path = self._path("jobs", job_id, ".json")
        return JobRecord.model_validate_json(path.read_bytes()) if path.exists() else None

    def create_job(self, record: JobRecord) -> tuple[JobRecord, bool]:
        """Write the record unless the job exists; return the stored one and whether it is new."""
        with self._record_lock(record.id):
            existing = self.job(record.id)
            if existing is not None:
                return existing, False
            self._put_job(record)
            return record, True

    def update_job(
        self, job_id: str, change: Callable[[JobRecord], JobRecord | None]
    ) -> JobRecord | None:
        """Apply `change` under the job's lock; a None from it leaves the record as it was."""
        with self._record_lock(job_id):
            current = self.job(job_id)
            if current is None:
                return None
            updated = change(current)
            if updated is not None:
                self._put_job(updated)
            return updated or current

    def try_run_lock(self, job_id: str) -> RunLock | None:
        handle = self._path("jobs", job_id, ".run").open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        return RunLock(handle)

    def is_training(self, job_id: str) -> bool:
        """Whether some live process holds the job's run lock."""
        lock = self.try_run_lock(job_id)
        if lock is None:
            return True
        lock.release()
        return False

    # models

    def save_model(self, artifact: bytes, manifest: ModelManifest) -> Path:
        path = self._path("models", manifest.model_id, ".npz")
        _write_atomic(path, artifact)
        _write_atomic(
            self._path("models", manifest.model_id, ".json"), manifest.model_dump_json().encode()
        )
        return path

    def manifest(self, model_id: str) -> ModelManifest | None:
        path = self._path("models", model_id, ".json")
        return ModelManifest.model_validate_json(path.read_bytes()) if path.exists() else None

    def artifact(self, model_id: str) -> bytes:
        return self._path("models", model_id, ".npz").read_bytes()

    def delete_model(self, model_id: str) -> None:
        for suffix in (".json", ".npz"):
            self._path("models", model_id, suffix).unlink(missing_ok=True)

    def artifact_path(self, model_id: str) -> Path:
        return self._path("models", model_id, ".npz")

    def _put_job(self, record: JobRecord) -> None:
        _write_atomic(self._path("jobs", record.id, ".json"), record.model_dump_json().encode())

    @contextmanager
    def _record_lock(self, job_id: str) -> Iterator[None]:
        with self._path("jobs", job_id, ".lock").open("ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _path(self, kind: str, name: str, suffix: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"not a valid id: {name!r}")
        return self.root / kind / f"{name}{suffix}"


def _write_atomic(path: Path, content: bytes) -> None:
    """Readers see the old file or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)
