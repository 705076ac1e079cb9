"""What the generation-job registry hands out and takes: jobs, their results, the timing
rules of polling, and the verdicts on incoming webhooks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field, JsonValue

from registry.domain import Frozen

PUBLIC_ID_PREFIX = "genjob_"
MAX_IDEMPOTENCY_KEY = 128
MAX_CALLBACK_URL = 2048


class JobStatus(StrEnum):
    """A generation job's standardized state; it only ever moves forward."""

    PENDING = "pending"  # accepted here, not yet running at the provider
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}

    @property
    def rank(self) -> int:
        """Order of progress: pending 0, processing 1, any end 2."""
        return 2 if self.is_terminal else (1 if self is JobStatus.PROCESSING else 0)


class ResultAsset(Frozen):
    """One output: a provider URL, or content stored here (`sha256` names the artifact), or
    text. `url` is set for provider URLs only; stored content is served by the gateway."""

    url: str | None = None
    stored: bool = False
    content_type: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    duration_seconds: float | None = None
    text: str | None = None


class JobFailure(Frozen):
    code: str = Field(max_length=64)
    message: str = Field(max_length=4000)


class NewGenerationJob(Frozen):
    """What is known before the provider is called: the route, the standardized request."""

    public_id: str
    endpoint_id: int
    model_version_id: int
    version: int
    provider: str
    provider_model_id: str
    category: str
    idempotency_key: str = Field(min_length=1, max_length=MAX_IDEMPOTENCY_KEY)
    request: dict[str, JsonValue]
    request_sha256: str
    callback_url: str | None = Field(default=None, max_length=MAX_CALLBACK_URL)


class GenerationJobRecord(Frozen):
    id: int
    public_id: str
    team_id: int
    endpoint_id: int
    model_version_id: int
    version: int
    provider: str
    provider_model_id: str
    category: str
    idempotency_key: str
    request: dict[str, JsonValue]
    request_sha256: str
    status: JobStatus
    raw_status: str | None
    provider_job_id: str | None
    provider_key_id: int | None
    attempts: int
    submitted_at: datetime | None  # the current attempt was sent (or was about to be)
    progress: float | None
    result: list[ResultAsset]
    error: JobFailure | None
    callback_url: str | None
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    finished_at: datetime | None
    last_heard_at: datetime | None
    next_poll_at: datetime | None
    expires_at: datetime
    confirm_by: datetime | None

    @property
    def in_doubt(self) -> bool:
        """Sent, but the provider's answer was never recorded (a crash, a timeout)."""
        return self.provider_job_id is None and self.submitted_at is not None

    @property
    def unsent(self) -> bool:
        return self.provider_job_id is None and self.submitted_at is None


class Observation(Frozen):
    """What the provider says about a job now (by poll or by webhook), results stored."""

    status: JobStatus
    raw_status: str | None = None
    progress: float | None = None
    result: list[ResultAsset] = Field(default_factory=list)
    error: JobFailure | None = None
    poll_after_seconds: float | None = None


class JobTiming(Frozen):
    """When to poll a job that has heard nothing, and when to give up on it."""

    first_poll_seconds: float = Field(default=30.0, gt=0)  # after the provider accepted it
    quiet_seconds: float = Field(default=60.0, gt=0)  # a webhook pushes the next poll this far
    max_poll_interval_seconds: float = Field(default=600.0, gt=0)
    max_age_seconds: float = Field(default=86_400.0, gt=0)  # then the job fails
    confirm_seconds: float = Field(default=900.0, gt=0)  # for a create in doubt to be confirmed
    lease_seconds: float = Field(default=120.0, gt=0)  # a poller's claim on a due job


class WebhookVerdict(StrEnum):
    """What became of one incoming webhook. Only `accepted` (and `duplicate` of an event not
    yet applied) may change a job."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # its webhook id was seen before
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"  # signed, but its timestamp is outside the tolerance window
    MALFORMED = "malformed"
    UNKNOWN_JOB = "unknown_job"  # verified, but names no job of the team
    JOB_MISMATCH = "job_mismatch"  # its job tag and the provider's job id disagree
    NO_SECRET = "no_secret"  # no team holds a webhook secret for this provider
    TOO_LARGE = "too_large"
    UNKNOWN_PROVIDER = "unknown_provider"

    @property
    def verified(self) -> bool:
        return self in {
            WebhookVerdict.ACCEPTED,
            WebhookVerdict.DUPLICATE,
            WebhookVerdict.UNKNOWN_JOB,
            WebhookVerdict.JOB_MISMATCH,
        }


class WebhookEventRecord(Frozen):
    id: int
    provider: str
    verdict: WebhookVerdict
    webhook_id: str | None
    team_id: int | None
    job_id: int | None
    provider_job_id: str | None
    detail: str
    payload: bytes
    payload_truncated: bool
    changes: dict[str, JsonValue]
    received_at: datetime
    applied_at: datetime | None


class SecretPurpose(StrEnum):
    PROVIDER = "provider"  # verifies webhooks a provider sends us
    CALLBACK = "callback"  # signs the notices we send to a job's callback URL


class WebhookSecretInfo(Frozen):
    """A stored webhook secret, as listings show it: never the secret itself."""

    id: int
    purpose: SecretPurpose
    scope: str  # the provider name, or "" (the team) / "endpoint:<name>" for callbacks
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class CallbackStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    GAVE_UP = "gave_up"  # every retry failed, or the receiver answered 410 Gone
