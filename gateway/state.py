"""What every request handler shares: the caches, the upstreams, the sink, the metrics; and
the three checks each request starts with (its token, its body, its endpoint).

Built by the lifespan (`gateway.app`); a request finds it on `request.app.state.gateway`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request

from gateway.budget_guard import BudgetGuard
from gateway.coherence import Coherence
from gateway.errors import ApiError, invalid, not_found, unauthorized
from gateway.jobs_service import JobServices
from gateway.metrics import GatewayMetrics
from gateway.outcome_sink import OutcomeSink, OutcomeTap
from gateway.outcome_spool import SpoolError
from gateway.routes import RouteCache, ServedModel
from gateway.shadow import ShadowQueue
from gateway.tokens import TokenCache
from gateway.upstreams import Upstreams
from modelops.settings import Settings
from registry.domain import Team
from registry.outcomes import FeedbackStatus, Outcome, record_feedback
from registry.routing import RouteTable
from registry.tokens import Scope, TokenPrincipal

log = logging.getLogger("gateway")
T = TypeVar("T")
REQUEST_ID_PREFIX = "req_"


class RequestIds:
    """Unique request ids without a system call each: a random prefix per process (48
    bits: two replicas never share one in practice) and a counter."""

    def __init__(self) -> None:
        self._prefix = f"{REQUEST_ID_PREFIX}{secrets.token_hex(6)}"
        self._next = itertools.count(1).__next__

    def __call__(self) -> str:
        return f"{self._prefix}{self._next():08x}"


new_request_id = RequestIds()


@dataclass
class Gateway:
    settings: Settings
    sessions: sessionmaker[Session]
    routes: RouteCache
    tokens: TokenCache
    coherence: Coherence
    upstreams: Upstreams
    sink: OutcomeSink
    metrics: GatewayMetrics
    shadows: ShadowQueue
    tap: OutcomeTap | None = None
    jobs: JobServices | None = None  # generation jobs and provider webhooks
    closing: bool = False
    budgets: BudgetGuard | None = None

    # -- the token -------------------------------------------------------------------------

    async def principal(self, request: Request, scope: Scope) -> TokenPrincipal:
        header = request.headers.get("authorization")
        if not header:
            raise unauthorized(
                "no API token: send the header 'Authorization: Bearer mo_…' "
                "(create one with `modelops tokens create`)"
            )
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("the Authorization header must be 'Bearer <token>'")
        principal = await self.authenticate(token)
        if principal is None:
            raise unauthorized("the API token is invalid or revoked")
        if not principal.allows(scope):
            raise ApiError(
                403,
                f"this token lacks the {scope.value!r} scope this route needs "
                f"(it has: {', '.join(sorted(s.value for s in principal.scopes))})",
                type="permission_error",
                code="missing_scope",
            )
        return principal

    async def authenticate(self, token: str) -> TokenPrincipal | None:
        """Who a live token speaks for (from the cache; the database on a miss), else None."""
        cached = self.tokens.cached(token)
        if cached is None:  # not seen yet: the only path that asks the database
            generation = self.tokens.generation
            principal = await self._database(self.tokens.lookup, token)
            self.tokens.remember(token, principal, generation)
            return principal
        return cached if isinstance(cached, TokenPrincipal) else None

    # -- the body ----------------------------------------------------------------------------

    async def json_body(self, request: Request) -> Any:
        limit = self.settings.gateway_max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(int(declared), limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit)
            chunks.append(chunk)
        body = b"".join(chunks)
        if not body:
            raise invalid("the request body is empty; send a JSON object", None, "invalid_json")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise invalid(
                f"the request body is not valid JSON: {exc.msg} at character {exc.pos}",
                None,
                "invalid_json",
            ) from None

    # -- the endpoint ------------------------------------------------------------------------

    async def endpoint(
        self, principal: TokenPrincipal, name: str
    ) -> tuple[RouteTable, ServedModel]:
        """The team's serving endpoint and its model; another team's is not found, an
        undeployed one is a 409 naming its state."""
        table = self.routes.table(principal.team.id, name)
        if table is None and self.routes.may_exist(principal.team.id, name):
            snapshot = await self._database(self.routes.read_named, principal.team.id, name)
            self.routes.apply(snapshot)
            table = self.routes.table(principal.team.id, name)
        if table is None:
            raise not_found(name)
        if not table.serving:
            raise ApiError(
                409,
                f"endpoint {name!r} is undeployed: it serves no traffic; "
                "`modelops endpoints show` tells who undeployed it and why",
                type="conflict_error",
                param="model",
                code="endpoint_undeployed",
            )
        model = self.routes.model(table)
        if model is None:
            raise ApiError(
                503,
                f"endpoint {name!r} has no model in the catalog",
                type="upstream_error",
                code="model_missing",
            )
        return table, model

    # -- outcomes ----------------------------------------------------------------------------

    async def feedback(
        self, team: Team, request_id: str, quality: float | None, metrics: dict[str, float]
    ) -> FeedbackStatus:
        """Feedback is rare: written at once, in its own transaction (off the loop)."""

        def write() -> FeedbackStatus:
            with self.sessions.begin() as session:
                return record_feedback(session, team, request_id, quality=quality, metrics=metrics)

        return await self._database(write)

    async def version_id(self, table: RouteTable, version: int) -> int | None:
        """A version of the endpoint's model no longer routed (a report arriving late)."""
        model = self.routes.model(table)
        if model is None:
            return None
        return await self._database(self.routes.version_id, model.model_id, version)

    async def within_budget(self, team: Team, model: ServedModel) -> None:
        """A 429 naming the hard budget the request would spend past (`BudgetGuard`)."""
        if self.budgets is not None:
            await self.budgets.admit(team.id, model.model_id)

    def record(self, outcome: Outcome, model_id: int | None = None) -> bool:
        """Hand the outcome to the writer; False (counted, and /readyz says so) when the
        spool is full or closed. A served outcome (`model_id` given) is charged against
        the hard budgets over it."""
        if model_id is not None and self.budgets is not None:
            self.budgets.charge(outcome.team_id, model_id, outcome.cost_micro_usd)
        try:
            self.sink.submit(outcome)
        except SpoolError as exc:
            self.metrics.outcomes_refused.inc()
            log.warning("outcome %s not recorded: %s", outcome.request_id, type(exc).__name__)
            return False
        if self.tap is not None:
            self.tap(outcome)
        return True

    async def _database(self, fn: Callable[..., T], *args: object) -> T:
        """A cache miss: one read in a worker thread; an unreachable database is a 503."""
        try:
            return await asyncio.to_thread(fn, *args)
        except Exception as exc:
            log.warning("database read failed: %s", type(exc).__name__)
            raise ApiError(
                503,
                "the gateway cannot reach its database to check this request; retry shortly",
                type="upstream_error",
                code="database_unavailable",
                headers={"retry-after": "1"},
            ) from None


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body has {size} bytes or more; at most {limit} are accepted",
        code="request_too_large",
    )


__all__ = ["Gateway", "new_request_id"]
