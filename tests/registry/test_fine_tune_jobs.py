"""The fine-tune job rows the flow relies on, on PostgreSQL and SQLite: one row per key,
attempts, and the lookups by flow run and by resulting version."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.errors import ConflictError
from registry.finetune_jobs import (
    FineTuneJobRepository,
    FineTuneStatus,
    NewFineTuneJob,
    attempt_key,
)
from registry.model_repository import ModelRepository
from tests.registry.seed import add_version, seed_model

BASE = "ft-" + "0" * 40


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    with make_session_factory(engine)() as s:
        yield s
    engine.dispose()


def _new(team: Team, session: Session, key: str, flow_run_id: str | None = None) -> NewFineTuneJob:
    model = ModelRepository(session, team).get("support-intent")
    return NewFineTuneJob(
        model_id=model.id,
        parent_version_id=None,
        idempotency_key=key,
        provider="local",
        base_model="tfidf-logreg",
        dataset_uri="file:///data/train.jsonl",
        dataset_sha256="a" * 64,
        hyperparameters={"n_epochs": None, "seed": 0},
        flow_run_id=flow_run_id,
    )


def test_a_key_holds_one_job_and_a_twin_claim_conflicts(session: Session) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        claimed = FineTuneJobRepository(session, team).claim(_new(team, session, BASE + "-a1"))
    assert (claimed.status, claimed.provider_job_id) == (FineTuneStatus.CREATING, None)

    with pytest.raises(ConflictError), session.begin():
        FineTuneJobRepository(session, team).claim(_new(team, session, BASE + "-a1"))
    with session.begin():
        assert FineTuneJobRepository(session, team).find(BASE + "-a1") == claimed


def test_the_latest_attempt_is_the_highest_number_not_the_last_in_text_order(
    session: Session,
) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        jobs = FineTuneJobRepository(session, team)
        for attempt in (9, 10, 2):
            jobs.claim(_new(team, session, attempt_key(BASE, attempt)))
        jobs.claim(_new(team, session, attempt_key("ft-" + "1" * 40, 11)))
        latest = jobs.latest_attempt(BASE)
    assert latest is not None and latest.idempotency_key == attempt_key(BASE, 10)


def test_lookups_by_flow_run_and_by_version_stay_inside_the_team(session: Session) -> None:
    with session.begin():
        alpha = seed_model(session, "alpha")
        beta = seed_model(session, "beta")
        version = ModelRepository(session, alpha).version(
            "support-intent", add_version(session, alpha)
        )
        jobs = FineTuneJobRepository(session, alpha)
        jobs.claim(_new(alpha, session, BASE + "-a1", flow_run_id="run-1"))
        events = [{"id": "e1", "message": "Training started"}]
        jobs.update(BASE + "-a1", result_version_id=version.id, events=events, status="succeeded")
    with session.begin():
        mine = FineTuneJobRepository(session, alpha)
        found = mine.find_by_flow_run("run-1")
        assert found is not None and found.events == events
        assert found.status is FineTuneStatus.SUCCEEDED and found.status.is_terminal
        assert mine.find_by_result(version.id) == found
        theirs = FineTuneJobRepository(session, beta)
        assert theirs.find_by_flow_run("run-1") is None
        assert theirs.find_by_result(version.id) is None
        assert theirs.latest_attempt(BASE) is None
