"""The `replicate` adapter: predictions on Replicate (create → poll or webhook → cancel)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import ClassVar, Self

import httpx
from pydantic import Field, SecretStr, ValidationError

from adapters.base import AdapterContext, AdapterOptions, Credential, validate_options
from adapters.categories import GENERATION, Category
from adapters.errors import (
    BadRequestError,
    MalformedWebhookError,
    ProtocolError,
    UnsupportedCategoryError,
)
from adapters.generation import GenerationJob, GenerationRequest, WebhookNotice
from adapters.http import ErrorDetail, Exchange, convert_wire, parse_wire
from adapters.remote import RemoteCore, Reply
from adapters.replicate import wire
from adapters.webhooks import verify_standard_webhook

__all__ = ["ReplicateAdapter", "ReplicateOptions"]


class ReplicateOptions(AdapterOptions):
    # Standard field → the input name this provider's models take (overrides the defaults).
    input_names: dict[str, str] = Field(default_factory=dict, max_length=64)
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=86_400)


class ReplicateAdapter:
    """Replicate's HTTP API at {base_url}/v1 (https://api.replicate.com)."""

    kind: ClassVar[str] = "replicate"
    categories: ClassVar[frozenset[Category]] = GENERATION

    def __init__(self, core: RemoteCore, options: ReplicateOptions) -> None:
        self._core = core
        self._options = options

    @classmethod
    def from_context(cls, context: AdapterContext) -> Self:
        base_url, client = RemoteCore.require(context, cls.kind)
        options = validate_options(ReplicateOptions, context.options, cls.kind)
        core = RemoteCore(
            provider=cls.kind,
            base_url=base_url.removesuffix("/v1"),  # host root; paths carry /v1
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
        idempotency_key: str | None = None,  # Replicate documents none; the webhook URL
        timeout: float | None = None,  # carries the caller's own job id instead
    ) -> GenerationJob:
        if request.category not in self.categories:
            raise UnsupportedCategoryError(self.kind, request.category, self.categories)
        try:
            path, body = wire.create_path_and_body(request, callback_url, self._options.input_names)
        except ValueError as exc:
            raise BadRequestError(str(exc), provider=self.kind) from exc
        reply = await self._core.call(
            credential, Exchange("POST", path, {}, json=body), timeout=timeout
        )
        return self._job(reply)

    async def retrieve_generation(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> GenerationJob:
        exchange = Exchange("GET", f"/v1/predictions/{job_id}", {})
        return self._job(await self._core.call(credential, exchange, timeout=timeout))

    async def cancel_generation(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> GenerationJob:
        exchange = Exchange("POST", f"/v1/predictions/{job_id}/cancel", {})
        return self._job(await self._core.call(credential, exchange, timeout=timeout))

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, secrets: Sequence[SecretStr]
    ) -> WebhookNotice:
        """Standard Webhooks (the account's `whsec_` secret); the body is the prediction."""
        keys = [secret.get_secret_value() for secret in secrets]
        tolerance = self._options.webhook_tolerance_seconds
        webhook_id = verify_standard_webhook(headers, body, keys, tolerance=tolerance)
        try:
            prediction = wire.WirePrediction.model_validate(json.loads(body))
            job = wire.job_from_prediction(prediction, provider=self.kind)
        except (ValueError, ValidationError) as exc:
            raise MalformedWebhookError(f"webhook body is not a prediction: {exc}") from exc
        if job is None:
            raise MalformedWebhookError(f"unknown prediction status {prediction.status!r}")
        return WebhookNotice(
            webhook_id=webhook_id, job_id=prediction.id, event=prediction.status, job=job
        )

    def _job(self, reply: Reply) -> GenerationJob:
        prediction = parse_wire(wire.WirePrediction, reply.body, provider=self.kind)
        kind = self.kind
        job = convert_wire(
            lambda p: wire.job_from_prediction(p, provider=kind), prediction, provider=kind
        )
        if job is None:
            raise ProtocolError(f"unknown prediction status {prediction.status!r}", provider=kind)
        return job


def _error_detail(response: httpx.Response) -> ErrorDetail:
    """Replicate's errors are problem documents: `{"title", "detail", "status"}`."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return ErrorDetail(message=response.text[:300] or response.reason_phrase)
    if not isinstance(body, dict):
        return ErrorDetail(message=str(body)[:300])
    message = body.get("detail") or body.get("title") or response.reason_phrase
    title = body.get("title")
    return ErrorDetail(message=str(message), type=str(title) if title else None)
