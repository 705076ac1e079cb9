"""`POST /v1/webhooks/{provider}` as a plain async function: verify the provider's webhook
with every team's secrets for that provider (nothing in it is trusted before), store it raw
with its verdict, deduplicate it by its webhook id, and apply it to the job it names.

Every delivery is stored, whatever its verdict. Refused ones (bad signature, stale, malformed)
change nothing and are answered 4xx. A verified one for a job nobody knows is stored and
reported (logged), answered 200 so the provider stops sending it. A verified one that could
not be applied yet (the provider did not answer the follow-up call) is answered 503: the
provider's retry, or the poller, applies it; a retry of an applied one changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import JsonValue, SecretStr
from sqlalchemy.orm import Session

from adapters.errors import MalformedWebhookError, ProviderError, StaleWebhookError, WebhookError
from adapters.generation import WebhookNotice
from adapters.registry import generation_adapter
from dispatch.generation.observe import observe
from dispatch.generation.polling import refresh
from dispatch.generation.runtime import JOB_TAG, JobsRuntime, team_of
from dispatch.generation.submit import adopt
from dispatch.keyed_call import CallFailedError
from registry.errors import NotFoundError, RegistryError
from registry.generation.domain import GenerationJobRecord, WebhookVerdict
from registry.generation.jobs import GenerationJobRepository, job_by_public_id
from registry.generation.secrets import provider_secrets_by_team
from registry.generation.webhook_events import Received, first_of, mark_applied, store_event

log = logging.getLogger("gateway.webhooks")
MAX_WEBHOOK_BYTES = 1024 * 1024
STATUS_OF_VERDICT = {
    WebhookVerdict.ACCEPTED: 200,
    WebhookVerdict.DUPLICATE: 200,
    WebhookVerdict.UNKNOWN_JOB: 200,
    WebhookVerdict.JOB_MISMATCH: 200,
    WebhookVerdict.BAD_SIGNATURE: 401,
    WebhookVerdict.STALE: 401,
    WebhookVerdict.NO_SECRET: 401,
    WebhookVerdict.MALFORMED: 400,
    WebhookVerdict.TOO_LARGE: 413,
    WebhookVerdict.UNKNOWN_PROVIDER: 404,
}


@dataclass(frozen=True)
class WebhookReceipt:
    status_code: int
    verdict: WebhookVerdict
    event_id: int
    job: str | None = None
    changes: dict[str, JsonValue] = field(default_factory=dict)
    detail: str = ""
    # The job ended with a callback owed: deliver it off the response path.
    callback_due: bool = False

    @property
    def body(self) -> dict[str, JsonValue]:
        return {
            "verdict": self.verdict.value,
            "event": self.event_id,
            "job": self.job,
            "changes": self.changes,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class _Verified:
    team_id: int
    notice: WebhookNotice


async def receive_webhook(
    runtime: JobsRuntime,
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    query: Mapping[str, str] | None = None,
) -> WebhookReceipt:
    received = Received(provider=provider, headers=headers, body=body, at=runtime.clock())
    if len(body) > MAX_WEBHOOK_BYTES:
        detail = f"the body is {len(body)} bytes; at most {MAX_WEBHOOK_BYTES} are taken"
        return await _refused(runtime, received, WebhookVerdict.TOO_LARGE, detail)
    try:
        adapter = generation_adapter(runtime.handles.adapter(provider))
    except (NotFoundError, ValueError) as exc:
        return await _refused(runtime, received, WebhookVerdict.UNKNOWN_PROVIDER, str(exc))
    secrets = await _secrets(runtime, provider)
    if not secrets:
        detail = f"no team holds a webhook secret for {provider}; add one to verify its webhooks"
        return await _refused(runtime, received, WebhookVerdict.NO_SECRET, detail)
    verdict, found = _verify(adapter.parse_webhook, headers, body, secrets)
    if found is None:
        return await _refused(runtime, received, verdict[0], verdict[1])
    return await _accepted(runtime, received, found, (query or {}).get(JOB_TAG))


Parse = Callable[[Mapping[str, str], bytes, Sequence[SecretStr]], WebhookNotice]


def _verify(
    parse: Parse,
    headers: Mapping[str, str],
    body: bytes,
    secrets: dict[int, list[SecretStr]],
) -> tuple[tuple[WebhookVerdict, str], _Verified | None]:
    """Try each team's secrets; the first team whose secret verifies owns the webhook."""
    refusal = (WebhookVerdict.BAD_SIGNATURE, "no secret of any team verifies the signature")
    for team_id, team_secrets in secrets.items():
        try:
            notice = parse(headers, body, team_secrets)
        except MalformedWebhookError as exc:
            return (WebhookVerdict.MALFORMED, str(exc)), None
        except StaleWebhookError as exc:
            refusal = (WebhookVerdict.STALE, str(exc))
        except WebhookError:
            continue
        else:
            return refusal, _Verified(team_id, notice)
    return refusal, None


