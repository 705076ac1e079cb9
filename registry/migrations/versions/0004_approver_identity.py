"""approver identity (TOTP enrolment, used codes) and refused approval attempts

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Refused attempts are the audit trail of who tried to answer: PostgreSQL refuses to rewrite them.
ATTEMPTS_GUARD_FUNCTION = """
CREATE FUNCTION approval_attempts_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'approval_attempts is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
ATTEMPTS_GUARD_TRIGGER = """
CREATE TRIGGER approval_attempts_append_only
BEFORE UPDATE OR DELETE OR TRUNCATE ON approval_attempts
FOR EACH STATEMENT EXECUTE FUNCTION approval_attempts_append_only()
"""


def upgrade() -> None:
    _create_enrolments()
    op.create_table(
        "approver_code_uses",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("time_step", sa.BigInteger(), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approvals.id"],
            name=op.f("fk_approver_code_uses_approval_id_approvals"),
        ),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["approver_enrolments.id"],
            name=op.f("fk_approver_code_uses_enrolment_id_approver_enrolments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approver_code_uses")),
        sa.UniqueConstraint(
            "enrolment_id", "time_step", name=op.f("uq_approver_code_uses_enrolment_id")
        ),
    )
    op.create_table(
        "approval_attempts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=128), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approvals.id"],
            name=op.f("fk_approval_attempts_approval_id_approvals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_attempts")),
    )
    op.create_index(
        "ix_approval_attempts_approval_id_id", "approval_attempts", ["approval_id", "id"]
    )
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("runner_host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("runner_pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("approval_decisions") as batch:
        batch.add_column(sa.Column("enrolment_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_approval_decisions_enrolment_id_approver_enrolments"),
            "approver_enrolments",
            ["enrolment_id"],
            ["id"],
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(ATTEMPTS_GUARD_FUNCTION)
        op.execute(ATTEMPTS_GUARD_TRIGGER)


def _create_enrolments() -> None:
    op.create_table(
        "approver_enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=False),
        sa.Column("dek_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("kek_version", sa.String(length=32), nullable=False),
        sa.Column("kek_fingerprint", sa.String(length=16), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_approver_enrolments_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approver_enrolments")),
    )
    op.create_index(
        op.f("ix_approver_enrolments_kek_fingerprint"), "approver_enrolments", ["kek_fingerprint"]
    )
    op.create_index(
        "uq_approver_enrolments_one_live",
        "approver_enrolments",
        ["team_id", "name"],
        unique=True,
        postgresql_where=sa.text("replaced_at IS NULL"),
        sqlite_where=sa.text("replaced_at IS NULL"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER approval_attempts_append_only ON approval_attempts")
        op.execute("DROP FUNCTION approval_attempts_append_only()")
    with op.batch_alter_table("approval_decisions") as batch:
        batch.drop_constraint(
            op.f("fk_approval_decisions_enrolment_id_approver_enrolments"), type_="foreignkey"
        )
        batch.drop_column("enrolment_id")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("runner_pid")
        batch.drop_column("runner_host")
    op.drop_index("ix_approval_attempts_approval_id_id", table_name="approval_attempts")
    op.drop_table("approval_attempts")
    op.drop_table("approver_code_uses")
    op.drop_index("uq_approver_enrolments_one_live", table_name="approver_enrolments")
    op.drop_index(op.f("ix_approver_enrolments_kek_fingerprint"), table_name="approver_enrolments")
    op.drop_table("approver_enrolments")
