"""Team API tokens as they are handed out: scopes, the listing view, the one-time secret."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import SecretStr

from registry.domain import Frozen, Team


class Scope(StrEnum):
    INVOKE = "invoke"  # chat completions and invoke
    RESOLVE = "resolve"  # the configuration to execute a call oneself
    CREDENTIALS = "credentials"  # …plus a leased provider key
    OUTCOMES = "outcomes"  # report outcomes and feedback
    ADMIN = "admin"  # every scope


class ApiToken(Frozen):
    """A token as listed: never the token, never its hash."""

    id: int
    label: str
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreatedToken(Frozen):
    """What `create` returns, once: the only time the token exists outside its holder."""

    token: SecretStr
    details: ApiToken


class TokenPrincipal(Frozen):
    """Who a presented token speaks for."""

    team: Team
    token_id: int
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes
