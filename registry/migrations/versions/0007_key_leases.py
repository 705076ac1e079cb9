"""key leases: provider keys handed to consumers by the gateway's resolve

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_leases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("leased_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_key_leases_endpoint_id_endpoints")
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["provider_keys.id"], name=op.f("fk_key_leases_key_id_provider_keys")
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_key_leases_model_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_key_leases_team_id_teams")
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_key_leases_token_id_api_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_leases")),
        sa.UniqueConstraint("request_id", name=op.f("uq_key_leases_request_id")),
    )
    op.create_index(op.f("ix_key_leases_key_id"), "key_leases", ["key_id"], unique=False)
    op.create_index(op.f("ix_key_leases_team_id"), "key_leases", ["team_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_key_leases_team_id"), table_name="key_leases")
    op.drop_index(op.f("ix_key_leases_key_id"), table_name="key_leases")
    op.drop_table("key_leases")
