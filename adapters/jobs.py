"""Standard models for uploaded files and fine-tune jobs, with one normalised job status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue

__all__ = [
    "EventLevel",
    "FilePurpose",
    "FineTuneCheckpoint",
    "FineTuneEvent",
    "FineTuneJob",
    "FineTuneRequest",
    "Hyperparameters",
    "JobError",
    "JobStatus",
    "UploadedFile",
    "progress_from_events",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class JobStatus(StrEnum):
    """Where an asynchronous provider job is; the provider's own word is kept as raw_status."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}


class FilePurpose(StrEnum):
    FINE_TUNE = "fine-tune"


class UploadedFile(BaseModel):
    model_config = _FROZEN

    id: str
    filename: str
    bytes: int = Field(ge=0)
    purpose: FilePurpose
    created_at: datetime | None = None


class Hyperparameters(BaseModel):
    """OpenAI's supervised hyperparameters; `None` means "auto" (the provider chooses)."""

    model_config = _FROZEN

    n_epochs: int | None = Field(default=None, ge=1, le=50)
    batch_size: int | None = Field(default=None, ge=1, le=256)
    learning_rate_multiplier: float | None = Field(default=None, gt=0.0, le=10.0)


class FineTuneRequest(BaseModel):
    """Create a fine-tune of `model` (a base model or a parent's fine-tuned model id).

    `idempotency_key` makes create safe to repeat: the same key never makes a second job.
    """

    model_config = _FROZEN

    model: str = Field(min_length=1, max_length=256)
    training_file: str = Field(min_length=1, max_length=256)
    validation_file: str | None = Field(default=None, min_length=1, max_length=256)
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    suffix: str | None = Field(default=None, min_length=1, max_length=64)
    idempotency_key: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")


class JobError(BaseModel):
    model_config = _FROZEN

    code: str
    message: str
    param: str | None = None


class EventLevel(StrEnum):
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class FineTuneEvent(BaseModel):
    model_config = _FROZEN

    id: str
    created_at: datetime
    level: EventLevel
    message: str
    type: str | None = None  # "message" or "metrics" at OpenAI
    data: dict[str, JsonValue] | None = None


class FineTuneCheckpoint(BaseModel):
    model_config = _FROZEN

    id: str
    created_at: datetime
    step_number: int = Field(ge=0)
    provider_model_id: str
    metrics: dict[str, float] = Field(default_factory=dict)


class FineTuneJob(BaseModel):
    """A provider's fine-tune job as last seen; `trained_model_id` is set once it succeeded."""

    model_config = _FROZEN

    id: str
    provider: str
    status: JobStatus
    raw_status: str
    model: str
    trained_model_id: str | None = None
    progress: float | None = Field(default=None, ge=0.0, le=1.0)
    error: JobError | None = None
    created_at: datetime
    finished_at: datetime | None = None
    training_file: str
    validation_file: str | None = None
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    seed: int | None = None
    trained_tokens: int | None = None
    idempotency_key: str | None = None
    events: tuple[FineTuneEvent, ...] = ()


def progress_from_events(events: Sequence[FineTuneEvent]) -> float | None:
    """Fraction of steps done, from the newest metrics event carrying `step`/`total_steps`."""
    for event in reversed(events):
        data = event.data or {}
        step, total = data.get("step"), data.get("total_steps")
        if isinstance(step, int | float) and isinstance(total, int | float) and total > 0:
            return min(1.0, max(0.0, float(step) / float(total)))
    return None
