"""ORM rows of outcomes, feedback waiting for its outcome, and the per-minute rollups.

These are high-volume event tables: they carry `team_id`, `endpoint_id` and
`model_version_id` as plain integers, without foreign keys. A foreign key would cost a
lookup per inserted row and a lock on the parent, and would tie ingest to tables that
endpoints and versions own; outcomes are facts about the past and outlive what they name.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm import Base, JsonDocument, NullableJson, UTCDateTime, utcnow

# Sums of squares and of scores: NUMERIC on PostgreSQL, so that a window's sums do not
# depend on the order rows were added (exactly equal to sums over raw rows); SQLite has
# only doubles.
ExactNumber = Numeric(asdecimal=False).with_variant(Float(), "sqlite")


class HistogramMetric(StrEnum):
    LATENCY = "latency"
    TTFT = "ttft"


class OutcomeRow(Base):
    """One request served or reported. The request id is unique across the database."""

    __tablename__ = "outcomes"
    __table_args__ = (
        # BRIN: a few pages for millions of time-ordered rows, nearly free to maintain.
        Index("ix_outcomes_at", "at", postgresql_using="brin"),
    )

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[int] = mapped_column(Integer)
    endpoint_id: Mapped[int] = mapped_column(Integer)
    model_version_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    latency_us: Mapped[int] = mapped_column(BigInteger)
    ttft_us: Mapped[int | None] = mapped_column(BigInteger)
    success: Mapped[bool] = mapped_column(Boolean)
    error_class: Mapped[str | None] = mapped_column(String(64))
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    cached_input_tokens: Mapped[int] = mapped_column(Integer)
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger)
    price_id: Mapped[int | None] = mapped_column(Integer)
    routing_key_hash: Mapped[int | None] = mapped_column(BigInteger)
    quality: Mapped[float | None] = mapped_column(Float)
    # Without custom metrics: SQL NULL (what COPY writes), not JSON null.
    metrics: Mapped[dict[str, Any] | None] = mapped_column(NullableJson)
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_key_id: Mapped[int | None] = mapped_column(Integer)


class PendingFeedbackRow(Base):
    """Feedback whose outcome is not stored yet (still in a gateway's spool, or in flight)."""

    __tablename__ = "outcome_feedback_pending"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quality: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class _RollupKey:
    """(team, endpoint, minute, version): the grain of every rollup table."""

    # sort_order puts these first, so every primary key starts (team, endpoint, minute).
    team_id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-4)
    endpoint_id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-3)
    minute: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True, sort_order=-2)
    model_version_id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-1)


class OutcomeRollupRow(_RollupKey, Base):
    """Counts and sums of one version's outcomes in one minute; windows are sums of rows."""

    __tablename__ = "outcome_rollups"

    requests: Mapped[int] = mapped_column(BigInteger)
    successes: Mapped[int] = mapped_column(BigInteger)
    latency_sum_us: Mapped[int] = mapped_column(BigInteger)
    latency_sum_sq_us2: Mapped[float] = mapped_column(ExactNumber)
    ttft_n: Mapped[int] = mapped_column(BigInteger)
    ttft_sum_us: Mapped[int] = mapped_column(BigInteger)
    ttft_sum_sq_us2: Mapped[float] = mapped_column(ExactNumber)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger)
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger)
    cost_sum_sq_micro_usd2: Mapped[float] = mapped_column(ExactNumber)
    quality_n: Mapped[int] = mapped_column(BigInteger)
    quality_sum: Mapped[float] = mapped_column(ExactNumber)
    quality_sum_sq: Mapped[float] = mapped_column(ExactNumber)


class RollupHistogramRow(_RollupKey, Base):
    """How many outcomes of the minute fell in one log bucket (see `histogram`)."""

    __tablename__ = "outcome_rollup_histograms"
    __table_args__ = (
        CheckConstraint(
            "metric IN (" + ", ".join(f"'{m.value}'" for m in HistogramMetric) + ")",
            name="metric_known",
        ),
    )

    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class RollupErrorRow(_RollupKey, Base):
    __tablename__ = "outcome_rollup_errors"

    error_class: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class RollupMetricRow(_RollupKey, Base):
    """n, sum and sum of squares of one named custom metric in the minute."""

    __tablename__ = "outcome_rollup_metrics"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    sum: Mapped[float] = mapped_column(ExactNumber)
    sum_sq: Mapped[float] = mapped_column(ExactNumber)
