"""Team API tokens: shown once, stored as SHA-256, scoped; what the gateway authenticates.

Modules: `domain` (scopes, views, principal), `tables` (rows), `repository` (create, list,
revoke, authenticate, batched last-used).
"""

from __future__ import annotations

from registry.tokens.domain import ApiToken, CreatedToken, Scope, TokenPrincipal
from registry.tokens.repository import (
    TOKEN_PREFIX,
    TokenRepository,
    authenticate,
    parse_scopes,
    token_digest,
    touch_last_used,
)

__all__ = [
    "TOKEN_PREFIX",
    "ApiToken",
    "CreatedToken",
    "Scope",
    "TokenPrincipal",
    "TokenRepository",
    "authenticate",
    "parse_scopes",
    "token_digest",
    "touch_last_used",
]
