"""Generation job rows on PostgreSQL and SQLite alike: one per idempotency key and team, an
attempt reserved by compare-and-set, a provider's job adopted once, due jobs leased; and the
merge rule, which only ever moves a job forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.endpoints import NewEndpoint, create_endpoint
from registry.endpoints.domain import Environment
from registry.errors import ConflictError
from registry.generation.domain import (
    JobFailure,
    JobStatus,
    JobTiming,
    NewGenerationJob,
    Observation,
    ResultAsset,
)
from registry.generation.jobs import GenerationJobRepository, claim_due_jobs
from registry.generation.transitions import merge, next_poll_delay
from registry.lifecycle import NewVersion, register_version
from tests.registry.seed import seed_model

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIMING = JobTiming()


@pytest.fixture
def sessions(db_url: str) -> sessionmaker[Session]:
    engine = make_engine(db_url)
    yield make_session_factory(engine)  # type: ignore[misc]
    engine.dispose()


def _new(session: Session, team: Team, key: str, public_id: str) -> NewGenerationJob:
    endpoint = create_endpoint(
        session,
        team,
        NewEndpoint(
            name=f"e-{public_id[-6:]}",
            model="support-intent",
            environment=Environment.DEVELOPMENT,
            actor="t",
        ),
    )
    return NewGenerationJob(
        public_id=public_id,
        endpoint_id=endpoint.id,
        model_version_id=1,
        version=1,
        provider="local",
        provider_model_id="m",
        category="text-to-image",
        idempotency_key=key,
        request={"prompt": "p"},
        request_sha256="0" * 64,
    )


def _team(sessions: sessionmaker[Session], name: str) -> Team:
    with sessions.begin() as session:
        team = seed_model(session, name)
        register_version(
            session, team, NewVersion(model="support-intent", provider_model_id="m", actor="t")
        )
        return team


def test_one_job_per_idempotency_key_and_team(sessions: sessionmaker[Session]) -> None:
    alpha, beta = _team(sessions, "alpha"), _team(sessions, "beta")
    with sessions.begin() as session:
        GenerationJobRepository(session, alpha).claim(
            _new(session, alpha, "k", "genjob_a00001"), now=T0, timing=TIMING
        )
    with pytest.raises(ConflictError), sessions.begin() as session:
        GenerationJobRepository(session, alpha).claim(
            _new(session, alpha, "k", "genjob_a00002"), now=T0, timing=TIMING
        )
    with sessions.begin() as session:  # the same key in another team is another job
        GenerationJobRepository(session, beta).claim(
            _new(session, beta, "k", "genjob_b00001"), now=T0, timing=TIMING
        )
        assert GenerationJobRepository(session, beta).find_by_key("k") is not None
        assert GenerationJobRepository(session, alpha).find_by_key("k").public_id == "genjob_a00001"  # type: ignore[union-attr]


def test_an_attempt_is_taken_once_and_freed_only_by_a_refusal(
    sessions: sessionmaker[Session],
) -> None:
    team = _team(sessions, "alpha")
    with sessions.begin() as session:
        job = GenerationJobRepository(session, team).claim(
            _new(session, team, "k", "genjob_000001"), now=T0, timing=TIMING
        )
    with sessions.begin() as session:
        jobs = GenerationJobRepository(session, team)
        assert jobs.reserve_attempt(job.id, expected_attempts=0, key_id=7, now=T0)
        assert not jobs.reserve_attempt(job.id, expected_attempts=0, key_id=8, now=T0)  # a twin
        assert not jobs.reserve_attempt(job.id, expected_attempts=1, key_id=8, now=T0)  # in doubt
        taken = jobs.by_id(job.id)
        assert (taken.attempts, taken.provider_key_id, taken.in_doubt) == (1, 7, True)
        jobs.release_attempt(job.id, now=T0)  # the provider refused attempt 1
        assert jobs.reserve_attempt(job.id, expected_attempts=1, key_id=8, now=T0)
        adopted = jobs.adopt(job.id, provider_job_id="p-1", key_id=8, now=T0, poll_at=T0)
        assert (adopted.provider_job_id, adopted.in_doubt, adopted.unsent) == ("p-1", False, False)
        assert not jobs.reserve_attempt(job.id, expected_attempts=2, key_id=9, now=T0)


def test_a_providers_job_belongs_to_one_job(sessions: sessionmaker[Session]) -> None:
    team = _team(sessions, "alpha")
    with sessions.begin() as session:
        jobs = GenerationJobRepository(session, team)
        a = jobs.claim(_new(session, team, "a", "genjob_00000a"), now=T0, timing=TIMING)
        b = jobs.claim(_new(session, team, "b", "genjob_00000b"), now=T0, timing=TIMING)
        jobs.adopt(a.id, provider_job_id="same", key_id=None, now=T0, poll_at=T0)
    with pytest.raises(ConflictError), sessions.begin() as session:
        GenerationJobRepository(session, team).adopt(
            b.id, provider_job_id="same", key_id=None, now=T0, poll_at=T0
        )


def test_due_jobs_are_leased_to_one_poller(sessions: sessionmaker[Session]) -> None:
    team = _team(sessions, "alpha")
    with sessions.begin() as session:
        jobs = GenerationJobRepository(session, team)
        job = jobs.claim(_new(session, team, "k", "genjob_00000c"), now=T0, timing=TIMING)
        jobs.adopt(
            job.id, provider_job_id="p", key_id=None, now=T0, poll_at=T0 + timedelta(seconds=30)
        )
    later = T0 + timedelta(seconds=30)
    with sessions.begin() as session:
        assert claim_due_jobs(session, now=T0, limit=10, lease_seconds=120) == []
        [due] = claim_due_jobs(session, now=later, limit=10, lease_seconds=120)
    with sessions.begin() as session:
        assert claim_due_jobs(session, now=later, limit=10, lease_seconds=120) == []  # leased
        assert [
            j.id
            for j in claim_due_jobs(
                session, now=later + timedelta(seconds=120), limit=10, lease_seconds=120
            )
        ] == [due.id]


def _record(
    sessions: sessionmaker[Session],
    status: JobStatus = JobStatus.PENDING,
    progress: float | None = None,
):  # type: ignore[no-untyped-def]
    team = _team(sessions, "alpha")
    with sessions.begin() as session:
        jobs = GenerationJobRepository(session, team)
        job = jobs.claim(_new(session, team, "k", "genjob_00000d"), now=T0, timing=TIMING)
        return jobs.change(job.id, {"status": status.value, "progress": progress}, now=T0)


def test_observations_only_move_a_job_forward(sessions: sessionmaker[Session]) -> None:
    running = _record(sessions, JobStatus.PROCESSING, progress=0.5)
    now = T0 + timedelta(seconds=60)
    late_queued = merge(
        running,
        Observation(status=JobStatus.PENDING, progress=0.1),
        now=now,
        timing=TIMING,
        heard=False,
    )
    assert "status" not in late_queued and "progress" not in late_queued
    ahead = merge(
        running,
        Observation(status=JobStatus.PROCESSING, progress=0.75),
        now=now,
        timing=TIMING,
        heard=False,
    )
    assert ahead["progress"] == 0.75 and "status" not in ahead
    done = merge(
        running,
        Observation(status=JobStatus.COMPLETED, result=[ResultAsset(url="https://x.test/a.png")]),
        now=now,
        timing=TIMING,
        heard=True,
    )
    assert (done["status"], done["finished_at"], done["next_poll_at"]) == ("completed", now, None)
    assert done["result"] == [
        {
            "url": "https://x.test/a.png",
            "stored": False,
            "content_type": None,
            "size_bytes": None,
            "sha256": None,
            "duration_seconds": None,
            "text": None,
        }
    ]
    ended = running.model_copy(update={"status": JobStatus.FAILED})
    assert (
        merge(ended, Observation(status=JobStatus.COMPLETED), now=now, timing=TIMING, heard=True)
        == {}
    )
    failure = merge(
        running,
        Observation(status=JobStatus.FAILED, error=JobFailure(code="x", message="y")),
        now=now,
        timing=TIMING,
        heard=False,
    )
    assert failure["error"] == {"code": "x", "message": "y"}


def test_the_next_poll_grows_with_age_and_honours_hints(sessions: sessionmaker[Session]) -> None:
    job = _record(sessions)
    assert next_poll_delay(job, None, now=T0, timing=TIMING, heard=False) == timedelta(seconds=30)
    hour = T0 + timedelta(hours=1)
    assert next_poll_delay(job, None, now=hour, timing=TIMING, heard=False) == timedelta(
        seconds=360
    )
    day = T0 + timedelta(days=1)
    assert next_poll_delay(job, None, now=day, timing=TIMING, heard=False) == timedelta(seconds=600)
    assert next_poll_delay(job, None, now=T0, timing=TIMING, heard=True) == timedelta(seconds=60)
    hinted = Observation(status=JobStatus.PROCESSING, poll_after_seconds=90)
    assert next_poll_delay(job, hinted, now=T0, timing=TIMING, heard=False) == timedelta(seconds=90)
