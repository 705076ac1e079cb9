"""For consumers that execute calls themselves: `GET /v1/endpoints/{e}/resolve` (what to
call, a request id, with scope `credentials` a leased key), then `POST /v1/outcomes` and
`POST /v1/feedback` to report what happened, joined by request id."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import JSON, ApiError, invalid, no_key_free
from gateway.handler import Context
from gateway.reports import MAX_OUTCOMES, OutcomeReport, read_feedback, read_outcome
from gateway.serve import route, routing_key_hash
from gateway.state import Gateway, new_request_id
from registry.catalog_serving import placeholders
from registry.keys import NoKeyAvailableError
from registry.leases import LeaseFor, lease_key
from registry.outcomes import Outcome
from registry.routing import PREVIEW_HEADER, ROUTING_KEY_HEADER, RouteTable
from registry.tokens import Scope, TokenPrincipal
from registry.usage.pricing import Metered, Price, price_outcome

log = logging.getLogger("gateway.resolve")


async def resolve(request: Request, ctx: Context) -> Response:
    gw = ctx.gateway
    principal = await gw.principal(request, Scope.RESOLVE)
    name = request.path_params["endpoint"]
    table, model = await gw.endpoint(principal, name)
    user = request.query_params.get("user") or None
    routed = route(table, model, request.headers.get(ROUTING_KEY_HEADER), user,
                   new_request_id(), request.headers.get(PREVIEW_HEADER))  # fmt: skip
    ctx.label(name, routed.version)
    body: dict[str, Any] = {
        "object": "endpoint.resolution",
        "request_id": routed.request_id,
        "endpoint": name,
        "version": routed.version,
        "category": model.category,
        "provider": {
            "name": model.provider,
            "kind": model.provider_kind,
            "base_url": model.base_url,
        },
        "model": routed.provider_model_id,
        "parameters": model.parameters,
        "prompt": _prompt(model.prompt_template),
        "credential": None,
    }
    if principal.allows(Scope.CREDENTIALS) and model.provider_kind != "local":
        lease = LeaseFor(
            principal.token_id, table.endpoint_id, routed.version_id, routed.request_id
        )
        try:
            leased = await asyncio.to_thread(
                _lease, gw, principal, model.provider, routed.provider_model_id, lease
            )
        except NoKeyAvailableError as exc:
            raise no_key_free(str(exc), exc.first_free_at) from None
        body["credential"] = leased
    return Response(orjson.dumps(body), headers=routed.headers, media_type=JSON)


def _prompt(template: str | None) -> dict[str, Any] | None:
    """The catalog's prompt template and the names its `{placeholders}` use, if it has one."""
    if template is None:
        return None
    return {"template": template, "variables": placeholders(template)}


def _lease(
    gw: Gateway, principal: TokenPrincipal, provider: str, model: str, lease: LeaseFor
) -> dict[str, Any]:
    with gw.sessions.begin() as session:
        leased = lease_key(session, principal.team, gw.upstreams.keyring, provider, model, lease)
    log.info("leased key %d (…%s) for request %s", leased.key_id, leased.last4, lease.request_id)
    return {
        "lease_id": leased.lease_id,
        "key_id": leased.key_id,
        "label": leased.label,
        "last4": leased.last4,
        "api_key": leased.secret.get_secret_value(),
    }


async def report_outcomes(request: Request, ctx: Context) -> Response:
    """A batch of outcomes; every item is checked before any is recorded. A request id
    recorded already is not recorded again (so a retried batch changes nothing)."""
    gw = ctx.gateway
    principal = await gw.principal(request, Scope.OUTCOMES)
    body = await gw.json_body(request)
    items = body.get("outcomes") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_OUTCOMES:
        raise invalid(f"'outcomes' must be an array of 1 to {MAX_OUTCOMES} outcomes", "outcomes")
    reports = [read_outcome(item, f"outcomes[{i}]") for i, item in enumerate(items)]
    outcomes = []
    for i, report in enumerate(reports):
        table, model = await gw.endpoint(principal, report.endpoint)
        version_id = await _version_id(gw, table, report.version, f"outcomes[{i}].version")
        outcome = _reported(report, principal.team.id, table.endpoint_id, version_id)
        outcomes.append(_priced(outcome, report, model.prices))
    for outcome in outcomes:
        if not gw.record(outcome):
            raise ApiError(
                503,
                "the gateway's outcome spool is full; nothing from this item on was recorded, "
                "retry the batch shortly (recorded request ids are not recorded twice)",
                type="upstream_error",
                code="outcome_spool_full",
                headers={"retry-after": "5"},
            )
    return Response(
        orjson.dumps({"object": "outcomes.accepted", "accepted": len(outcomes)}), media_type=JSON
    )


async def feedback(request: Request, ctx: Context) -> Response:
    gw = ctx.gateway
    principal = await gw.principal(request, Scope.OUTCOMES)
    item = read_feedback(await gw.json_body(request))
    status = await gw.feedback(principal.team, item.request_id, item.quality, item.metrics)
    payload = {"object": "feedback", "request_id": item.request_id, "status": status.value}
    return Response(orjson.dumps(payload), media_type=JSON)


async def _version_id(gw: Gateway, table: RouteTable, version: int, param: str) -> int:
    for served in table.served:
        if served.version == version:
            return served.version_id
    for shadow in table.shadows:
        if shadow.version == version:
            return shadow.version_id
    found = await gw.version_id(table, version)  # routed earlier, moved since: ask the database
    if found is None:
        raise ApiError(
            400,
            f"endpoint {table.name!r} has no version {version}",
            param=param,
            code="unknown_version",
        )
    return found


def _priced(outcome: Outcome, report: OutcomeReport, prices: tuple[Price, ...]) -> Outcome:
    """Costed as the gateway costs what it serves: the catalog price in force at `at`."""
    used = Metered(
        report.input_tokens,
        report.output_tokens,
        report.cached_input_tokens,
        seconds=report.seconds,
        images=report.images,
    )
    cost = price_outcome(prices, report.version, outcome.at, used)
    return replace(outcome, cost_micro_usd=cost.micro_usd, price_id=cost.price_id)


def _reported(report: OutcomeReport, team_id: int, endpoint_id: int, version_id: int) -> Outcome:
    return Outcome(
        request_id=report.request_id,
        team_id=team_id,
        endpoint_id=endpoint_id,
        model_version_id=version_id,
        at=report.at or datetime.now(UTC),
        latency_ms=report.latency_ms,
        success=report.success,
        error_class=report.error_class,
        ttft_ms=report.ttft_ms,
        input_tokens=report.input_tokens,
        output_tokens=report.output_tokens,
        cached_input_tokens=report.cached_input_tokens,
        routing_key_hash=None if report.user is None else routing_key_hash(report.user),
        quality=report.quality,
        metrics=report.metrics,
    )
