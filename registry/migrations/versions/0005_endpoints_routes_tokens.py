"""endpoints, routes, the route ledger and team API tokens

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


# Like the stage ledger: who moved which traffic where, and why, is never rewritten.
LEDGER_GUARD_FUNCTION = """
CREATE FUNCTION route_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'route_ledger is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
LEDGER_GUARD_TRIGGER = """
CREATE TRIGGER route_ledger_append_only
BEFORE UPDATE OR DELETE OR TRUNCATE ON route_ledger
FOR EACH STATEMENT EXECUTE FUNCTION route_ledger_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column(
            "scopes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_api_tokens_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    op.create_index(op.f("ix_api_tokens_team_id"), "api_tokens", ["team_id"], unique=False)
    op.create_index(
        "uq_api_tokens_live_label",
        "api_tokens",
        ["team_id", "label"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
        sqlite_where=sa.text("revoked_at IS NULL"),
    )
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("routing_salt", sa.String(length=64), nullable=False),
        sa.Column("owner_kind", sa.String(length=16), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undeployed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "environment IN ('development', 'staging', 'production')",
            name=op.f("ck_endpoints_environment_known"),
        ),
        sa.CheckConstraint(
            "owner_kind IS NULL OR owner_kind IN ('rollout', 'ab_test')",
            name=op.f("ck_endpoints_owner_kind_known"),
        ),
        sa.CheckConstraint(
            "status IN ('serving', 'undeployed')", name=op.f("ck_endpoints_status_known")
        ),
        sa.CheckConstraint(
            "(owner_kind IS NULL) = (owner_id IS NULL)", name=op.f("ck_endpoints_owner_complete")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_endpoints_model_id_models")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_endpoints_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoints")),
        sa.UniqueConstraint("team_id", "name", name=op.f("uq_endpoints_team_id")),
    )
    op.create_index(op.f("ix_endpoints_model_id"), "endpoints", ["model_id"], unique=False)
    op.create_table(
        "route_ledger",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "after",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("owner_kind", sa.String(length=16), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_route_ledger_endpoint_id_endpoints")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_route_ledger_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_ledger")),
    )
    op.create_index(
        "ix_route_ledger_endpoint_id_id", "route_ledger", ["endpoint_id", "id"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(LEDGER_GUARD_FUNCTION)
        op.execute(LEDGER_GUARD_TRIGGER)
    op.create_table(
        "routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column(
            "buckets",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role IN ('stable', 'canary', 'preview', 'variant', 'shadow')",
            name=op.f("ck_routes_role_known"),
        ),
        sa.CheckConstraint("weight BETWEEN 0 AND 100", name=op.f("ck_routes_weight_percent")),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_routes_endpoint_id_endpoints")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_routes_team_id_teams")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name=op.f("fk_routes_version_id_model_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
        sa.UniqueConstraint("endpoint_id", "version_id", name=op.f("uq_routes_endpoint_id")),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER route_ledger_append_only ON route_ledger")
        op.execute("DROP FUNCTION route_ledger_append_only()")
    op.drop_table("routes")
    op.drop_index("ix_route_ledger_endpoint_id_id", table_name="route_ledger")
    op.drop_table("route_ledger")
    op.drop_index(op.f("ix_endpoints_model_id"), table_name="endpoints")
    op.drop_table("endpoints")
    op.drop_index(
        "uq_api_tokens_live_label",
        table_name="api_tokens",
        postgresql_where=sa.text("revoked_at IS NULL"),
        sqlite_where=sa.text("revoked_at IS NULL"),
    )
    op.drop_index(op.f("ix_api_tokens_team_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
