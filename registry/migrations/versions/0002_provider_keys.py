"""key pool: provider keys (envelope-encrypted), key events, model cooldowns

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 05:21:58.970235
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


# Key events are what alerts read later: PostgreSQL refuses to rewrite them.
EVENTS_GUARD_FUNCTION = """
CREATE FUNCTION key_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'key_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
EVENTS_GUARD_TRIGGER = """
CREATE TRIGGER key_events_append_only
BEFORE UPDATE OR DELETE OR TRUNCATE ON key_events
FOR EACH STATEMENT EXECUTE FUNCTION key_events_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "model_cooldowns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("provider_model_id", sa.String(length=256), nullable=False),
        sa.Column("cooldown_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_model_cooldowns_provider_id_providers")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_model_cooldowns_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_cooldowns")),
        sa.UniqueConstraint(
            "team_id", "provider_id", "provider_model_id", name=op.f("uq_model_cooldowns_team_id")
        ),
    )
    op.create_table(
        "provider_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=False),
        sa.Column("dek_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("kek_version", sa.String(length=32), nullable=False),
        sa.Column("kek_fingerprint", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cooldown_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("request_count", sa.Integer(), nullable=False),
        sa.Column("success_count", sa.Integer(), nullable=False),
        sa.Column("latency_ms_total", sa.Float(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_class", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'cooling', 'disabled')",
            name=op.f("ck_provider_keys_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_provider_keys_provider_id_providers")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_provider_keys_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_keys")),
        sa.UniqueConstraint(
            "team_id", "provider_id", "label", name=op.f("uq_provider_keys_team_id")
        ),
    )
    op.create_index(
        op.f("ix_provider_keys_kek_fingerprint"), "provider_keys", ["kek_fingerprint"], unique=False
    )
    op.create_index(
        "ix_provider_keys_team_id_provider_id",
        "provider_keys",
        ["team_id", "provider_id"],
        unique=False,
    )
    op.create_table(
        "key_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["provider_keys.id"], name=op.f("fk_key_events_key_id_provider_keys")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_key_events_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_events")),
    )
    op.create_index("ix_key_events_key_id_id", "key_events", ["key_id", "id"], unique=False)
    op.create_index("ix_key_events_team_id_id", "key_events", ["team_id", "id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(EVENTS_GUARD_FUNCTION)
        op.execute(EVENTS_GUARD_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER key_events_append_only ON key_events")
        op.execute("DROP FUNCTION key_events_append_only()")
    op.drop_index("ix_key_events_team_id_id", table_name="key_events")
    op.drop_index("ix_key_events_key_id_id", table_name="key_events")
    op.drop_table("key_events")
    op.drop_index("ix_provider_keys_team_id_provider_id", table_name="provider_keys")
    op.drop_index(op.f("ix_provider_keys_kek_fingerprint"), table_name="provider_keys")
    op.drop_table("provider_keys")
    op.drop_table("model_cooldowns")
