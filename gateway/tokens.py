"""Bearer tokens in the process: digest → principal, filled on first use, dropped on revoke.

A known token is answered from memory; an unknown one is looked up once and remembered as
unknown for a while (bounded), so a client retrying with a bad token does not cost a query
each time. Revocations arrive by NOTIFY (`drop_token`) and by the periodic re-read
(`refresh`). When each token was last used is collected here and written in batches.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from registry.orm import utcnow
from registry.tokens import (
    TOKEN_PREFIX,
    TokenPrincipal,
    authenticate,
    token_digest,
    touch_last_used,
)
from registry.tokens.tables import ApiTokenRow

MAX_UNKNOWN = 10_000  # unknown digests remembered at most
UNKNOWN_SECONDS = 5.0  # how long an unknown token stays unknown without a re-read


class TokenCache:
    """Thread-confined to the event loop, except `lookup`, which runs in a worker thread."""

    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._known: dict[str, TokenPrincipal] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._last_used: dict[int, datetime] = {}
        # Bumped on every revocation notice: a lookup that started before one may be stale.
        self.generation = 0

    def cached(self, token: str) -> TokenPrincipal | bool | None:
        """The principal if known; False if known to be invalid; None if it must be looked up."""
        digest = token_digest(token)
        principal = self._known.get(digest)
        if principal is not None:
            self._last_used[principal.token_id] = utcnow()
            return principal
        seen = self._unknown.get(digest)
        if seen is not None and self._clock() - seen < UNKNOWN_SECONDS:
            return False
        return None

    def lookup(self, token: str) -> TokenPrincipal | None:
        """The database's answer for a token not in the cache (run off the event loop)."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        with self._sessions.begin() as session:
            return authenticate(session, token)

    def remember(self, token: str, principal: TokenPrincipal | None, generation: int) -> None:
        """Keep what `lookup` found, unless a revocation arrived while it was looking."""
        digest = token_digest(token)
        if generation != self.generation:
            return
        if principal is None:
            self._unknown[digest] = self._clock()
            self._unknown.move_to_end(digest)
            while len(self._unknown) > MAX_UNKNOWN:
                self._unknown.popitem(last=False)
            return
        self._known[digest] = principal
        self._unknown.pop(digest, None)
        self._last_used[principal.token_id] = utcnow()

    def drop_token(self, token_id: int) -> None:
        """A token was revoked (or changed): forget it; the next use asks the database."""
        self.generation += 1
        for digest in [d for d, p in self._known.items() if p.token_id == token_id]:
            del self._known[digest]

    def forget_unknown(self) -> None:
        """A token was created: one presented a moment ago may exist now."""
        self._unknown.clear()

    def token_ids(self) -> set[int]:
        return {p.token_id for p in self._known.values()}

    def live_ids(self, ids: set[int]) -> set[int]:
        """Which of these tokens are still live, for the periodic re-read (off the loop)."""
        if not ids:
            return set()
        query = select(ApiTokenRow.id).where(
            ApiTokenRow.id.in_(ids), ApiTokenRow.revoked_at.is_(None)
        )
        with self._sessions.begin() as session:
            return set(session.scalars(query))

    def drop_revoked(self, checked: set[int], live: set[int]) -> None:
        """After a re-read of the tokens `checked`: drop those no longer live. Tokens cached
        since the read began were not checked and stay. (No generation bump: a lookup in
        flight is as fresh as this read, and a revocation's own notice bumps it.)"""
        gone = checked - live
        for digest in [d for d, p in self._known.items() if p.token_id in gone]:
            del self._known[digest]
        self._unknown.clear()

    def take_last_used(self) -> dict[int, datetime]:
        """What to write to the database now; the next batch starts empty."""
        batch, self._last_used = self._last_used, {}
        return batch

    def write_last_used(self, batch: dict[int, datetime]) -> None:
        """One batched UPDATE (off the loop)."""
        with self._sessions.begin() as session:
            touch_last_used(session, batch)

    def __len__(self) -> int:
        return len(self._known)
