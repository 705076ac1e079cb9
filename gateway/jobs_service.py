"""Generation jobs as the HTTP API serves them, as plain async functions of an authenticated
team and a parsed body: `POST /v1/endpoints/{e}/invoke` for an async category (202 with the
job), `GET /v1/jobs/{id}`, `POST /v1/jobs/{id}/cancel`, `GET /v1/jobs/{id}/content/{n}`.

Errors of the request are `JobServiceError` (status, message, param, code: the fields of the
gateway's OpenAI-shaped error). Provider and key-pool failures (`ProviderError`,
`CallFailedError`) are raised as they are, for the gateway's one mapping of them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import JsonValue, TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from adapters.categories import GENERATION
from adapters.errors import UnsupportedCategoryError
from adapters.generation import GenerationRequest
from adapters.registry import require_category
from dispatch.generation.polling import CancelUnsupportedError, cancel
from dispatch.generation.runtime import JobsRuntime
from dispatch.generation.submit import submit
from gateway.jobs_requests import (
    JobServiceError,
    check_callback_url,
    check_idempotency_key,
    not_found,
    validation_error,
)
from registry.domain import Team
from registry.endpoints.snapshots import route_table
from registry.endpoints.tables import EndpointRow
from registry.errors import ConflictError, NotFoundError
from registry.generation.documents import job_document
from registry.generation.domain import PUBLIC_ID_PREFIX, GenerationJobRecord, NewGenerationJob
from registry.generation.jobs import GenerationJobRepository
from registry.generation.secrets import WebhookSecretRepository
from registry.model_repository import ModelRepository
from registry.providers import ProviderRepository
from registry.routing import RouteTable, choose_routing_key

REQUEST: TypeAdapter[GenerationRequest] = TypeAdapter(GenerationRequest)
# Body fields that are the call's, not the standardized request's.
CALLBACK_FIELD = "callback_url"
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class JobAnswer:
    status_code: int  # 202 accepted and running, 200 an ended job (or a read)
    body: dict[str, JsonValue]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredContent:
    path: Path
    content_type: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class _Target:
    table: RouteTable
    category: str
    provider: str


@dataclass
class JobServices:
    runtime: JobsRuntime

    async def create(
        self,
        team: Team,
        endpoint: str,
        body: object,
        *,
        idempotency_key: str | None = None,
        routing_key: str | None = None,
    ) -> JobAnswer:
        """Validate, claim the job under its idempotency key, create the provider's job once."""
        fields, callback_url = _split(body)
        key = check_idempotency_key(idempotency_key) if idempotency_key else _fresh_key()
        digest = _digest(endpoint, fields, callback_url)
        existing = await self.runtime.jobs(team, lambda jobs: jobs.find_by_key(key))
        if existing is not None:
            return await self._replay(team, endpoint, existing, digest)
        target = await self.runtime.tx(lambda session: _target(session, team, endpoint))
        new = self._new_job(team, target, fields, callback_url, key, digest, routing_key)
        if callback_url is not None:
            await self._require_callback_secret(team, target)
        try:
            claimed = await self.runtime.jobs(
                team,
                lambda jobs: jobs.claim(new, now=self.runtime.clock(), timing=self.runtime.timing),
            )
        except ConflictError:  # a twin with the same key got there first
            twin = await self.runtime.jobs(team, lambda jobs: jobs.find_by_key(key))
            if twin is None:
                raise
            return await self._replay(team, endpoint, twin, digest)
        job = await submit(self.runtime, team, claimed)
        return self._answer(job, endpoint, replayed=False)

    async def get(self, team: Team, job_id: str) -> JobAnswer:
        job, endpoint = await self._job(team, job_id)
        return JobAnswer(200, self._document(job, endpoint))

    async def cancel(self, team: Team, job_id: str) -> JobAnswer:
        job, endpoint = await self._job(team, job_id)
        try:
            cancelled = await cancel(self.runtime, team, job)
        except CancelUnsupportedError as exc:
            raise JobServiceError(409, str(exc), code="cancel_unsupported") from None
        return JobAnswer(200, self._document(cancelled, endpoint))

    async def content(self, team: Team, job_id: str, index: int) -> StoredContent:
        """A stored output of a completed job (provider URLs are fetched from the provider)."""
        job, _ = await self._job(team, job_id)
        if not 0 <= index < len(job.result):
            raise JobServiceError(
                404,
                f"job {job_id} has {len(job.result)} output(s); there is no output {index}",
                param="index",
                code="content_not_found",
                type="not_found_error",
            )
        asset = job.result[index]
        if not asset.stored or asset.sha256 is None:
            raise JobServiceError(
                404,
                f"output {index} of job {job_id} is not stored here: "
                + (f"fetch it from {asset.url}" if asset.url else "it is text, in the job"),
                param="index",
                code="content_not_stored",
                type="not_found_error",
            )
        return StoredContent(
            path=self.runtime.artifacts.path(asset.sha256),
            content_type=asset.content_type or "application/octet-stream",
            size_bytes=asset.size_bytes or 0,
            sha256=asset.sha256,
        )

    async def _replay(
        self, team: Team, endpoint: str, job: GenerationJobRecord, digest: str
    ) -> JobAnswer:
        if job.request_sha256 != digest:
            raise JobServiceError(
                422,
                f"{IDEMPOTENCY_HEADER} {job.idempotency_key!r} was used for another request "
                f"(job {job.public_id}); use a new key for a new request",
                param=IDEMPOTENCY_HEADER,
                code="idempotency_key_reused",
            )
        if job.unsent or job.in_doubt:
            job = await submit(self.runtime, team, job)  # the first create never finished
        return self._answer(job, endpoint, replayed=True)

    def _new_job(
        self,
        team: Team,
        target: _Target,
        fields: dict[str, JsonValue],
        callback_url: str | None,
        key: str,
        digest: str,
        routing_key: str | None,
    ) -> NewGenerationJob:
        try:
            chosen = choose_routing_key(routing_key, None)
        except ValueError as exc:
            raise JobServiceError(
                400, str(exc), param="x-modelops-routing-key", code="invalid_value"
            ) from None
        asked = fields.pop("category", target.category)
        if asked != target.category:
            raise JobServiceError(
                400,
                f"endpoint {target.table.name!r} serves {target.category}; the request says "
                f"{asked!r}",
                param="category",
                code="wrong_category",
            )
        served = target.table.served_version(target.table.assign(chosen.value).version)
        try:
            request = REQUEST.validate_python(
                {**fields, "model": served.provider_model_id, "category": target.category}
            )
        except ValidationError as exc:
            raise validation_error(exc) from None
        return NewGenerationJob(
            public_id=PUBLIC_ID_PREFIX + secrets.token_hex(12),
            endpoint_id=target.table.endpoint_id,
            model_version_id=served.version_id,
            version=served.version,
            provider=target.provider,
            provider_model_id=served.provider_model_id,
            category=target.category,
            idempotency_key=key,
            request=request.model_dump(mode="json"),
            request_sha256=digest,
            callback_url=callback_url,
        )

    async def _require_callback_secret(self, team: Team, target: _Target) -> None:
        ring = self.runtime.keyring
        live = []
        if ring is not None:
            now = self.runtime.clock()
            endpoint_id = target.table.endpoint_id
            live = await self.runtime.tx(
                lambda s: WebhookSecretRepository(s, team, ring).callback_secrets(
                    endpoint_id, now=now
                )
            )
        if not live:
            raise JobServiceError(
                400,
                "a callback URL needs a secret to sign its notices, and the team has none: "
                "create one with `modelops webhooks callback-secret`",
                param=CALLBACK_FIELD,
                code="no_callback_secret",
            )

    async def _job(self, team: Team, job_id: str) -> tuple[GenerationJobRecord, str]:
        def read(session: Session) -> tuple[GenerationJobRecord, str]:
            job = GenerationJobRepository(session, team).get(job_id)
            return job, _endpoint_name(session, team, job.endpoint_id)

        try:
            return await self.runtime.tx(read)
        except NotFoundError:
            raise not_found("job", job_id) from None

    def _answer(self, job: GenerationJobRecord, endpoint: str, *, replayed: bool) -> JobAnswer:
        headers = {"location": f"/v1/jobs/{job.public_id}"}
        if replayed:
            headers["idempotent-replayed"] = "true"
        status = 200 if job.status.is_terminal else 202
        return JobAnswer(status, self._document(job, endpoint), headers)

    def _document(self, job: GenerationJobRecord, endpoint: str) -> dict[str, JsonValue]:
        return job_document(job, endpoint=endpoint, base_url=self.runtime.public_url or "")


