"""The token cache's races: a re-read never drops a token cached while it ran, and a
lookup that began before a revocation notice does not cache the revoked token."""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from gateway.tokens import TokenCache
from registry.domain import Team
from registry.tokens import Scope, TokenPrincipal

TEAM = Team(id=1, name="team-a")
A, B = "mo_" + "a" * 43, "mo_" + "b" * 43


def _principal(token_id: int) -> TokenPrincipal:
    return TokenPrincipal(team=TEAM, token_id=token_id, scopes=frozenset({Scope.INVOKE}))


def test_a_reread_keeps_a_token_cached_while_it_ran() -> None:
    cache = TokenCache(sessionmaker())
    cache.remember(A, _principal(1), cache.generation)
    checked = cache.token_ids()  # the re-read asks the database about these
    cache.remember(B, _principal(2), cache.generation)  # a request cached B meanwhile
    cache.drop_revoked(checked, live=set())  # A was revoked; B was never checked
    assert cache.cached(A) is None and cache.cached(B) == _principal(2)


def test_a_lookup_overtaken_by_a_revocation_caches_nothing() -> None:
    cache = TokenCache(sessionmaker())
    generation = cache.generation  # the lookup begins
    cache.drop_token(1)  # the revocation notice arrives first
    cache.remember(A, _principal(1), generation)  # the lookup's (stale) answer
    assert cache.cached(A) is None  # not cached: the next use asks the database again
