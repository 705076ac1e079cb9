"""The alert rules of a team, as the catalog declared them on its models, and what each
rule watches: the model's serving endpoints (or the one it names) and their versions."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.catalog_alerts import AlertRuleSpec, format_duration
from registry.domain import Team
from registry.endpoints.domain import EndpointStatus
from registry.endpoints.tables import EndpointRow
from registry.tables import ModelRow, ModelVersionRow, ProviderRow

log = logging.getLogger("registry.alerts")


@dataclass(frozen=True)
class AlertRule:
    """One rule of one model; `provider` is the model's (what key-pool rules watch)."""

    model_id: int
    model: str
    provider: str
    spec: AlertRuleSpec

    @property
    def name(self) -> str:
        return self.spec.name

    def describe(self) -> str:
        """The condition in one line, as `alerts rules` shows it."""
        spec = self.spec
        if spec.kind == "threshold":
            side, limit = ("above", spec.above) if spec.above is not None else ("below", spec.below)
            return f"{spec.metric} {side} {limit:g} over {format_duration(spec.window or 0)}"
        if spec.kind == "burn_rate":
            pairs = ", ".join(
                f"{p.factor:g}x over {format_duration(p.long)} and {format_duration(p.short)}"
                for p in spec.burn_pairs
            )
            return f"error budget of {spec.objective:.4g} burning {pairs}"
        if spec.kind == "key_pool":
            return {
                "exhausted": f"every {self.provider} key cooling or disabled",
                "unauthorized": f"a {self.provider} key disabled by a 401",
            }[str(spec.condition)]
        if spec.kind == "event":
            return f"an event {' or '.join(spec.events or [])}"
        return f"{spec.percent:g}% of a budget spent"


@dataclass(frozen=True)
class Target:
    """An endpoint a rule watches, with its versions' numbers by id."""

    endpoint_id: int
    endpoint: str
    versions: dict[int, int]


def team_rules(session: Session, team: Team) -> list[AlertRule]:
    """Every rule of the team's active models, in model then catalog order."""
    query = (
        select(ModelRow, ProviderRow.name)
        .join(ProviderRow, ProviderRow.id == ModelRow.provider_id)
        .where(ModelRow.team_id == team.id, ModelRow.retired_at.is_(None))
        .order_by(ModelRow.name)
    )
    rules = []
    for row, provider in session.execute(query):
        for stored in row.alerts or []:
            try:
                spec = AlertRuleSpec.model_validate(stored)
            except ValidationError as exc:
                # Only a code change can get here (the sync validated it): skip, loudly.
                log.warning("model %s: stored alert rule is not valid any more: %s", row.name, exc)
                continue
            rules.append(AlertRule(row.id, row.name, provider, spec))
    return rules


def targets(session: Session, team: Team, rule: AlertRule) -> list[Target]:
    """The serving endpoints of the rule's model (only the named one, if it names one)."""
    query = select(EndpointRow.id, EndpointRow.name).where(
        EndpointRow.team_id == team.id,
        EndpointRow.model_id == rule.model_id,
        EndpointRow.status == EndpointStatus.SERVING.value,
    )
    if rule.spec.endpoint is not None:
        query = query.where(EndpointRow.name == rule.spec.endpoint)
    endpoints = session.execute(query.order_by(EndpointRow.name)).all()
    if not endpoints:
        return []
    versions = dict(
        session.execute(
            select(ModelVersionRow.id, ModelVersionRow.version).where(
                ModelVersionRow.model_id == rule.model_id
            )
        )
        .tuples()
        .all()
    )
    return [Target(endpoint_id, name, versions) for endpoint_id, name in endpoints]
