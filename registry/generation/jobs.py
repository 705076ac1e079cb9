"""Generation jobs of one team: one row per idempotency key, written before the provider is
called, so a retry never makes a second provider job. Never commits.

Each attempt to create the provider's job is reserved first (`reserve_attempt`, a
compare-and-set on the attempt number that records the key it will use); a row with an
attempt reserved and no provider job id is in doubt until the provider's job is found.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from registry.domain import Team
from registry.errors import NotFoundError, translate_database_errors
from registry.generation.domain import (
    GenerationJobRecord,
    JobFailure,
    JobStatus,
    JobTiming,
    NewGenerationJob,
    ResultAsset,
)
from registry.generation.tables import GenerationJobRow

J = GenerationJobRow
_OPEN = (JobStatus.PENDING.value, JobStatus.PROCESSING.value)


class GenerationJobRepository:
    """Jobs of one team; another team's are invisible (every query filters on team_id)."""

    def __init__(self, session: Session, team: Team) -> None:
        self._session = session
        self._team = team

    def claim(
        self, new: NewGenerationJob, *, now: datetime, timing: JobTiming
    ) -> GenerationJobRecord:
        """Insert the job under its idempotency key (a concurrent twin gets ConflictError)."""
        row = J(
            team_id=self._team.id,
            status=JobStatus.PENDING.value,
            created_at=now,
            updated_at=now,
            expires_at=now + timedelta(seconds=timing.max_age_seconds),
            confirm_by=now + timedelta(seconds=timing.confirm_seconds),
            next_poll_at=now + timedelta(seconds=timing.confirm_seconds),
            **new.model_dump(),
        )
        with translate_database_errors(f"claiming generation job {new.idempotency_key!r}"):
            self._session.add(row)
            self._session.flush()
        return to_record(row)

    def find_by_key(self, idempotency_key: str) -> GenerationJobRecord | None:
        row = self._session.scalar(self._own().where(J.idempotency_key == idempotency_key))
        return None if row is None else to_record(row)

    def get(self, public_id: str) -> GenerationJobRecord:
        row = self._session.scalar(self._own().where(J.public_id == public_id))
        if row is None:
            raise NotFoundError(f"no generation job {public_id!r}")
        return to_record(row)

    def by_provider_job(self, provider: str, provider_job_id: str) -> GenerationJobRecord | None:
        query = self._own().where(J.provider == provider, J.provider_job_id == provider_job_id)
        row = self._session.scalar(query)
        return None if row is None else to_record(row)

    def reserve_attempt(
        self, job_id: int, *, expected_attempts: int, key_id: int | None, now: datetime
    ) -> bool:
        """Take attempt `expected_attempts + 1` for the caller; False if another caller took it
        (or the job has its provider job already). The key is recorded before anything is sent."""
        taken = self._session.execute(
            update(J)
            .where(
                J.id == job_id,
                J.team_id == self._team.id,
                J.attempts == expected_attempts,
                J.provider_job_id.is_(None),
                J.submitted_at.is_(None),  # the last attempt was refused, or none was made
                J.status.in_(_OPEN),
            )
            .values(
                attempts=expected_attempts + 1,
                submitted_at=now,
                provider_key_id=key_id,
                updated_at=now,
            )
            .returning(J.id)
            .execution_options(synchronize_session=False)
        ).first()
        return taken is not None

    def release_attempt(self, job_id: int, *, now: datetime) -> None:
        """The attempt was certainly not accepted (the provider answered with an error)."""
        self._update(job_id, submitted_at=None, updated_at=now)

    def adopt(
        self,
        job_id: int,
        *,
        provider_job_id: str,
        key_id: int | None,
        now: datetime,
        poll_at: datetime,
    ) -> GenerationJobRecord:
        """Record the provider's job (its answer to create, a lookup, or a tagged webhook)."""
        changes: dict[str, Any] = {
            "provider_job_id": provider_job_id,
            "accepted_at": now,
            "confirm_by": None,
            "next_poll_at": poll_at,
            "updated_at": now,
        }
        if key_id is not None:
            changes["provider_key_id"] = key_id
        with translate_database_errors(f"recording provider job {provider_job_id!r}"):
            return self._update(job_id, **changes)

    def change(self, job_id: int, changes: dict[str, Any], *, now: datetime) -> GenerationJobRecord:
        return self._update(job_id, **changes, updated_at=now) if changes else self.by_id(job_id)

    def end(
        self, job_id: int, status: JobStatus, failure: JobFailure | None, *, now: datetime
    ) -> GenerationJobRecord:
        """End the job here (failed with a reason, or cancelled before the provider had it)."""
        if not status.is_terminal:
            raise ValueError(f"{status} does not end a job")
        return self._update(
            job_id,
            status=status.value,
            error=None if failure is None else failure.model_dump(mode="json"),
            finished_at=now,
            next_poll_at=None,
            confirm_by=None,
            updated_at=now,
        )

    def lock(self, job_id: int) -> GenerationJobRecord:
        """The job, locked until the transaction ends (settling it twice at once is impossible)."""
        return to_record(self._row(job_id, for_update=True))

    def by_id(self, job_id: int) -> GenerationJobRecord:
        return to_record(self._row(job_id))

    def _update(self, job_id: int, **values: Any) -> GenerationJobRecord:
        row = self._row(job_id)
        for name, value in values.items():
            setattr(row, name, value)
        self._session.flush()
        return to_record(row)

    def _row(self, job_id: int, *, for_update: bool = False) -> GenerationJobRow:
        query = self._own().where(J.id == job_id)
        row = self._session.scalar(query.with_for_update() if for_update else query)
        if row is None:
            raise NotFoundError(f"no generation job with id {job_id}")
        return row

    def _own(self) -> Select[tuple[GenerationJobRow]]:
        return select(J).where(J.team_id == self._team.id)


