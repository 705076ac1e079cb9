"""A production version that no traffic reaches: no serving endpoint routes to it, or none
of its routes served a request in the period (daily usage, whole UTC days inside it)."""

from __future__ import annotations

from pydantic import JsonValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.domain import Team
from registry.endpoints.domain import EndpointStatus
from registry.endpoints.tables import EndpointRow, RouteRow
from registry.stages import Stage
from registry.tables import ModelRow, ModelVersionRow
from registry.usage.recommendations import (
    Period,
    Recommendation,
    RecommendationKind,
    RecommendationPolicy,
    ServingEndpoint,
)
from registry.usage.tables import DailyUsageRow


def idle_production(
    session: Session,
    team: Team,
    period: Period,
    policy: RecommendationPolicy,
    endpoints: list[ServingEndpoint],
) -> list[Recommendation]:
    production = session.execute(
        select(ModelVersionRow.id, ModelVersionRow.version, ModelRow.name)
        .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
        .where(
            ModelVersionRow.team_id == team.id,
            ModelVersionRow.stage == Stage.PRODUCTION.value,
            ModelRow.retired_at.is_(None),
        )
        .order_by(ModelRow.name)
    ).tuples()
    found = []
    for version_id, version, model in production:
        routed = _routed_by(session, version_id)
        requests = _requests(session, team, version_id, period)
        if routed and requests:
            continue
        found.append(_recommend(model, version, routed, requests, period))
    return found


def _routed_by(session: Session, version_id: int) -> list[str]:
    query = (
        select(EndpointRow.name)
        .join(RouteRow, RouteRow.endpoint_id == EndpointRow.id)
        .where(
            RouteRow.version_id == version_id,
            RouteRow.weight > 0,
            EndpointRow.status == EndpointStatus.SERVING.value,
        )
        .order_by(EndpointRow.name)
    )
    return list(session.scalars(query))


def _requests(session: Session, team: Team, version_id: int, period: Period) -> int:
    u = DailyUsageRow
    query = select(func.coalesce(func.sum(u.requests), 0)).where(
        u.team_id == team.id,
        u.model_version_id == version_id,
        u.day >= period.since.date(),
        u.day <= period.until.date(),
    )
    return int(session.scalar(query) or 0)


def _recommend(
    model: str, version: int, routed: list[str], requests: int, period: Period
) -> Recommendation:
    why = (
        "no serving endpoint routes to it"
        if not routed
        else f"{', '.join(routed)} route to it but served it no request"
    )
    return Recommendation(
        kind=RecommendationKind.IDLE_PRODUCTION,
        subject=f"model {model}",
        title=(
            f"{model} v{version} is in production but no traffic reaches it ({why}): deploy it "
            "(`modelops endpoints route …`) or archive it"
        ),
        evidence={
            "model": model,
            "version": version,
            "routed_by": list[JsonValue](routed),
            "requests": requests,
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
        },
        test="measured: routes of serving endpoints with weight > 0, and its requests in daily "
        "usage over the period: none",
    )
