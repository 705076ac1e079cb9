"""prices, daily usage and budgets

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 23:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)
# Outcomes name the price they were costed with: PostgreSQL refuses to rewrite prices.
PRICES_GUARD_FUNCTION = """
CREATE FUNCTION prices_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'prices are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
PRICES_GUARD_TRIGGER = """
CREATE TRIGGER prices_append_only
BEFORE UPDATE OR DELETE OR TRUNCATE ON prices
FOR EACH STATEMENT EXECUTE FUNCTION prices_append_only()
"""


def upgrade() -> None:
    op.add_column("outcomes", sa.Column("provider_key_id", sa.Integer(), nullable=True))
    _create_prices()
    _create_daily_usage()
    _create_budgets()
    for table, column in (("budget_allowances", "granted"), ("budget_crossings", "spent")):
        extra = (
            [sa.Column("granted_micro_usd", sa.BigInteger(), nullable=False),
             sa.Column("updated_at", WHEN, nullable=False)]
            if column == "granted"
            else [sa.Column("spent_micro_usd", sa.BigInteger(), nullable=False),
                  sa.Column("crossed_at", WHEN, nullable=False)]
        )  # fmt: skip
        op.create_table(
            table,
            sa.Column("budget_id", sa.Integer(), nullable=False),
            sa.Column("period_start", sa.Date(), nullable=False),
            *extra,
            sa.ForeignKeyConstraint(
                ["budget_id"], ["budgets.id"], name=op.f(f"fk_{table}_budget_id_budgets")
            ),
            sa.PrimaryKeyConstraint("budget_id", "period_start", name=op.f(f"pk_{table}")),
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PRICES_GUARD_FUNCTION)
        op.execute(PRICES_GUARD_TRIGGER)


def _create_prices() -> None:
    op.create_table(
        "prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("versions", sa.String(length=512), nullable=False),
        sa.Column("effective_from", WHEN, nullable=False),
        sa.Column("input_pico", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_pico", sa.BigInteger(), nullable=True),
        sa.Column("output_pico", sa.BigInteger(), nullable=False),
        sa.Column("per_request_pico", sa.BigInteger(), nullable=False),
        sa.Column("per_second_pico", sa.BigInteger(), nullable=False),
        sa.Column("per_image_pico", sa.BigInteger(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_prices_model_id_models")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_prices_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prices")),
        sa.UniqueConstraint(
            "model_id", "versions", "effective_from", name=op.f("uq_prices_model_id")
        ),
    )


def _create_daily_usage() -> None:
    op.create_table(
        "daily_usage",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("provider_key_id", sa.Integer(), nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False)
            for name in (
                "requests",
                "errors",
                "input_tokens",
                "output_tokens",
                "cached_input_tokens",
                "cost_micro_usd",
            )
        ),
        sa.PrimaryKeyConstraint(
            "team_id",
            "day",
            "endpoint_id",
            "model_version_id",
            "provider_key_id",
            name=op.f("pk_daily_usage"),
        ),
    )


def _create_budgets() -> None:
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("limit_micro_usd", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint("scope IN ('team', 'model')", name=op.f("ck_budgets_scope_known")),
        sa.CheckConstraint("period IN ('day', 'month')", name=op.f("ck_budgets_period_known")),
        sa.CheckConstraint("kind IN ('soft', 'hard')", name=op.f("ck_budgets_kind_known")),
        sa.CheckConstraint("limit_micro_usd > 0", name=op.f("ck_budgets_limit_positive")),
        sa.CheckConstraint(
            "(scope = 'model') = (model_id IS NOT NULL)", name=op.f("ck_budgets_model_iff_scope")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_budgets_model_id_models")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_budgets_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint("team_id", "name", name=op.f("uq_budgets_team_id")),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER prices_append_only ON prices")
        op.execute("DROP FUNCTION prices_append_only()")
    for table in ("budget_crossings", "budget_allowances", "budgets", "daily_usage", "prices"):
        op.drop_table(table)
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("provider_key_id")
