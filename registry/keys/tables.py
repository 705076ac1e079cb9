"""ORM rows of the key pool: provider keys (ciphertext only), their event log, model cooldowns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
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

from registry.keys.domain import KeyStatus
from registry.orm import Base, JsonDocument, UTCDateTime, utcnow
from registry.tables import BigId

_STATUSES = ", ".join(f"'{status.value}'" for status in KeyStatus)


class ProviderKeyRow(Base):
    """One API key of a team for a provider. The secret exists only as AES-GCM ciphertext."""

    __tablename__ = "provider_keys"
    __table_args__ = (
        UniqueConstraint("team_id", "provider_id", "label"),
        CheckConstraint(f"status IN ({_STATUSES})", name="status_known"),
        Index("ix_provider_keys_team_id_provider_id", "team_id", "provider_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    label: Mapped[str] = mapped_column(String(64))
    last4: Mapped[str] = mapped_column(String(4))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    dek_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    kek_version: Mapped[str] = mapped_column(String(32))
    kek_fingerprint: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=KeyStatus.ACTIVE.value)
    cooldown_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    request_count: Mapped[int] = mapped_column(Integer, default=0)
    success_count: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms_total: Mapped[float] = mapped_column(Float, default=0.0)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error_class: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class KeyEventRow(Base):
    """Append-only log of what happened to keys; PostgreSQL refuses UPDATE and DELETE."""

    __tablename__ = "key_events"
    __table_args__ = (
        Index("ix_key_events_team_id_id", "team_id", "id"),
        Index("ix_key_events_key_id_id", "key_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    key_id: Mapped[int] = mapped_column(ForeignKey("provider_keys.id"))
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ModelCooldownRow(Base):
    """A model cooling on a provider for a team (5xx, overload), whatever key is used."""

    __tablename__ = "model_cooldowns"
    __table_args__ = (UniqueConstraint("team_id", "provider_id", "provider_model_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    provider_model_id: Mapped[str] = mapped_column(String(256))
    cooldown_until: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
