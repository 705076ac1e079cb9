"""What every step of a generation job needs: the database, provider handles, the master
keyring (webhook secrets), where outputs are kept, the timing rules and the clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlencode

import httpx
from sqlalchemy.orm import Session, sessionmaker

from adapters.jobs import JobStatus as ProviderStatus
from dispatch.generation.handles import HandleSource
from registry.domain import Team
from registry.generation.artifacts import ArtifactStore
from registry.generation.domain import GenerationJobRecord, JobStatus, JobTiming
from registry.generation.jobs import GenerationJobRepository
from registry.keys import MasterKeyring
from registry.orm import utcnow
from registry.tables import TeamRow

T = TypeVar("T")

# The provider's normalised word for a job → ours.
STATUS_OF = {
    ProviderStatus.QUEUED: JobStatus.PENDING,
    ProviderStatus.RUNNING: JobStatus.PROCESSING,
    ProviderStatus.SUCCEEDED: JobStatus.COMPLETED,
    ProviderStatus.FAILED: JobStatus.FAILED,
    ProviderStatus.CANCELLED: JobStatus.CANCELLED,
}
WEBHOOK_PATH = "/v1/webhooks/{provider}"
JOB_TAG = "job"  # the query parameter of a provider's callback URL naming our job


@dataclass
class JobsRuntime:
    sessions: sessionmaker[Session]
    handles: HandleSource
    keyring: MasterKeyring | None
    data_dir: Path
    # Where providers reach the gateway (`https://gw.example.com`); None: poll only.
    public_url: str | None = None
    timing: JobTiming = field(default_factory=JobTiming)
    # Sends the callback notices; the caller owns it (None: notices wait for a poller).
    http: httpx.AsyncClient | None = None
    clock: Callable[[], datetime] = utcnow
    # Each provider call's own timeout, inside the key pool's attempt timeout: a create that
    # runs out of time is in doubt and is never sent again under another key.
    call_timeout_seconds: float = 20.0

    @property
    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.data_dir)

    async def tx(self, step: Callable[[Session], T]) -> T:
        """One transaction in a worker thread (the database is never awaited on the loop)."""

        def run() -> T:
            with self.sessions.begin() as session:
                return step(session)

        return await asyncio.to_thread(run)

    async def jobs(self, team: Team, step: Callable[[GenerationJobRepository], T]) -> T:
        return await self.tx(lambda session: step(GenerationJobRepository(session, team)))

    def provider_callback_url(self, job: GenerationJobRecord) -> str | None:
        """`{public_url}/v1/webhooks/{provider}?job={public id}`: the provider's webhook names
        our job even when its create answer was lost."""
        if not self.public_url:
            return None
        path = WEBHOOK_PATH.format(provider=quote(job.provider, safe=""))
        return f"{self.public_url.rstrip('/')}{path}?{urlencode({JOB_TAG: job.public_id})}"


def owner_of(job: GenerationJobRecord) -> Team:
    """The team a job belongs to, as repositories take it (only its id is read)."""
    return Team(id=job.team_id, name=f"team {job.team_id}")


def team_of(session: Session, team_id: int) -> Team:
    row = session.get(TeamRow, team_id)
    if row is None:
        raise ValueError(f"no team {team_id}")
    return Team(id=row.id, name=row.name)


__all__ = ["JOB_TAG", "STATUS_OF", "WEBHOOK_PATH", "JobsRuntime", "owner_of", "team_of"]
