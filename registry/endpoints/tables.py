"""ORM rows of endpoints: the endpoint, its routes (with the buckets each version owns),
and the append-only route ledger (PostgreSQL refuses UPDATE and DELETE on it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.endpoints.domain import EndpointStatus, Environment, OwnerKind
from registry.orm import Base, JsonDocument, UTCDateTime, utcnow
from registry.routing import RouteRole
from registry.tables import BigId


def _one_of(values: type[Environment | EndpointStatus | OwnerKind | RouteRole]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


class EndpointRow(Base):
    __tablename__ = "endpoints"
    __table_args__ = (
        UniqueConstraint("team_id", "name"),
        CheckConstraint(f"environment IN ({_one_of(Environment)})", name="environment_known"),
        CheckConstraint(f"status IN ({_one_of(EndpointStatus)})", name="status_known"),
        CheckConstraint(
            f"owner_kind IS NULL OR owner_kind IN ({_one_of(OwnerKind)})", name="owner_kind_known"
        ),
        CheckConstraint("(owner_kind IS NULL) = (owner_id IS NULL)", name="owner_complete"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    name: Mapped[str] = mapped_column(String(128))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    environment: Mapped[str] = mapped_column(String(16))
    # Compare-and-set counter: every change to the endpoint or its routes bumps it.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default=EndpointStatus.SERVING.value)
    # Hex of the random key hashed with each routing key: buckets differ per endpoint.
    routing_salt: Mapped[str] = mapped_column(String(64))
    # The rollout or A/B test that owns the endpoint now (`endpoints route` is refused then).
    owner_kind: Mapped[str | None] = mapped_column(String(16))
    owner_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(128))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    undeployed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # The ORM checks and bumps `revision` on every UPDATE of the row (compare-and-set).
    __mapper_args__ = {"version_id_col": revision}


class RouteRow(Base):
    __tablename__ = "routes"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "version_id"),
        CheckConstraint(f"role IN ({_one_of(RouteRole)})", name="role_known"),
        CheckConstraint("weight BETWEEN 0 AND 100", name="weight_percent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    role: Mapped[str] = mapped_column(String(16))
    weight: Mapped[int] = mapped_column(Integer)  # a shadow's: the percent mirrored
    # [[start, end), …] of the buckets this version owns; empty for a shadow.
    buckets: Mapped[list[list[int]]] = mapped_column(JsonDocument, default=list)


class RouteLedgerRow(Base):
    """Append-only: PostgreSQL refuses UPDATE and DELETE with a trigger (see migrations)."""

    __tablename__ = "route_ledger"
    __table_args__ = (Index("ix_route_ledger_endpoint_id_id", "endpoint_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"))
    revision: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    # Lists of {"version", "role", "weight", "buckets"}: who was served what, exactly.
    before: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    after: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    owner_kind: Mapped[str | None] = mapped_column(String(16))
    owner_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
