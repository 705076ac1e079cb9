"""A/B tests, their looks and verdicts; the rollups' sum of squared costs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
EXACT = sa.Numeric(asdecimal=False).with_variant(sa.Float(), "sqlite")
UTC = sa.DateTime(timezone=True)
VERDICTS = (
    "'b wins', 'a wins', 'no difference within MDE', 'guardrail failed', 'invalid: SRM', "
    "'inconclusive', 'stopped'"
)

# Looks are the evidence a verdict stands on: never rewritten.
LOOKS_GUARD_FUNCTION = """
CREATE FUNCTION ab_test_looks_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ab_test_looks is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
LOOKS_GUARD_TRIGGER = """
CREATE TRIGGER ab_test_looks_append_only
BEFORE UPDATE OR DELETE OR TRUNCATE ON ab_test_looks
FOR EACH STATEMENT EXECUTE FUNCTION ab_test_looks_append_only()
"""

# Minutes folded before this revision get their sum of squared costs from the raw outcomes.
BACKFILL_POSTGRESQL = """
UPDATE outcome_rollups AS r SET cost_sum_sq_micro_usd2 = s.squares
FROM (
    SELECT team_id, endpoint_id, model_version_id, date_trunc('minute', at) AS minute,
           sum(cost_micro_usd::numeric * cost_micro_usd) AS squares
    FROM outcomes GROUP BY 1, 2, 3, 4
) AS s
WHERE r.team_id = s.team_id AND r.endpoint_id = s.endpoint_id
  AND r.model_version_id = s.model_version_id AND r.minute = s.minute
"""
BACKFILL_SQLITE = """
UPDATE outcome_rollups SET cost_sum_sq_micro_usd2 = coalesce((
    SELECT sum(CAST(o.cost_micro_usd AS REAL) * o.cost_micro_usd) FROM outcomes AS o
    WHERE o.team_id = outcome_rollups.team_id AND o.endpoint_id = outcome_rollups.endpoint_id
      AND o.model_version_id = outcome_rollups.model_version_id
      AND strftime('%Y-%m-%d %H:%M', o.at) = strftime('%Y-%m-%d %H:%M', outcome_rollups.minute)
), 0)
"""


def upgrade() -> None:
    _ab_tests()
    _ab_test_looks()
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(LOOKS_GUARD_FUNCTION)
        op.execute(LOOKS_GUARD_TRIGGER)
    op.add_column(
        "outcome_rollups",
        sa.Column("cost_sum_sq_micro_usd2", EXACT, nullable=False, server_default="0"),
    )
    op.execute(BACKFILL_POSTGRESQL if postgres else BACKFILL_SQLITE)
    with op.batch_alter_table("outcome_rollups") as batch:
        batch.alter_column("cost_sum_sq_micro_usd2", server_default=None)


def _ab_tests() -> None:
    op.create_table(
        "ab_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("a_version_id", sa.Integer(), nullable=False),
        sa.Column("b_version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("plan", JSON, nullable=False),
        sa.Column("routes_before", JSON, nullable=False),
        sa.Column("start_minute", JSON, nullable=True),
        sa.Column("verdict", sa.String(length=32), nullable=True),
        sa.Column("verdict_reason", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("started_at", UTC, nullable=True),
        sa.Column("deadline_at", UTC, nullable=True),
        sa.Column("concluded_at", UTC, nullable=True),
        sa.Column("finished_at", UTC, nullable=True),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('planned', 'running', 'concluded', 'finished', 'stopped')",
            name=op.f("ck_ab_tests_status_known"),
        ),
        sa.CheckConstraint(
            f"verdict IS NULL OR verdict IN ({VERDICTS})", name=op.f("ck_ab_tests_verdict_known")
        ),
        sa.ForeignKeyConstraint(
            ["a_version_id"],
            ["model_versions.id"],
            name=op.f("fk_ab_tests_a_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["b_version_id"],
            ["model_versions.id"],
            name=op.f("fk_ab_tests_b_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_ab_tests_endpoint_id_endpoints")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_ab_tests_model_id_models")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_ab_tests_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ab_tests")),
    )
    op.create_index(op.f("ix_ab_tests_endpoint_id"), "ab_tests", ["endpoint_id"], unique=False)
    op.create_index("ix_ab_tests_team_id_status", "ab_tests", ["team_id", "status"], unique=False)


def _ab_test_looks() -> None:
    op.create_table(
        "ab_test_looks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("requests_a", sa.BigInteger(), nullable=False),
        sa.Column("requests_b", sa.BigInteger(), nullable=False),
        sa.Column("srm_p_value", sa.Float(), nullable=False),
        sa.Column("arms", JSON, nullable=False),
        sa.Column("result", JSON, nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=True),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            f"verdict IS NULL OR verdict IN ({VERDICTS})",
            name=op.f("ck_ab_test_looks_verdict_known"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_ab_test_looks_team_id_teams")
        ),
        sa.ForeignKeyConstraint(
            ["test_id"], ["ab_tests.id"], name=op.f("fk_ab_test_looks_test_id_ab_tests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ab_test_looks")),
        sa.UniqueConstraint("test_id", "number", name=op.f("uq_ab_test_looks_test_id")),
    )


def downgrade() -> None:
    with op.batch_alter_table("outcome_rollups") as batch:
        batch.drop_column("cost_sum_sq_micro_usd2")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ab_test_looks_append_only ON ab_test_looks")
        op.execute("DROP FUNCTION ab_test_looks_append_only()")
    op.drop_table("ab_test_looks")
    op.drop_index("ix_ab_tests_team_id_status", table_name="ab_tests")
    op.drop_index(op.f("ix_ab_tests_endpoint_id"), table_name="ab_tests")
    op.drop_table("ab_tests")
