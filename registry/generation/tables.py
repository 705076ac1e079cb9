"""ORM rows of generation jobs: the job, the provider webhooks received (raw, with their
verdict), the callback notices owed to clients, and the webhook secrets (ciphertext only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.generation.domain import CallbackStatus, JobStatus, SecretPurpose, WebhookVerdict
from registry.orm import Base, JsonDocument, NullableJson, UTCDateTime, utcnow
from registry.tables import BigId


def _one_of(values: type[JobStatus | WebhookVerdict | CallbackStatus | SecretPurpose]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


class GenerationJobRow(Base):
    __tablename__ = "generation_jobs"
    __table_args__ = (
        UniqueConstraint("team_id", "idempotency_key"),
        UniqueConstraint("public_id"),
        # A provider's job is one job here: a webhook or a lookup can never adopt it twice.
        UniqueConstraint("provider", "provider_job_id"),
        CheckConstraint(f"status IN ({_one_of(JobStatus)})", name="status_known"),
        Index("ix_generation_jobs_status_next_poll_at", "status", "next_poll_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    version: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(64))
    provider_model_id: Mapped[str] = mapped_column(String(256))
    category: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING.value)
    raw_status: Mapped[str | None] = mapped_column(String(64))
    provider_job_id: Mapped[str | None] = mapped_column(String(256))
    # The key that created the provider's job: polling, cancel and downloads use it.
    provider_key_id: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Written before each attempt is sent: with no provider job id, the create is in doubt.
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    progress: Mapped[float | None] = mapped_column(Float)
    result: Mapped[list[Any]] = mapped_column(JsonDocument, default=list)
    # A job without an error holds SQL NULL, not JSON null.
    error: Mapped[dict[str, Any] | None] = mapped_column(NullableJson)
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_heard_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirm_by: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookEventRow(Base):
    """One incoming provider webhook, whatever became of it: raw payload (bounded), verdict,
    and what it changed. `dedup_key` is set for verified events only, so a forged delivery
    can never take a real webhook's id first."""

    __tablename__ = "generation_webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "dedup_key"),
        CheckConstraint(f"verdict IN ({_one_of(WebhookVerdict)})", name="verdict_known"),
        Index("ix_generation_webhook_events_job_id", "job_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(24))
    webhook_id: Mapped[str | None] = mapped_column(String(256))
    dedup_key: Mapped[str | None] = mapped_column(String(256))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("generation_jobs.id"))
    provider_job_id: Mapped[str | None] = mapped_column(String(256))
    detail: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CallbackRow(Base):
    """The signed notice owed to a job's callback URL when the job ends: one per job, with
    its delivery attempts."""

    __tablename__ = "generation_callbacks"
    __table_args__ = (
        UniqueConstraint("job_id"),
        CheckConstraint(f"status IN ({_one_of(CallbackStatus)})", name="status_known"),
        Index("ix_generation_callbacks_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    job_id: Mapped[int] = mapped_column(ForeignKey("generation_jobs.id"))
    url: Mapped[str] = mapped_column(String(2048))
    webhook_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default=CallbackStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempt_log: Mapped[list[Any]] = mapped_column(JsonDocument, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookSecretRow(Base):
    """A webhook secret of a team: one a provider signs with (scope = provider name), or one
    we sign callbacks with (scope "" for the team, "endpoint:<id>" for one endpoint).
    Several may be live during a rotation; `expires_at` ends the overlap."""

    __tablename__ = "webhook_secrets"
    __table_args__ = (
        UniqueConstraint("team_id", "purpose", "scope", "label"),
        CheckConstraint(f"purpose IN ({_one_of(SecretPurpose)})", name="purpose_known"),
        Index("ix_webhook_secrets_purpose_scope", "purpose", "scope"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(160))
    label: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    dek_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    kek_version: Mapped[str] = mapped_column(String(32))
    kek_fingerprint: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
