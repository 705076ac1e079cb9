"""Six hours of a team's life, seeded through the registry for the dashboard tests: traffic
on every endpoint minute by minute (a daily swell, v2 faster and cheaper than v1, then a
burst of v2 errors), an A/B test looked at every 15 minutes, an alert rule that fires on
the burst, and a model's lifecycle with a pending approval. Team B gets traffic of its own.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.abtests import ABTestDefinition
from registry.abtests.lifecycle import create_test, start_test, take_look
from registry.alerts.monitor import evaluate_window
from registry.approvals import ApprovalRepository
from registry.catalog_alerts import AlertRuleSpec
from registry.database import Database
from registry.domain import ApprovalStatus, StagePolicy, Team
from registry.endpoints.tables import EndpointRow
from registry.lifecycle import NewVersion, TransitionRequest, register_version, transition_stage
from registry.model_repository import ModelRepository
from registry.orm import utcnow
from registry.outcomes import Outcome, store_outcomes
from registry.stages import Stage
from registry.tables import ModelRow, ModelVersionRow
from tests.gateway.support import World

MINUTE = timedelta(minutes=1)
HISTORY_MINUTES = 360
BURST_MINUTES = 8  # the last minutes, where v2 of the assistant fails often
AB_TEST_NAME = "faster-assistant"
ALERT_RULE = "assistant-error-rate"
FLOW_RUN = str(uuid.UUID(int=0xDA5B0A2D))


@dataclass(frozen=True)
class Profile:
    """How one version of an endpoint behaves."""

    version: int
    per_minute: float
    median_ms: float
    error_rate: float
    cost_per_request: int  # micro-USD


@dataclass
class Seeded:
    now: datetime
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)  # by endpoint name
    ab_test_id: int = 0
    looks: int = 0


PROFILES = {
    ("team-a", "assistant"): [
        Profile(1, 9.0, 420.0, 0.02, 1_900),
        Profile(2, 9.0, 300.0, 0.012, 1_100),
    ],
    ("team-a", "intent"): [Profile(1, 5.0, 9.0, 0.004, 0)],
    ("team-a", "paint"): [Profile(1, 0.6, 3_800.0, 0.05, 40_000)],
    ("team-b", "b-chat"): [Profile(1, 4.0, 650.0, 0.03, 2_500)],
}


def seed_history(world: World) -> Seeded:
    database = Database.open(world.url)
    try:
        seeded = Seeded(now=utcnow().replace(second=0, microsecond=0))
        with database.transaction() as session:
            _lifecycle(session, world.team)
            for (team_name, endpoint), profiles in PROFILES.items():
                team = world.team if team_name == "team-a" else world.b_team
                seeded.outcomes[endpoint] = _traffic(session, team, endpoint, profiles, seeded.now)
        with database.transaction() as session:
            seeded.ab_test_id, seeded.looks = _ab_test(session, world.team, seeded.now)
        with database.transaction() as session:
            _alerts(session, world.team, seeded.now)
        return seeded
    finally:
        database.close()


def _traffic(
    session: Session, team: Team, endpoint: str, profiles: list[Profile], now: datetime
) -> list[Outcome]:
    endpoint_row = session.scalars(
        select(EndpointRow).where(EndpointRow.team_id == team.id, EndpointRow.name == endpoint)
    ).one()
    ids = dict(
        session.execute(
            select(ModelVersionRow.version, ModelVersionRow.id).where(
                ModelVersionRow.model_id == endpoint_row.model_id
            )
        )
        .tuples()
        .all()
    )
    rng = random.Random(f"{team.name}/{endpoint}")
    outcomes = []
    for m in range(HISTORY_MINUTES, 0, -1):
        minute = now - m * MINUTE
        swell = 1.0 + 0.45 * math.sin(2 * math.pi * (HISTORY_MINUTES - m) / 240)
        for p in profiles:
            errors = p.error_rate
            if endpoint == "assistant" and p.version == 2 and m <= BURST_MINUTES:
                errors = 0.3
            for i in range(_poisson(rng, p.per_minute * swell)):
                failed = rng.random() < errors
                tokens_in, tokens_out = rng.randint(180, 900), rng.randint(40, 400)
                outcomes.append(
                    Outcome(
                        request_id=f"seed-{team.id}-{endpoint}-{m}-{p.version}-{i}",
                        team_id=team.id,
                        endpoint_id=endpoint_row.id,
                        model_version_id=ids[p.version],
                        at=minute + timedelta(seconds=rng.uniform(0, 59.9)),
                        latency_ms=min(60_000.0, p.median_ms * math.exp(rng.gauss(0, 0.35))),
                        success=not failed,
                        error_class="upstream_error" if failed else None,
                        input_tokens=tokens_in,
                        output_tokens=tokens_out,
                        cost_micro_usd=0 if failed else p.cost_per_request,
                    )
                )
    store_outcomes(session, outcomes)
    return outcomes


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small means of a minute's requests."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _lifecycle(session: Session, team: Team) -> None:
    """chatbot: v1 walked to production, v2 to staging and waiting for approval to go to
    production (one of two approvers has said yes), v3 registered and rejected."""

    def move(version: int, stage: Stage, reason: str) -> None:
        request = TransitionRequest(
            model="chatbot",
            version=version,
            target=stage,
            actor="ann",
            reason=reason,
            flow_run_id=FLOW_RUN,
        )
        transition_stage(session, team, request)

    for stage in (Stage.TESTING, Stage.STAGING, Stage.PRODUCTION):
        move(1, stage, f"v1 passed its {stage.value} gates")
    move(2, Stage.TESTING, "fine-tuned on the October tickets")
    move(2, Stage.STAGING, "eval: accuracy 0.91 vs 0.88 for v1 (paired test p=0.004)")
    register_version(
        session, team, NewVersion(model="chatbot", provider_model_id="gpt-fake-3", actor="ann")
    )
    move(3, Stage.REJECTED, "eval: toxicity guardrail failed")
    approvals = ApprovalRepository(session, team)
    row = ModelRepository(session, team).version_row("chatbot", 2)
    policy = StagePolicy(approvers=["alice", "bob"], min_approvals=2, four_eyes=True)
    approval = approvals.open(row, target=Stage.PRODUCTION, requester="ann", policy=policy)
    approvals.attach_flow_run(approval.id, FLOW_RUN)
    approvals.record_decision(
        approval.id, reviewer="alice", decision=ApprovalStatus.APPROVED, comment="numbers hold up"
    )


def _ab_test(session: Session, team: Team, now: datetime) -> tuple[int, int]:
    """v1 against v2 on the assistant, started three hours ago, a look every 15 minutes."""
    definition = ABTestDefinition.model_validate(
        {
            "endpoint": "assistant",
            "name": AB_TEST_NAME,
            "variants": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}],
            "primary": {"metric": "success_rate", "mde": 0.03},
            "guardrails": [{"metric": "latency_p95", "margin": 0.1, "relative": True}],
            "actor": "ann",
        }
    )
    started = now - 180 * MINUTE
    test = create_test(session, team, definition, now=started)
    start_test(session, team, test.id, flow_run_id=FLOW_RUN, now=started)
    looks = 0
    for k in range(1, 12):
        _, look = take_look(session, team, test.id, now=started + 15 * k * MINUTE)
        looks += look is not None
    return test.id, looks


def _alerts(session: Session, team: Team, now: datetime) -> None:
    """An error-rate rule on chatbot, evaluated minute by minute over the last 20 minutes."""
    rule = {
        "name": ALERT_RULE,
        "kind": "threshold",
        "severity": "critical",
        "metric": "error_rate",
        "above": 0.08,
        "window": "5m",
        "for": "2m",
        "min_samples": 10,
    }
    stored = AlertRuleSpec.model_validate(rule).model_dump(mode="json", exclude_none=True)
    session.execute(
        update(ModelRow)
        .where(ModelRow.team_id == team.id, ModelRow.name == "chatbot")
        .values(alerts=[stored])
    )
    for m in range(20, -1, -1):
        evaluate_window(session, team, now - m * MINUTE)
