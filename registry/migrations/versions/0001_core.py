"""core registry: teams, providers, models, versions, ledger, approvals

Revision ID: 0001
Revises:
Create Date: 2026-11-22 05:14:09.776927
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# The ledger is append-only: PostgreSQL refuses UPDATE and DELETE on it outright,
# so no code path (or person with psql) can rewrite history.
LEDGER_GUARD_FUNCTION = """
CREATE FUNCTION stage_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'stage_ledger is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
LEDGER_GUARD_TRIGGER = """
CREATE TRIGGER stage_ledger_append_only
BEFORE UPDATE OR DELETE OR TRUNCATE ON stage_ledger
FOR EACH STATEMENT EXECUTE FUNCTION stage_ledger_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("base_url", sa.String(length=512), nullable=True),
        sa.Column(
            "options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source_file", sa.String(length=512), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
        sa.UniqueConstraint("name", name=op.f("uq_providers_name")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("base_model", sa.String(length=256), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "cost",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "policy",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "rollout",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source_file", sa.String(length=512), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_models_provider_id_providers")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_models_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("team_id", "name", name=op.f("uq_models_team_id")),
    )
    op.create_index(op.f("ix_models_team_id"), "models", ["team_id"], unique=False)
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("provider_model_id", sa.String(length=256), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("parent_version_id", sa.Integer(), nullable=True),
        sa.Column("dataset_uri", sa.String(length=1024), nullable=True),
        sa.Column("dataset_sha256", sa.String(length=64), nullable=True),
        sa.Column(
            "hyperparameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("fine_tune_job_id", sa.String(length=256), nullable=True),
        sa.Column("provider_key_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "stage IN ('development', 'testing', 'staging', 'production', 'archived', 'rejected')",
            name=op.f("ck_model_versions_stage_known"),
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_model_versions_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["parent_version_id"],
            ["model_versions.id"],
            name=op.f("fk_model_versions_parent_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_model_versions_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("model_id", "version", name=op.f("uq_model_versions_model_id")),
    )
    op.create_index(op.f("ix_model_versions_team_id"), "model_versions", ["team_id"], unique=False)
    op.create_index(
        "uq_model_versions_one_production",
        "model_versions",
        ["model_id"],
        unique=True,
        postgresql_where=sa.text("stage = 'production'"),
        sqlite_where=sa.text("stage = 'production'"),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("target_stage", sa.String(length=16), nullable=False),
        sa.Column("requester", sa.String(length=128), nullable=False),
        sa.Column(
            "approvers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("min_approvals", sa.Integer(), nullable=False),
        sa.Column("four_eyes", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_approvals_model_id_models")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_approvals_team_id_teams")),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_approvals_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )
    op.create_index(op.f("ix_approvals_team_id"), "approvals", ["team_id"], unique=False)
    op.create_table(
        "stage_ledger",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_stage", sa.String(length=16), nullable=True),
        sa.Column("to_stage", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_stage_ledger_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_stage_ledger_team_id_teams")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_stage_ledger_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_ledger")),
    )
    op.create_index("ix_stage_ledger_model_id_id", "stage_ledger", ["model_id", "id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(LEDGER_GUARD_FUNCTION)
        op.execute(LEDGER_GUARD_TRIGGER)
    op.create_table(
        "approval_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=128), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approvals.id"],
            name=op.f("fk_approval_decisions_approval_id_approvals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_decisions")),
        sa.UniqueConstraint(
            "approval_id", "reviewer", name=op.f("uq_approval_decisions_approval_id")
        ),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER stage_ledger_append_only ON stage_ledger")
        op.execute("DROP FUNCTION stage_ledger_append_only()")
    op.drop_table("approval_decisions")
    op.drop_index("ix_stage_ledger_model_id_id", table_name="stage_ledger")
    op.drop_table("stage_ledger")
    op.drop_index(op.f("ix_approvals_team_id"), table_name="approvals")
    op.drop_table("approvals")
    op.drop_index(
        "uq_model_versions_one_production",
        table_name="model_versions",
        postgresql_where=sa.text("stage = 'production'"),
        sqlite_where=sa.text("stage = 'production'"),
    )
    op.drop_index(op.f("ix_model_versions_team_id"), table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_index(op.f("ix_models_team_id"), table_name="models")
    op.drop_table("models")
    op.drop_table("teams")
    op.drop_table("providers")
