"""Shared setup for the usage tests (no tests here): a team with a model of three versions
(v1 production, v2 staging, v3 development) behind a production endpoint, and outcomes
stored through the real store, with the ids the registry gave."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from registry.database import Database
from registry.domain import Team
from registry.outcomes import Outcome, store_outcomes
from registry.tables import ModelVersionRow
from tests.registry.test_endpoints_support import MODEL, create, seed_versions


@dataclass(frozen=True)
class Seeded:
    team: Team
    model_id: int
    endpoint_id: int
    version_ids: dict[int, int]  # version number → id


def seed(database: Database, team: str = "default", endpoint: str = "support-prod") -> Seeded:
    with database.transaction() as session:
        found = seed_versions(session, team)
        made = create(session, found, endpoint)
        rows = session.scalars(select(ModelVersionRow).order_by(ModelVersionRow.version)).all()
        ours = [r for r in rows if r.model_id == rows[-1].model_id]
        return Seeded(found, ours[0].model_id, made.id, {r.version: r.id for r in ours})


def seed_of(database: Database, team: str = "default", endpoint: str = "support-prod") -> Seeded:
    """What `seed` made, read back."""
    from registry.endpoints.tables import EndpointRow
    from registry.teams import TeamRepository

    with database.transaction() as session:
        found = TeamRepository(session).find(team)
        assert found is not None
        row = session.scalars(
            select(EndpointRow).where(EndpointRow.team_id == found.id, EndpointRow.name == endpoint)
        ).one()
        versions = session.scalars(
            select(ModelVersionRow).where(ModelVersionRow.model_id == row.model_id)
        ).all()
        return Seeded(found, row.model_id, row.id, {v.version: v.id for v in versions})


def outcomes(
    seeded: Seeded,
    version: int,
    n: int,
    start: datetime,
    *,
    prefix: str,
    cost: int = 100,
    failures: int = 0,
    latency_ms: float = 100.0,
    key: int | None = None,
    spacing: timedelta = timedelta(seconds=1),
    quality: float | None = None,
    jitter_ms: float = 0.0,
) -> list[Outcome]:
    """n outcomes of one version, `spacing` apart; the first `failures` fail; latencies
    spread over latency_ms + [0, 16] x jitter_ms."""
    return [
        Outcome(
            request_id=f"{prefix}-{i}",
            team_id=seeded.team.id,
            endpoint_id=seeded.endpoint_id,
            model_version_id=seeded.version_ids[version],
            at=start + spacing * i,
            latency_ms=latency_ms + (i * 7 % 17) * jitter_ms,
            success=i >= failures,
            error_class="upstream_error" if i < failures else None,
            input_tokens=100,
            output_tokens=10,
            cost_micro_usd=cost,
            provider_key_id=key,
            quality=quality,
        )
        for i in range(n)
    ]


def store(database: Database, batch: list[Outcome]) -> None:
    with database.transaction() as session:
        store_outcomes(session, batch)


__all__ = ["MODEL", "Seeded", "outcomes", "seed", "seed_of", "store"]