def job_by_public_id(session: Session, public_id: str) -> GenerationJobRecord | None:
    """Any team's job by its public id: what the job tag in a provider's webhook URL names."""
    row = session.scalar(select(J).where(J.public_id == public_id))
    return None if row is None else to_record(row)


def claim_due_jobs(
    session: Session, *, now: datetime, limit: int, lease_seconds: float
) -> builtins.list[GenerationJobRecord]:
    """Open jobs of every team whose next poll (or deadline) is due, oldest due first; each is
    leased by pushing its next poll `lease_seconds` on, so a second poller skips it (and
    `SKIP LOCKED` keeps two transactions from taking the same row)."""
    query = (
        select(J)
        .where(J.status.in_(_OPEN), or_(J.next_poll_at <= now, J.expires_at <= now))
        .order_by(J.next_poll_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.scalars(query).all()
    for row in rows:
        row.next_poll_at = now + timedelta(seconds=lease_seconds)
    session.flush()
    return [to_record(row) for row in rows]


def to_record(row: GenerationJobRow) -> GenerationJobRecord:
    return GenerationJobRecord(
        id=row.id,
        public_id=row.public_id,
        team_id=row.team_id,
        endpoint_id=row.endpoint_id,
        model_version_id=row.model_version_id,
        version=row.version,
        provider=row.provider,
        provider_model_id=row.provider_model_id,
        category=row.category,
        idempotency_key=row.idempotency_key,
        request=row.request,
        request_sha256=row.request_sha256,
        status=JobStatus(row.status),
        raw_status=row.raw_status,
        provider_job_id=row.provider_job_id,
        provider_key_id=row.provider_key_id,
        attempts=row.attempts,
        submitted_at=row.submitted_at,
        progress=row.progress,
        result=[ResultAsset.model_validate(asset) for asset in row.result],
        error=None if row.error is None else JobFailure.model_validate(row.error),
        callback_url=row.callback_url,
        created_at=row.created_at,
        updated_at=row.updated_at,
        accepted_at=row.accepted_at,
        finished_at=row.finished_at,
        last_heard_at=row.last_heard_at,
        next_poll_at=row.next_poll_at,
        expires_at=row.expires_at,
        confirm_by=row.confirm_by,
    )


__all__: Sequence[str] = [
    "GenerationJobRepository",
    "claim_due_jobs",
    "job_by_public_id",
    "to_record",
]
