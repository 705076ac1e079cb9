"""ORM rows of prices (append-only), daily usage, budgets and what budgets did.

`daily_usage` is an event-volume rollup like the outcome rollups: plain integer ids, no
foreign keys (see `registry.outcomes.tables` for why).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm import Base, UTCDateTime, utcnow


class BudgetScope(StrEnum):
    TEAM = "team"
    MODEL = "model"


class BudgetPeriod(StrEnum):
    DAY = "day"
    MONTH = "month"


class BudgetKind(StrEnum):
    SOFT = "soft"  # crossing it sends one alert per period
    HARD = "hard"  # crossing it makes the gateway refuse (429) until the period ends


def _known(column: str, values: type[StrEnum]) -> CheckConstraint:
    listed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"{column}_known")


class PriceRow(Base):
    """One catalog price of a model from `effective_from` on. PostgreSQL refuses UPDATE and
    DELETE: outcomes name the price they used, so a price is never rewritten."""

    __tablename__ = "prices"
    __table_args__ = (UniqueConstraint("model_id", "versions", "effective_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    versions: Mapped[str] = mapped_column(String(512))  # "*" or "1,3,4"
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime())
    # Pico-USD (1e-12 USD) per token, or per unit.
    input_pico: Mapped[int] = mapped_column(BigInteger)
    cached_input_pico: Mapped[int | None] = mapped_column(BigInteger)
    output_pico: Mapped[int] = mapped_column(BigInteger)
    per_request_pico: Mapped[int] = mapped_column(BigInteger)
    per_second_pico: Mapped[int] = mapped_column(BigInteger)
    per_image_pico: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DailyUsageRow(Base):
    """What one version served through one endpoint with one provider key in one UTC day.

    `provider_key_id` 0 stands for no key (local providers, consumer reports)."""

    __tablename__ = "daily_usage"

    team_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int] = mapped_column(BigInteger)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger)
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger)


class BudgetRow(Base):
    """A spending limit of a team, or of one of its models, per day or per month (UTC)."""

    __tablename__ = "budgets"
    __table_args__ = (
        UniqueConstraint("team_id", "name"),
        _known("scope", BudgetScope),
        _known("period", BudgetPeriod),
        _known("kind", BudgetKind),
        CheckConstraint("limit_micro_usd > 0", name="limit_positive"),
        CheckConstraint("(scope = 'model') = (model_id IS NOT NULL)", name="model_iff_scope"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    name: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    period: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    limit_micro_usd: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BudgetAllowanceRow(Base):
    """How much of a hard budget's period the gateways have claimed to admit requests
    against (see `registry.usage.allowances`)."""

    __tablename__ = "budget_allowances"

    budget_id: Mapped[int] = mapped_column(ForeignKey("budgets.id"), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    granted_micro_usd: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BudgetCrossingRow(Base):
    """A budget crossed in a period: recorded once, so its alert is sent once."""

    __tablename__ = "budget_crossings"

    budget_id: Mapped[int] = mapped_column(ForeignKey("budgets.id"), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    spent_micro_usd: Mapped[int] = mapped_column(BigInteger)
    crossed_at: Mapped[datetime] = mapped_column(UTCDateTime())