def _split(body: object) -> tuple[dict[str, JsonValue], str | None]:
    """The standardized request's fields, and the call's own callback URL."""
    if not isinstance(body, Mapping):
        raise JobServiceError(400, "the body must be a JSON object", code="invalid_body")
    fields = dict(body)
    if "model" in fields:
        raise JobServiceError(
            400,
            "`model` is the endpoint's: it routes the request to a version; leave it out",
            param="model",
            code="unknown_parameter",
        )
    callback = fields.pop(CALLBACK_FIELD, None)
    return fields, None if callback is None else check_callback_url(callback)


def _target(session: Session, team: Team, endpoint: str) -> _Target:
    try:
        table = route_table(session, team, endpoint)
    except NotFoundError:
        raise not_found("endpoint", endpoint) from None
    if not table.serving:
        raise JobServiceError(
            409, f"endpoint {endpoint!r} is undeployed", code="endpoint_undeployed"
        )
    model = ModelRepository(session, team).get(table.model)
    if model.category not in GENERATION:
        raise JobServiceError(
            400,
            f"endpoint {endpoint!r} serves {model.category}, not a generation category; "
            "use /v1/chat/completions (or invoke's classification body) for it",
            param="model",
            code="wrong_category",
        )
    kind = ProviderRepository(session).get(model.provider).kind
    try:
        require_category(kind, model.category)
    except UnsupportedCategoryError as exc:
        raise JobServiceError(400, str(exc), param="model", code="unsupported_category") from None
    return _Target(table, model.category, model.provider)


def _endpoint_name(session: Session, team: Team, endpoint_id: int) -> str:
    row = session.get(EndpointRow, endpoint_id)
    return row.name if row is not None and row.team_id == team.id else ""


def _digest(endpoint: str, fields: Mapping[str, JsonValue], callback_url: str | None) -> str:
    canonical = json.dumps(
        {"endpoint": endpoint, "request": fields, "callback_url": callback_url},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _fresh_key() -> str:
    return "auto-" + secrets.token_hex(16)


__all__ = ["IDEMPOTENCY_HEADER", "JobAnswer", "JobServices", "StoredContent"]
