"""generation jobs and provider webhook events

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 23:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
NULLABLE_JSON = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
)
AT = sa.DateTime(timezone=True)
JOB_STATUSES = "'pending', 'processing', 'completed', 'failed', 'cancelled'"
VERDICTS = (
    "'accepted', 'duplicate', 'bad_signature', 'stale', 'malformed', 'unknown_job', "
    "'job_mismatch', 'no_secret', 'too_large', 'unknown_provider'"
)


def upgrade() -> None:
    _webhook_secrets()
    _generation_jobs()
    _callbacks()
    _webhook_events()


def _webhook_secrets() -> None:
    op.create_table(
        "webhook_secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=160), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=False),
        sa.Column("dek_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("kek_version", sa.String(length=32), nullable=False),
        sa.Column("kek_fingerprint", sa.String(length=16), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("expires_at", AT, nullable=True),
        sa.Column("revoked_at", AT, nullable=True),
        sa.CheckConstraint(
            "purpose IN ('provider', 'callback')", name=op.f("ck_webhook_secrets_purpose_known")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_webhook_secrets_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_secrets")),
        sa.UniqueConstraint(
            "team_id", "purpose", "scope", "label", name=op.f("uq_webhook_secrets_team_id")
        ),
    )
    op.create_index(
        op.f("ix_webhook_secrets_kek_fingerprint"), "webhook_secrets", ["kek_fingerprint"]
    )
    op.create_index("ix_webhook_secrets_purpose_scope", "webhook_secrets", ["purpose", "scope"])


def _generation_jobs() -> None:
    op.create_table(
        "generation_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("provider_model_id", sa.String(length=256), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("raw_status", sa.String(length=64), nullable=True),
        sa.Column("provider_job_id", sa.String(length=256), nullable=True),
        sa.Column("provider_key_id", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("submitted_at", AT, nullable=True),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("result", JSON, nullable=False),
        sa.Column("error", NULLABLE_JSON, nullable=True),
        sa.Column("callback_url", sa.String(length=2048), nullable=True),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("updated_at", AT, nullable=False),
        sa.Column("accepted_at", AT, nullable=True),
        sa.Column("finished_at", AT, nullable=True),
        sa.Column("last_heard_at", AT, nullable=True),
        sa.Column("next_poll_at", AT, nullable=True),
        sa.Column("expires_at", AT, nullable=False),
        sa.Column("confirm_by", AT, nullable=True),
        sa.CheckConstraint(
            f"status IN ({JOB_STATUSES})", name=op.f("ck_generation_jobs_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_generation_jobs_endpoint_id_endpoints")
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_generation_jobs_model_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_generation_jobs_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation_jobs")),
        sa.UniqueConstraint(
            "provider", "provider_job_id", name=op.f("uq_generation_jobs_provider")
        ),
        sa.UniqueConstraint("public_id", name=op.f("uq_generation_jobs_public_id")),
        sa.UniqueConstraint("team_id", "idempotency_key", name=op.f("uq_generation_jobs_team_id")),
    )
    op.create_index(
        "ix_generation_jobs_status_next_poll_at", "generation_jobs", ["status", "next_poll_at"]
    )


def _callbacks() -> None:
    op.create_table(
        "generation_callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", AT, nullable=True),
        sa.Column("attempt_log", JSON, nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("delivered_at", AT, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'gave_up')",
            name=op.f("ck_generation_callbacks_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["generation_jobs.id"],
            name=op.f("fk_generation_callbacks_job_id_generation_jobs"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_generation_callbacks_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation_callbacks")),
        sa.UniqueConstraint("job_id", name=op.f("uq_generation_callbacks_job_id")),
    )
    op.create_index(
        "ix_generation_callbacks_status_next_attempt_at",
        "generation_callbacks",
        ["status", "next_attempt_at"],
    )


def _webhook_events() -> None:
    op.create_table(
        "generation_webhook_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=24), nullable=False),
        sa.Column("webhook_id", sa.String(length=256), nullable=True),
        sa.Column("dedup_key", sa.String(length=256), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("provider_job_id", sa.String(length=256), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("headers", JSON, nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("payload_truncated", sa.Boolean(), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("changes", JSON, nullable=False),
        sa.Column("received_at", AT, nullable=False),
        sa.Column("applied_at", AT, nullable=True),
        sa.CheckConstraint(
            f"verdict IN ({VERDICTS})", name=op.f("ck_generation_webhook_events_verdict_known")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["generation_jobs.id"],
            name=op.f("fk_generation_webhook_events_job_id_generation_jobs"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_generation_webhook_events_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation_webhook_events")),
        sa.UniqueConstraint(
            "provider", "dedup_key", name=op.f("uq_generation_webhook_events_provider")
        ),
    )
    op.create_index("ix_generation_webhook_events_job_id", "generation_webhook_events", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_generation_webhook_events_job_id", table_name="generation_webhook_events")
    op.drop_table("generation_webhook_events")
    op.drop_index(
        "ix_generation_callbacks_status_next_attempt_at", table_name="generation_callbacks"
    )
    op.drop_table("generation_callbacks")
    op.drop_index("ix_generation_jobs_status_next_poll_at", table_name="generation_jobs")
    op.drop_table("generation_jobs")
    op.drop_index("ix_webhook_secrets_purpose_scope", table_name="webhook_secrets")
    op.drop_index(op.f("ix_webhook_secrets_kek_fingerprint"), table_name="webhook_secrets")
    op.drop_table("webhook_secrets")