async def _accepted(
    runtime: JobsRuntime, received: Received, verified: _Verified, tag: str | None
) -> WebhookReceipt:
    notice = verified.notice
    job, mismatch = await runtime.tx(lambda s: _job_of(s, verified, received.provider, tag))
    if job is None:
        verdict = WebhookVerdict.JOB_MISMATCH if mismatch else WebhookVerdict.UNKNOWN_JOB
        detail = mismatch or f"no job of the team is {received.provider} job {notice.job_id!r}"
        log.warning("webhook from %s for %s: %s", received.provider, notice.job_id, detail)
        return await _refused(runtime, received, verdict, detail, verified=verified)
    event = await runtime.tx(
        lambda s: store_event(
            s,
            received,
            WebhookVerdict.ACCEPTED,
            webhook_id=notice.webhook_id,
            team_id=verified.team_id,
            job_id=job.id,
            provider_job_id=notice.job_id,
        )
    )
    if event.verdict is WebhookVerdict.DUPLICATE:
        first = await runtime.tx(lambda s: first_of(s, received.provider, notice.webhook_id))
        if first is None or first.applied_at is not None:
            return _receipt(event.verdict, event.id, job, {}, event.detail)
        event = first  # stored before, never applied: apply it now
    return await _apply(runtime, event.id, job, notice)


async def _apply(
    runtime: JobsRuntime, event_id: int, job: GenerationJobRecord, notice: WebhookNotice
) -> WebhookReceipt:
    team = await runtime.tx(lambda session: team_of(session, job.team_id))
    handle = runtime.handles.handle(team, job.provider)
    try:
        if job.provider_job_id is None and notice.job is not None:
            before = job
            job = await adopt(runtime, handle, team, job, notice.job, key_id=job.provider_key_id)
            changes: dict[str, JsonValue] = {"provider_job_id": [None, notice.job_id]}
            changes.update(_status_change(before, job))
        elif notice.job is not None:
            applied = await observe(runtime, handle, job, notice.job, heard=True)
            job, changes = applied.job, applied.changes
        else:  # the webhook only names the job: ask the provider, with the job's key
            applied = await refresh(runtime, team, job, heard=True)
            job, changes = applied.job, applied.changes
    except (ProviderError, CallFailedError, RegistryError, ValueError) as exc:
        detail = f"stored; applying it failed ({exc}); a retry or the poller will apply it"
        return _receipt(WebhookVerdict.ACCEPTED, event_id, job, {}, detail, status=503)
    now = runtime.clock()
    await runtime.tx(lambda s: mark_applied(s, event_id, job_id=job.id, changes=changes, at=now))
    due = bool(changes) and job.status.is_terminal and job.callback_url is not None
    return _receipt(WebhookVerdict.ACCEPTED, event_id, job, changes, "", callback_due=due)


def _job_of(
    session: Session, verified: _Verified, provider: str, tag: str | None
) -> tuple[GenerationJobRecord | None, str]:
    """The team's job the webhook names: by the job tag of our callback URL, else by the
    provider's job id. A tag naming a job that has another provider job is a mismatch."""
    notice = verified.notice
    if tag:
        job = job_by_public_id(session, tag)
        if job is None or job.team_id != verified.team_id or job.provider != provider:
            return None, ""
        if job.provider_job_id not in (None, notice.job_id):
            return None, f"job {tag} is {provider} job {job.provider_job_id}, not {notice.job_id}"
        return job, ""
    team = team_of(session, verified.team_id)
    return GenerationJobRepository(session, team).by_provider_job(provider, notice.job_id), ""


async def _secrets(runtime: JobsRuntime, provider: str) -> dict[int, list[SecretStr]]:
    ring = runtime.keyring
    if ring is None:
        return {}
    now = runtime.clock()
    return await runtime.tx(lambda s: provider_secrets_by_team(s, ring, provider, now=now))


async def _refused(
    runtime: JobsRuntime,
    received: Received,
    verdict: WebhookVerdict,
    detail: str,
    *,
    verified: _Verified | None = None,
) -> WebhookReceipt:
    notice = verified.notice if verified else None
    event = await runtime.tx(
        lambda s: store_event(
            s,
            received,
            verdict,
            detail=detail,
            webhook_id=notice.webhook_id if notice else None,
            team_id=verified.team_id if verified else None,
            provider_job_id=notice.job_id if notice else None,
        )
    )
    if not verdict.verified:
        log.info("webhook from %s refused (%s): %s", received.provider, verdict, detail)
    return WebhookReceipt(STATUS_OF_VERDICT[verdict], verdict, event.id, detail=detail)


def _receipt(
    verdict: WebhookVerdict,
    event_id: int,
    job: GenerationJobRecord,
    changes: dict[str, JsonValue],
    detail: str,
    *,
    status: int | None = None,
    callback_due: bool = False,
) -> WebhookReceipt:
    return WebhookReceipt(
        status or STATUS_OF_VERDICT[verdict],
        verdict,
        event_id,
        job=job.public_id,
        changes=changes,
        detail=detail,
        callback_due=callback_due,
    )


def _status_change(before: GenerationJobRecord, after: GenerationJobRecord) -> dict[str, JsonValue]:
    if before.status is after.status:
        return {}
    return {"status": [before.status.value, after.status.value]}


__all__ = ["MAX_WEBHOOK_BYTES", "WebhookReceipt", "receive_webhook"]
