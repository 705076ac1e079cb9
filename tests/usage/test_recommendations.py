"""Each recommendation appears when its condition is planted, and not otherwise: a cheaper
non-inferior version (with its monthly saving), an SLO breach, saturated keys, an idle
production version. One endpoint, v1 and v2 sharing its traffic, over one hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from registry.database import Database
from registry.keys import KeyRepository
from registry.keys.tables import KeyEventRow, ProviderKeyRow
from registry.tables import ModelRow, ProviderRow
from registry.usage.recommendations import (
    Period,
    Recommendation,
    RecommendationKind,
    recommendations,
)
from tests.support.approvers import ring
from tests.usage.support import Seeded, outcomes, seed, store

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
HOUR = Period(T0, T0 + timedelta(hours=1))
SPACING = timedelta(seconds=1.5)  # 2,000 requests in 50 minutes


@pytest.fixture
def database(pg_url: str) -> Database:
    return Database.open(pg_url)


def _plant(database: Database, seeded: Seeded, version: int, **fields: object) -> None:
    values: dict[str, object] = {"cost": 500, "jitter_ms": 3.0, "spacing": SPACING} | fields
    store(database, outcomes(seeded, version, 2000, T0, prefix=f"v{version}", **values))  # type: ignore[arg-type]


def _found(database: Database, seeded: Seeded, kind: RecommendationKind) -> list[Recommendation]:
    with database.transaction() as session:
        listed = recommendations(session, seeded.team, HOUR)
    return [r for r in listed if r.kind is kind]


def test_a_cheaper_non_inferior_version_is_recommended_with_its_saving(database: Database) -> None:
    seeded = seed(database)
    _plant(database, seeded, 1, cost=500, failures=20)
    _plant(database, seeded, 2, cost=300, failures=20)
    [found] = _found(database, seeded, RecommendationKind.CHEAPER_VERSION)
    assert (found.evidence["baseline_version"], found.evidence["cheaper_version"]) in {
        (1, 2),
        (2, 1),
    }
    assert found.evidence["cheaper_version"] == 2
    # (500 - 300) micro-USD x 4,000 requests an hour x 24 x 30
    assert found.monthly_saving_micro_usd == 200 * 4000 * 24 * 30
    assert "judge_canary" in found.test
    checks = found.evidence["checks"]
    assert isinstance(checks, dict) and set(checks) == {"error_rate", "latency"}
    assert all(str(v).startswith("pass") for v in checks.values())


@pytest.mark.parametrize(
    ("v2", "why"),
    [
        ({"cost": 500, "failures": 20}, "not cheaper"),
        ({"cost": 300, "failures": 160}, "errs more: 8% against 1%"),
        ({"cost": 300, "failures": 20, "latency_ms": 160.0}, "slower by more than 10%"),
    ],
)
def test_no_cheaper_version_is_recommended_unless_shown_non_inferior(
    database: Database, v2: dict[str, object], why: str
) -> None:
    seeded = seed(database)
    _plant(database, seeded, 1, cost=500, failures=20)
    _plant(database, seeded, 2, **v2)
    assert _found(database, seeded, RecommendationKind.CHEAPER_VERSION) == [], why


def test_an_error_rate_shown_above_the_slo_is_a_breach_and_one_within_it_is_not(
    database: Database,
) -> None:
    seeded = seed(database)
    _plant(database, seeded, 1, failures=100)  # 5% against the default 1%
    [found] = _found(database, seeded, RecommendationKind.SLO_BREACH)
    assert found.evidence["metric"] == "error_rate" and found.evidence["errors"] == 100
    assert "exact binomial" in found.test
    # The model's own rule sets the objective: errors above 10% alert, so 5% is within it.
    rule = {"name": "errors", "kind": "threshold", "metric": "error_rate", "above": 0.10,
            "window": "5m"}  # fmt: skip
    with database.transaction() as session:
        model = session.get(ModelRow, seeded.model_id)
        assert model is not None
        model.alerts = [rule]
    assert _found(database, seeded, RecommendationKind.SLO_BREACH) == []


def test_a_p95_above_the_target_is_a_breach(database: Database) -> None:
    seeded = seed(database)
    _plant(database, seeded, 1)
    slow = outcomes(seeded, 1, 300, T0, prefix="slow", latency_ms=3000.0, spacing=SPACING)
    store(database, slow)  # 300 of 2,300 (13%) surely slower than 2,000 ms
    [found] = _found(database, seeded, RecommendationKind.SLO_BREACH)
    assert found.evidence["metric"] == "latency_p95_ms"
    assert found.evidence["slower_than_target"] == 300


def _cool(database: Database, seeded: Seeded, minutes_each: list[int]) -> None:
    with database.transaction() as session:
        session.add(ProviderRow(name="openai", kind="openai", options={}, source_file="o.yaml"))
        session.flush()
        keys = KeyRepository(session, seeded.team, ring())
        for i, minutes in enumerate(minutes_each):
            key = keys.add("openai", f"key-{i}", f"sk-test-{i:04d}-abcdefgh")
            for start in (5, 35):  # two coolings, half each
                at = T0 + timedelta(minutes=start)
                until = at + timedelta(minutes=minutes / 2)
                session.add(
                    KeyEventRow(
                        team_id=seeded.team.id, key_id=key.id, kind="cooled", at=at,
                        detail={"until": until.isoformat(), "reason": "429"},
                    )
                )  # fmt: skip


def test_keys_cooling_most_of_the_period_are_a_saturated_provider(database: Database) -> None:
    seeded = seed(database)
    _plant(database, seeded, 1)
    _cool(database, seeded, [30, 20])  # 50% and 33% of the hour
    [found] = _found(database, seeded, RecommendationKind.KEYS_SATURATED)
    assert found.subject == "provider openai"
    assert found.evidence["cooling_share_by_key"] == {"key-0": 0.5, "key-1": 0.3333}
    assert "keys add openai" in found.title


def test_keys_cooling_a_little_are_not(database: Database) -> None:
    seeded = seed(database)
    _plant(database, seeded, 1)
    _cool(database, seeded, [10, 6])
    assert _found(database, seeded, RecommendationKind.KEYS_SATURATED) == []
    with database.transaction() as session:
        assert len(session.scalars(select(ProviderKeyRow)).all()) == 2


def test_a_production_version_without_traffic_is_idle_and_one_serving_is_not(
    database: Database,
) -> None:
    seeded = seed(database)
    [found] = _found(database, seeded, RecommendationKind.IDLE_PRODUCTION)
    assert (found.evidence["version"], found.evidence["routed_by"]) == (1, ["support-prod"])
    assert found.evidence["requests"] == 0
    _plant(database, seeded, 1)
    assert _found(database, seeded, RecommendationKind.IDLE_PRODUCTION) == []


def test_healthy_serving_recommends_nothing(database: Database) -> None:
    seeded = seed(database)
    _plant(database, seeded, 1)
    with database.transaction() as session:
        assert recommendations(session, seeded.team, HOUR) == []
