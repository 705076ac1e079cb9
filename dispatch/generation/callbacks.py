"""Delivering the notices owed to callback URLs: signed with every live callback secret of
the job's endpoint (else its team), POSTed once per due attempt, each attempt logged; the
retries follow the Standard Webhooks schedule (registry.generation.callbacks)."""

from __future__ import annotations

import logging

import httpx
from sqlalchemy.orm import Session

from adapters.webhooks import sign_standard_webhook
from dispatch.generation.runtime import JobsRuntime
from registry.domain import Frozen, Team
from registry.generation.callbacks import (
    CallbackLogEntry,
    PendingCallback,
    due_callbacks,
    record_attempt,
)
from registry.generation.domain import CallbackStatus
from registry.generation.jobs import GenerationJobRepository
from registry.generation.secrets import WebhookSecretRepository
from registry.keys import MasterKeyMissingError

log = logging.getLogger("dispatch.generation.callbacks")
DELIVERY_TIMEOUT_SECONDS = 10.0


class DeliveryReport(Frozen):
    callback_id: int
    job_id: int
    status: CallbackStatus
    status_code: int | None
    error: str | None


async def deliver_due(
    runtime: JobsRuntime, *, ids: list[int] | None = None, limit: int = 100
) -> list[DeliveryReport]:
    """Send the notices due now (or these ones): one attempt each."""
    if runtime.http is None:
        return []
    now = runtime.clock()
    due = await runtime.tx(lambda s: due_callbacks(s, now=now, limit=limit, ids=ids))
    return [await _deliver(runtime, runtime.http, pending) for pending in due]


async def _deliver(
    runtime: JobsRuntime, client: httpx.AsyncClient, pending: PendingCallback
) -> DeliveryReport:
    status_code: int | None = None
    error: str | None = None
    try:
        secrets = await runtime.tx(lambda session: _secrets(runtime, session, pending))
        if not secrets:
            raise LookupError("no callback secret is live for the job's endpoint or team")
        headers = sign_standard_webhook(pending.webhook_id, pending.payload, secrets)
        answer = await client.post(
            pending.url,
            content=pending.payload,
            headers={"content-type": "application/json", **headers},
            timeout=DELIVERY_TIMEOUT_SECONDS,
        )
        status_code = answer.status_code
    except (httpx.HTTPError, LookupError, MasterKeyMissingError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    entry = CallbackLogEntry(at=runtime.clock(), status_code=status_code, error=error)
    outcome = await runtime.tx(lambda session: record_attempt(session, pending.id, entry))
    log.info(
        "callback %s of job %s: %s (%s)",
        pending.id,
        pending.job_id,
        outcome,
        status_code if error is None else error,
    )
    return DeliveryReport(
        callback_id=pending.id,
        job_id=pending.job_id,
        status=outcome,
        status_code=status_code,
        error=error,
    )


def _secrets(runtime: JobsRuntime, session: Session, pending: PendingCallback) -> list[str]:
    if runtime.keyring is None:
        raise MasterKeyMissingError()
    team = Team(id=pending.team_id, name=f"team {pending.team_id}")
    job = GenerationJobRepository(session, team).by_id(pending.job_id)
    repository = WebhookSecretRepository(session, team, runtime.keyring)
    found = repository.callback_secrets(job.endpoint_id, now=runtime.clock())
    return [secret.get_secret_value() for secret in found]


__all__ = ["DELIVERY_TIMEOUT_SECONDS", "DeliveryReport", "deliver_due"]
