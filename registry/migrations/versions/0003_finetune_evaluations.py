"""fine-tune jobs and evaluations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:25:43.753880
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("dataset_name", sa.String(length=256), nullable=False),
        sa.Column("dataset_uri", sa.String(length=1024), nullable=False),
        sa.Column("dataset_sha256", sa.String(length=64), nullable=False),
        sa.Column("examples", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=False),
        sa.Column("accuracy_low", sa.Float(), nullable=False),
        sa.Column("accuracy_high", sa.Float(), nullable=False),
        sa.Column("latency_p50_ms", sa.Float(), nullable=False),
        sa.Column("latency_p95_ms", sa.Float(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("champion_version_id", sa.Integer(), nullable=True),
        sa.Column(
            "comparison",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "gates",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["champion_version_id"],
            ["model_versions.id"],
            name=op.f("fk_evaluations_champion_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_evaluations_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_evaluations_team_id_teams")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_evaluations_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
    )
    op.create_index(op.f("ix_evaluations_team_id"), "evaluations", ["team_id"], unique=False)
    op.create_index(op.f("ix_evaluations_version_id"), "evaluations", ["version_id"], unique=False)
    op.create_table(
        "fine_tune_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("parent_version_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("provider_job_id", sa.String(length=256), nullable=True),
        sa.Column("provider_key_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("base_model", sa.String(length=256), nullable=False),
        sa.Column("dataset_uri", sa.String(length=1024), nullable=False),
        sa.Column("dataset_sha256", sa.String(length=64), nullable=False),
        sa.Column("training_file_id", sa.String(length=256), nullable=True),
        sa.Column(
            "hyperparameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("trained_model_id", sa.String(length=256), nullable=True),
        sa.Column("result_version_id", sa.Integer(), nullable=True),
        sa.Column(
            "events",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_fine_tune_jobs_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["parent_version_id"],
            ["model_versions.id"],
            name=op.f("fk_fine_tune_jobs_parent_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["result_version_id"],
            ["model_versions.id"],
            name=op.f("fk_fine_tune_jobs_result_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_fine_tune_jobs_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fine_tune_jobs")),
        sa.UniqueConstraint("team_id", "idempotency_key", name=op.f("uq_fine_tune_jobs_team_id")),
    )
    op.create_index(op.f("ix_fine_tune_jobs_team_id"), "fine_tune_jobs", ["team_id"], unique=False)
    op.create_table(
        "evaluation_examples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("example_sha256", sa.String(length=64), nullable=False),
        sa.Column("expected", sa.String(length=256), nullable=False),
        sa.Column("predicted", sa.String(length=256), nullable=True),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_evaluation_examples_evaluation_id_evaluations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_examples")),
    )
    op.create_index(
        op.f("ix_evaluation_examples_evaluation_id"),
        "evaluation_examples",
        ["evaluation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_evaluation_examples_evaluation_id"), table_name="evaluation_examples")
    op.drop_table("evaluation_examples")
    op.drop_index(op.f("ix_fine_tune_jobs_team_id"), table_name="fine_tune_jobs")
    op.drop_table("fine_tune_jobs")
    op.drop_index(op.f("ix_evaluations_version_id"), table_name="evaluations")
    op.drop_index(op.f("ix_evaluations_team_id"), table_name="evaluations")
    op.drop_table("evaluations")
