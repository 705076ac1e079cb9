"""The `asyncgen` adapter: image and video generation as tasks (create → poll → signed webhook)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal, Self

import httpx
from pydantic import Field, JsonValue, SecretStr, ValidationError

from adapters.asyncgen import wire
from adapters.base import AdapterContext, AdapterOptions, Credential, validate_options
from adapters.categories import IMAGE_AND_VIDEO, Category
from adapters.errors import (
    BadRequestError,
    MalformedWebhookError,
    ProtocolError,
    UnsupportedCategoryError,
)
from adapters.generation import GenerationJob, GenerationRequest, WebhookNotice
from adapters.http import ErrorDetail, Exchange, convert_wire, error_for_status, parse_wire
from adapters.jobs import JobStatus
from adapters.remote import RemoteCore, Reply
from adapters.webhooks import verify_kie_signature, verify_standard_webhook

__all__ = ["AsyncGenAdapter", "AsyncGenOptions"]


class AsyncGenOptions(AdapterOptions):
    # "kie": X-Webhook-Signature over `{taskId}.{timestamp}`; "standard": Standard Webhooks.
    webhook_signature: Literal["kie", "standard"] = "kie"
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=86_400)


class AsyncGenAdapter:
    """Kie.ai-Market-style tasks at {base_url}/api/v1/jobs/createTask and …/recordInfo."""

    kind: ClassVar[str] = "asyncgen"
    categories: ClassVar[frozenset[Category]] = IMAGE_AND_VIDEO

    def __init__(self, core: RemoteCore, options: AsyncGenOptions) -> None:
        self._core = core
        self._options = options

    @classmethod
    def from_context(cls, context: AdapterContext) -> Self:
        base_url, client = RemoteCore.require(context, cls.kind)
        options = validate_options(AsyncGenOptions, context.options, cls.kind)
        core = RemoteCore(
            provider=cls.kind,
            base_url=base_url.removesuffix("/api/v1"),  # host root; paths carry /api/v1
            client=client,
            default_timeout=options.timeout_seconds,
            error_detail=_error_detail,
            auth_headers=lambda key: {"Authorization": f"Bearer {key}"},
            static_headers={},
        )
        return cls(core, options)

    async def create_generation(
        self,
        credential: Credential,
        request: GenerationRequest,
        callback_url: str | None = None,
        *,
        idempotency_key: str | None = None,  # Kie's createTask takes none
        timeout: float | None = None,
    ) -> GenerationJob:
        if request.category not in self.categories:
            raise UnsupportedCategoryError(self.kind, request.category, self.categories)
        try:
            body = wire.create_to_wire(request, callback_url)
        except ValueError as exc:
            raise BadRequestError(str(exc), provider=self.kind) from exc
        exchange = Exchange("POST", "/api/v1/jobs/createTask", {}, json=body)
        data = self._data(await self._core.call(credential, exchange, timeout=timeout))
        task_id = data.get("taskId") if isinstance(data, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise ProtocolError("createTask answered without a taskId", provider=self.kind)
        # createTask answers only the id; the provider's first state comes with the first poll.
        return GenerationJob(
            id=task_id,
            provider=self.kind,
            status=JobStatus.QUEUED,
            raw_status=None,
            model=request.model,
        )

    async def retrieve_generation(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> GenerationJob:
        exchange = Exchange("GET", "/api/v1/jobs/recordInfo", {}, params={"taskId": job_id})
        data = self._data(await self._core.call(credential, exchange, timeout=timeout))
        record = parse_wire(wire.WireRecord, data, provider=self.kind)
        job = convert_wire(
            lambda r: wire.job_from_record(r, provider=self.kind), record, provider=self.kind
        )
        if job is None:
            raise ProtocolError(f"unknown task state {record.state!r}", provider=self.kind)
        return job

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, secrets: Sequence[SecretStr]
    ) -> WebhookNotice:
        """Verify, then read the task from the callback body (same shape as recordInfo).

        The dedup id is Standard Webhooks' `webhook-id`; Kie's scheme has none, so it is the
        task and the state it reports (a task reaches each state once).
        """
        keys = [secret.get_secret_value() for secret in secrets]
        tolerance = self._options.webhook_tolerance_seconds
        webhook_id = None
        if self._options.webhook_signature == "standard":
            webhook_id = verify_standard_webhook(headers, body, keys, tolerance=tolerance)
        record = _webhook_record(body)
        if self._options.webhook_signature == "kie":
            verify_kie_signature(headers, record.task_id, keys, tolerance=tolerance)
        try:
            job = wire.job_from_record(record, provider=self.kind)
        except ValueError as exc:
            raise MalformedWebhookError(f"unusable callback result: {exc}") from exc
        if job is None:
            raise MalformedWebhookError(f"unknown task state {record.state!r} in callback")
        return WebhookNotice(
            webhook_id=webhook_id or f"{record.task_id}:{record.state}",
            job_id=record.task_id,
            event=record.state,
            job=job,
        )

    def _data(self, reply: Reply) -> JsonValue:
        """`data` of a `{code, msg, data}` envelope; a non-200 `code` is mapped like a status."""
        envelope = parse_wire(wire.WireEnvelope, reply.body, provider=self.kind)
        if envelope.code != 200:
            raise error_for_status(
                wire.status_equivalent(envelope.code),
                reply.headers,
                provider=self.kind,
                detail=ErrorDetail(message=envelope.text, code=str(envelope.code)),
            )
        return envelope.data


def _webhook_record(body: bytes) -> wire.WireRecord:
    try:
        envelope = wire.WireEnvelope.model_validate(json.loads(body))
        data = envelope.data
        if isinstance(data, dict) and "taskId" not in data and "task_id" in data:
            data = {**data, "taskId": data["task_id"]}  # the docs show both spellings
        return wire.WireRecord.model_validate(data)
    except (ValueError, ValidationError) as exc:
        raise MalformedWebhookError(f"callback body is not a task record: {exc}") from exc


def _error_detail(response: httpx.Response) -> ErrorDetail:
    try:
        envelope = wire.WireEnvelope.model_validate(json.loads(response.content))
    except (ValueError, ValidationError):
        return ErrorDetail(message=response.text[:300] or response.reason_phrase)
    return ErrorDetail(message=envelope.text, code=str(envelope.code))
