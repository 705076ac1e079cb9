"""alert rules, alerts, channels and the notification log

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 22:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sa.DateTime(timezone=True)
SEVERITIES = "severity IN ('critical', 'error', 'warning', 'info')"


def upgrade() -> None:
    # Rules live with their model, as the catalog declares them (a list of rule specs).
    op.add_column(
        "models", sa.Column("alerts", JSON, nullable=False, server_default=sa.text("'[]'"))
    )
    _create_channels()
    _create_events()
    _create_alerts()
    _create_notifications()
    op.create_table(
        "monitor_cursors",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("window_end", WHEN, nullable=False),
        sa.Column("evaluated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_monitor_cursors_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_monitor_cursors")),
    )


def _create_channels() -> None:
    op.create_table(
        "alert_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url", sa.String(length=512), nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("severities", JSON, nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("send_resolved", sa.Boolean(), nullable=False),
        sa.Column("repeat_interval_seconds", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("disabled_at", WHEN, nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=False),
        sa.Column("dek_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("kek_version", sa.String(length=32), nullable=False),
        sa.Column("kek_fingerprint", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint(
            "kind IN ('webhook', 'slack', 'pagerduty')", name=op.f("ck_alert_channels_kind_known")
        ),
        sa.CheckConstraint(
            "status IN ('active', 'disabled')", name=op.f("ck_alert_channels_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_alert_channels_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_channels")),
        sa.UniqueConstraint("team_id", "name", name=op.f("uq_alert_channels_team_id")),
    )
    op.create_index(
        op.f("ix_alert_channels_kek_fingerprint"), "alert_channels", ["kek_fingerprint"]
    )


def _create_events() -> None:
    op.create_table(
        "alert_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("annotations", JSON, nullable=False),
        sa.Column("occurred_at", WHEN, nullable=False),
        sa.CheckConstraint(SEVERITIES, name=op.f("ck_alert_events_severity_known")),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_alert_events_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index(
        "ix_alert_events_team_id_occurred_at", "alert_events", ["team_id", "occurred_at"]
    )


def _create_alerts() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("annotations", JSON, nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", WHEN, nullable=False),
        sa.Column("last_seen_at", WHEN, nullable=False),
        sa.Column("clear_since", WHEN, nullable=True),
        sa.Column("fired_at", WHEN, nullable=True),
        sa.Column("resolved_at", WHEN, nullable=True),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.Column("acknowledged_at", WHEN, nullable=True),
        sa.Column("ack_until", WHEN, nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("level_since", WHEN, nullable=True),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("round_since", WHEN, nullable=True),
        sa.CheckConstraint(SEVERITIES, name=op.f("ck_alerts_severity_known")),
        sa.CheckConstraint(
            "state IN ('pending', 'firing', 'acknowledged', 'resolved')",
            name=op.f("ck_alerts_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_alerts_model_id_models")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_alerts_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_team_id_state", "alerts", ["team_id", "state"])
    # One open alert per fingerprint and team.
    op.create_index(
        "uq_alerts_one_open",
        "alerts",
        ["team_id", "fingerprint"],
        unique=True,
        postgresql_where=sa.text("state <> 'resolved'"),
        sqlite_where=sa.text("state <> 'resolved'"),
    )


def _create_notifications() -> None:
    op.create_table(
        "alert_notifications",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", BIG_ID, nullable=True),
        sa.Column("event_id", BIG_ID, nullable=True),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("dedup_key", sa.String(length=128), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("lease_until", WHEN, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("delivered_at", WHEN, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'delivered', 'failed', 'skipped')",
            name=op.f("ck_alert_notifications_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_notifications_alert_id_alerts")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["alert_channels.id"],
            name=op.f("fk_alert_notifications_channel_id_alert_channels"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["alert_events.id"],
            name=op.f("fk_alert_notifications_event_id_alert_events"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_alert_notifications_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notifications")),
        sa.UniqueConstraint(
            "channel_id", "dedup_key", name=op.f("uq_alert_notifications_channel_id")
        ),
        sa.UniqueConstraint("message_id", name=op.f("uq_alert_notifications_message_id")),
    )
    op.create_index("ix_alert_notifications_alert_id", "alert_notifications", ["alert_id"])
    op.create_index(
        "ix_alert_notifications_status_next_attempt_at",
        "alert_notifications",
        ["status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_table("monitor_cursors")
    op.drop_table("alert_notifications")
    op.drop_table("alerts")
    op.drop_table("alert_events")
    op.drop_table("alert_channels")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("alerts")
