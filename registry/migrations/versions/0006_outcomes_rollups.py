"""outcomes and their per-minute rollups

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

EXACT = sa.Numeric(asdecimal=False).with_variant(sa.Float(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
NULLABLE_JSON = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
)
ROLLUP_KEY = ("team_id", "endpoint_id", "minute", "model_version_id")


def _rollup_key() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latency_us", sa.BigInteger(), nullable=False),
        sa.Column("ttft_us", sa.BigInteger(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("error_class", sa.String(length=64), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_input_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_micro_usd", sa.BigInteger(), nullable=False),
        sa.Column("price_id", sa.Integer(), nullable=True),
        sa.Column("routing_key_hash", sa.BigInteger(), nullable=True),
        sa.Column("quality", sa.Float(), nullable=True),
        sa.Column("metrics", NULLABLE_JSON, nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_outcomes")),
    )
    op.create_index("ix_outcomes_at", "outcomes", ["at"], unique=False, postgresql_using="brin")
    op.create_table(
        "outcome_feedback_pending",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=True),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "team_id", name=op.f("pk_outcome_feedback_pending")),
    )
    op.create_index(
        op.f("ix_outcome_feedback_pending_received_at"),
        "outcome_feedback_pending",
        ["received_at"],
        unique=False,
    )
    op.create_table(
        "outcome_rollups",
        *_rollup_key(),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("successes", sa.BigInteger(), nullable=False),
        sa.Column("latency_sum_us", sa.BigInteger(), nullable=False),
        sa.Column("latency_sum_sq_us2", EXACT, nullable=False),
        sa.Column("ttft_n", sa.BigInteger(), nullable=False),
        sa.Column("ttft_sum_us", sa.BigInteger(), nullable=False),
        sa.Column("ttft_sum_sq_us2", EXACT, nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_micro_usd", sa.BigInteger(), nullable=False),
        sa.Column("quality_n", sa.BigInteger(), nullable=False),
        sa.Column("quality_sum", EXACT, nullable=False),
        sa.Column("quality_sum_sq", EXACT, nullable=False),
        sa.PrimaryKeyConstraint(*ROLLUP_KEY, name=op.f("pk_outcome_rollups")),
    )
    op.create_table(
        "outcome_rollup_histograms",
        *_rollup_key(),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "metric IN ('latency', 'ttft')",
            name=op.f("ck_outcome_rollup_histograms_metric_known"),
        ),
        sa.PrimaryKeyConstraint(
            *ROLLUP_KEY, "metric", "bucket", name=op.f("pk_outcome_rollup_histograms")
        ),
    )
    op.create_table(
        "outcome_rollup_errors",
        *_rollup_key(),
        sa.Column("error_class", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*ROLLUP_KEY, "error_class", name=op.f("pk_outcome_rollup_errors")),
    )
    op.create_table(
        "outcome_rollup_metrics",
        *_rollup_key(),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("sum", EXACT, nullable=False),
        sa.Column("sum_sq", EXACT, nullable=False),
        sa.PrimaryKeyConstraint(*ROLLUP_KEY, "name", name=op.f("pk_outcome_rollup_metrics")),
    )


def downgrade() -> None:
    op.drop_table("outcome_rollup_metrics")
    op.drop_table("outcome_rollup_errors")
    op.drop_table("outcome_rollup_histograms")
    op.drop_table("outcome_rollups")
    op.drop_index(
        op.f("ix_outcome_feedback_pending_received_at"), table_name="outcome_feedback_pending"
    )
    op.drop_table("outcome_feedback_pending")
    op.drop_index("ix_outcomes_at", table_name="outcomes")
    op.drop_table("outcomes")
