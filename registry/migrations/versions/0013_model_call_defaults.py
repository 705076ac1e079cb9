"""a model's default call parameters and prompt template (the catalog's, for resolve)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 00:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column(
        "models", sa.Column("parameters", JSON, nullable=False, server_default=sa.text("'{}'"))
    )
    op.add_column("models", sa.Column("prompt_template", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("prompt_template")
        batch.drop_column("parameters")
