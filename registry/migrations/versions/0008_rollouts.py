"""rollouts, their steps, measurements and decisions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = "'pending', 'progressing', 'paused', 'succeeded', 'rolled_back', 'failed'"
STRATEGIES = "'direct', 'rolling', 'canary', 'blue-green', 'shadow'"
VERDICTS = "'pass', 'fail', 'inconclusive'"
DECISIONS = (
    "'start', 'advance', 'hold', 'pause', 'resume', 'rollback', 'promote', 'report', "
    "'switch', 'fail'"
)
APPEND_ONLY = ("rollout_measurements", "rollout_decisions")

# Measurements and decisions are the evidence a rollout's outcome stands on: never rewritten.
GUARD_FUNCTION = """
CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
GUARD_TRIGGER = """
CREATE TRIGGER {table}_append_only
BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()
"""


def upgrade() -> None:
    _rollouts()
    _measurements()
    _decisions()
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(GUARD_FUNCTION.format(table=table))
            op.execute(GUARD_TRIGGER.format(table=table))


def _rollouts() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("policy", JSON, nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("step_started_at", UTC, nullable=True),
        sa.Column("step_offset", JSON, nullable=False),
        sa.Column("prior_baseline", JSON, nullable=True),
        sa.Column("routes_before", JSON, nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("started_at", UTC, nullable=True),
        sa.Column("finished_at", UTC, nullable=True),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_rollouts_status_known")),
        sa.CheckConstraint(f"strategy IN ({STRATEGIES})", name=op.f("ck_rollouts_strategy_known")),
        sa.ForeignKeyConstraint(
            ["approval_id"], ["approvals.id"], name=op.f("fk_rollouts_approval_id_approvals")
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_rollouts_endpoint_id_endpoints")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_rollouts_model_id_models")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_rollouts_team_id_teams")),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_rollouts_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
    )
    op.create_index(op.f("ix_rollouts_endpoint_id"), "rollouts", ["endpoint_id"], unique=False)
    op.create_index("ix_rollouts_team_id_status", "rollouts", ["team_id", "status"], unique=False)


def _measurements() -> None:
    op.create_table(
        "rollout_measurements",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("window_start", UTC, nullable=False),
        sa.Column("arms", JSON, nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("checks", JSON, nullable=False),
        sa.CheckConstraint(
            f"verdict IN ({VERDICTS})", name=op.f("ck_rollout_measurements_verdict_known")
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            name=op.f("fk_rollout_measurements_rollout_id_rollouts"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_rollout_measurements_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_measurements")),
        sa.UniqueConstraint(
            "rollout_id", "number", name=op.f("uq_rollout_measurements_rollout_id")
        ),
    )


def _decisions() -> None:
    op.create_table(
        "rollout_decisions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("routes", JSON, nullable=False),
        sa.Column("measurement", sa.Integer(), nullable=True),
        sa.Column("at", UTC, nullable=False),
        sa.CheckConstraint(f"kind IN ({DECISIONS})", name=op.f("ck_rollout_decisions_kind_known")),
        sa.ForeignKeyConstraint(
            ["rollout_id"], ["rollouts.id"], name=op.f("fk_rollout_decisions_rollout_id_rollouts")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_rollout_decisions_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_decisions")),
        sa.UniqueConstraint("rollout_id", "number", name=op.f("uq_rollout_decisions_rollout_id")),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION {table}_append_only()")
    op.drop_table("rollout_decisions")
    op.drop_table("rollout_measurements")
    op.drop_index("ix_rollouts_team_id_status", table_name="rollouts")
    op.drop_index(op.f("ix_rollouts_endpoint_id"), table_name="rollouts")
    op.drop_table("rollouts")
