"""The hot path: route a request to a version, call its provider through the key pool,
record the outcome, mirror to shadows off the response path. Nothing here awaits the
database on success; a cache miss is the only exception (see `Gateway.endpoint`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from hashlib import blake2b
from typing import Any, TypeVar

from adapters.base import Credential
from adapters.errors import ConfigurationError, ProviderError
from dispatch.keyed_call import CallFailedError
from gateway.errors import (
    ApiError,
    from_call_failure,
    from_configuration_error,
    from_provider_error,
    invalid,
)
from gateway.routes import ServedModel
from gateway.state import Gateway
from registry.domain import Team
from registry.orm import utcnow
from registry.outcomes import Outcome
from registry.routing import (
    PREVIEW_HEADER,
    ROUTING_KEY_HEADER,
    RouteTable,
    RoutingKey,
    ServedVersion,
    choose_routing_key,
)
from registry.usage.pricing import Metered, price_outcome

T = TypeVar("T")
Call = Callable[[Credential, str], Awaitable[T]]  # (credential, provider model id) → answer


@dataclass(slots=True)
class Routed:
    """Where one request goes: endpoint, version, its request id and routing key."""

    table: RouteTable
    model: ServedModel
    version: int
    version_id: int
    provider_model_id: str
    request_id: str
    key: RoutingKey
    at: datetime
    key_id: int | None = None  # the provider key that answered, once one has

    @property
    def headers(self) -> dict[str, str]:
        return {"x-modelops-version": str(self.version), "x-modelops-request-id": self.request_id}


def route(
    table: RouteTable,
    model: ServedModel,
    header: str | None,
    user: str | None,
    request_id: str,
    preview: str | None = None,
) -> Routed:
    """The version that answers: the preview the request names (PREVIEW_HEADER), else the
    routing key's bucket owner."""
    if header or user:
        try:
            key = choose_routing_key(header, user)
        except ValueError as exc:
            raise invalid(str(exc), ROUTING_KEY_HEADER) from None
    else:
        # Sticky to nothing: the request id is unique per request and the bucket hash
        # spreads it as evenly as random bytes would, without a system call for them.
        key = RoutingKey(request_id, "random")
    if preview is not None:
        served = _preview(table, preview)
    else:
        served = table.served_version(table.assign(key.value).version)
    return Routed(
        table,
        model,
        served.version,
        served.version_id,
        served.provider_model_id,
        request_id,
        key,
        utcnow(),
    )


def _preview(table: RouteTable, named: str) -> ServedVersion:
    previews = ", ".join(f"v{p.version}" for p in table.previews) or "none"
    number = named.strip().removeprefix("v")
    try:
        return table.preview_version(int(number) if number.isdigit() else -1)
    except KeyError:
        raise invalid(
            f"{PREVIEW_HEADER}: endpoint {table.name!r} has no preview of {named[:40]!r}; "
            f"its previews: {previews} (a preview exists while a blue-green rollout shows it)",
            PREVIEW_HEADER,
        ) from None


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0  # included in input_tokens


async def call_version(
    gw: Gateway,
    team: Team,
    routed: Routed,
    call: Call[T],
    usage: Callable[[T], Usage] | None,
    *,
    started: float | None = None,
) -> T:
    """One call of the routed version through the pool. Provider and pool failures come
    back as the ApiError the client sees, their outcome recorded; so is a success's, unless
    `usage` is None (a stream, whose outcome is recorded when it ends)."""
    started = time.perf_counter() if started is None else started
    try:
        handle = gw.upstreams.handle(team, routed.model)
        model_id = routed.provider_model_id
        result = await handle.call(lambda credential: call(credential, model_id), model=model_id)
    except (ProviderError, CallFailedError, ConfigurationError) as exc:
        error = _api_error(exc)
        gw.record(outcome(routed, team, started, None, error.error_class), routed.model.model_id)
        raise error from None
    if result.key is not None:
        routed.key_id = result.key.key_id
    if usage is not None:
        gw.record(outcome(routed, team, started, usage(result.value), None), routed.model.model_id)
    return result.value


def mirror(
    gw: Gateway, team: Team, routed: Routed, call: Call[Any], usage: Callable[[Any], Usage]
) -> None:
    """Queue the request for each shadow this key is mirrored to; the answers are only
    recorded (under `<request id>.shadow<version>`), never returned."""
    if any(preview.version == routed.version for preview in routed.table.previews):
        return  # a preview's requests are its smoke test, not user traffic to compare with
    for shadow in routed.table.shadow_targets(routed.key.value):
        shadowed = Routed(
            routed.table,
            routed.model,
            shadow.version,
            shadow.version_id,
            shadow.provider_model_id,
            f"{routed.request_id}.shadow{shadow.version}",
            routed.key,
            routed.at,
        )

        async def job(shadowed: Routed = shadowed) -> None:
            with contextlib.suppress(ApiError):  # recorded as the shadow's outcome
                await call_version(gw, team, shadowed, call, usage)

        gw.shadows.offer(job)


def outcome(
    routed: Routed,
    team: Team,
    started: float,
    usage: Usage | None,
    error_class: str | None,
    *,
    ttft_ms: float | None = None,
) -> Outcome:
    tokens = usage or Usage()
    latency_ms = (time.perf_counter() - started) * 1000.0
    used = Metered(tokens.input_tokens, tokens.output_tokens, tokens.cached_input_tokens)
    cost = price_outcome(routed.model.prices, routed.version, routed.at, used)
    return Outcome(
        request_id=routed.request_id,
        team_id=team.id,
        endpoint_id=routed.table.endpoint_id,
        model_version_id=routed.version_id,
        at=routed.at,
        latency_ms=latency_ms,
        ttft_ms=None if ttft_ms is None else min(ttft_ms, latency_ms),
        success=error_class is None,
        error_class=error_class,
        input_tokens=tokens.input_tokens,
        output_tokens=tokens.output_tokens,
        cached_input_tokens=min(tokens.cached_input_tokens, tokens.input_tokens),
        cost_micro_usd=cost.micro_usd,
        price_id=cost.price_id,
        routing_key_hash=routing_key_hash(routed.key.value),
        provider_key_id=routed.key_id,
    )


def routing_key_hash(key: str) -> int:
    """A signed 64-bit hash of the routing key: enough to count distinct keys, not to read."""
    return int.from_bytes(blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def _api_error(exc: Exception) -> ApiError:
    if isinstance(exc, CallFailedError):
        return from_call_failure(exc)
    if isinstance(exc, ConfigurationError):
        return from_configuration_error(exc)
    assert isinstance(exc, ProviderError)
    return from_provider_error(exc)
