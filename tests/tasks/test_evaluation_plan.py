"""Planning an evaluation from the registry: champion, staging gates, cost, scorable categories."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from registry.database import make_engine, make_session_factory
from registry.lifecycle import NewVersion, register_version
from registry.stages import Stage
from registry.tables import ModelRow
from tasks import context
from tasks.evaluation import plan_evaluation
from tasks.evaluation_plan import EvaluationInputError
from tests.registry.seed import advance, seed_model

POLICY = {
    "staging": {"approvers": ["carol"], "gates": {"min_accuracy": 0.8, "max_error_rate": 0.05}}
}


@pytest.fixture
def sessions(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    monkeypatch.setenv("MODELOPS_DATABASE_URL", pg_url)
    monkeypatch.setenv("MODELOPS_TEAM", "default")
    context.settings.cache_clear()
    context.database.cache_clear()
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        team = seed_model(session, "default")
        for model_id, stage in (("m-one", Stage.PRODUCTION), ("m-two", Stage.TESTING)):
            new = NewVersion(model="support-intent", provider_model_id=model_id, actor="t")
            advance(session, team, register_version(session, team, new).version, stage)
        # The policy arrives after the versions moved: seeding does not go through approvals.
        cost = {"input_per_1k": 0.25, "output_per_1k": 1.0}
        session.query(ModelRow).update({"policy": POLICY, "cost": cost})
    yield factory
    engine.dispose()
    context.database.cache_clear()
    context.settings.cache_clear()


def test_plan_compares_with_the_production_version_under_the_staging_policy(
    sessions: sessionmaker[Session],
) -> None:
    plan = plan_evaluation.fn("support-intent", 2)

    assert (plan.candidate.version, plan.candidate.stage, plan.candidate.provider_model_id) == (
        2,
        Stage.TESTING,
        "m-two",
    )
    assert plan.champion is not None and (
        plan.champion.version,
        plan.champion.provider_model_id,
    ) == (1, "m-one")
    assert (
        plan.gates.min_accuracy,
        plan.gates.max_error_rate,
        plan.gates.not_worse_than_champion,
    ) == (0.8, 0.05, None)
    assert plan.staging_approvers == ["carol"]
    assert (plan.cost.input_per_1k, plan.cost.output_per_1k) == (0.25, 1.0)


def test_the_production_version_itself_has_no_champion(sessions: sessionmaker[Session]) -> None:
    assert plan_evaluation.fn("support-intent", 1).champion is None


def test_a_model_whose_answers_cannot_be_compared_with_a_text_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        session.query(ModelRow).update({"category": "text-to-image"})

    with pytest.raises(
        EvaluationInputError,
        match="support-intent is a text-to-image model; evaluate scores classification and chat models",
    ):
        plan_evaluation.fn("support-intent", 2)
