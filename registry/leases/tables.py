"""ORM rows of key leases: which token got which key for which request, never the key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm import Base, UTCDateTime, utcnow


class KeyLeaseRow(Base):
    __tablename__ = "key_leases"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("provider_keys.id"), index=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    leased_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
