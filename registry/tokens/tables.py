"""ORM rows of team API tokens: the SHA-256 of each token, never the token itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm import Base, JsonDocument, UTCDateTime, partial_index, utcnow


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (
        # A label names one live token per team; a revoked token's label can be reused.
        partial_index(
            "uq_api_tokens_live_label", "team_id", "label", unique=True, where="revoked_at IS NULL"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
