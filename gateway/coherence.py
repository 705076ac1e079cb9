"""Keeping the caches true: LISTEN on the change channels (PostgreSQL), a full re-read every
`refresh_seconds` as the safety net, and token last-used times written in batches.

The listener runs on its own psycopg async connection and reconnects with backoff; after
each (re)connect it re-reads everything, since notices sent while it was away are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from gateway.routes import RouteCache
from gateway.tokens import TokenCache
from registry import notifications
from registry.notifications import Channel, EndpointNotice, TokenNotice

log = logging.getLogger("gateway.coherence")
LAST_USED_SECONDS = 5.0
# Key changes have their own listener (dispatch.key_pool_view).
CHANNELS = (Channel.ENDPOINTS, Channel.TOKENS)
MAX_BACKOFF = 5.0


@dataclass
class Coherence:
    routes: RouteCache
    tokens: TokenCache
    database_url: str
    refresh_seconds: float
    connected: asyncio.Event = field(default_factory=asyncio.Event)  # LISTEN is live
    failures: int = 0  # database reads that failed since the last success
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def listens(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "postgresql"

    async def start(self) -> None:
        """Read everything once (so the first request finds its routes), then keep watching."""
        await self.reload_all()
        loops: list[Callable[[], Coroutine[Any, Any, None]]] = [
            self._refresh_loop,
            self._last_used_loop,
        ]
        if self.listens:
            loops.append(self._listen_loop)
        self._tasks = [asyncio.create_task(loop()) for loop in loops]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._write_last_used()

    async def reload_all(self) -> None:
        snapshot = await asyncio.to_thread(self.routes.read)
        self.routes.apply(snapshot)
        checked = self.tokens.token_ids()
        live = await asyncio.to_thread(self.tokens.live_ids, checked)
        self.tokens.drop_revoked(checked, live)

    async def reload_endpoints(self, endpoint_ids: set[int]) -> None:
        snapshot = await asyncio.to_thread(self.routes.read, endpoint_ids)
        self.routes.apply(snapshot)

    async def handle(self, channel: str, payload: str) -> None:
        notice = notifications.parse(channel, payload)
        if isinstance(notice, EndpointNotice):
            if (self.routes.revision(notice.endpoint_id) or 0) < notice.revision:
                await self.reload_endpoints({notice.endpoint_id})
        elif isinstance(notice, TokenNotice):
            if notice.action == "revoke":
                self.tokens.drop_token(notice.token_id)
            else:
                self.tokens.forget_unknown()
        elif notice is None:  # a notice this version cannot read: assume anything changed
            await self.reload_all()

    # -- the loops ---------------------------------------------------------------------------

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.reload_all()
                self.failures = 0
            except Exception as exc:  # the database is away: keep serving from the cache
                self.failures += 1
                log.warning("re-reading routes and tokens failed: %s", type(exc).__name__)

    async def _last_used_loop(self) -> None:
        while True:
            await asyncio.sleep(LAST_USED_SECONDS)
            await self._write_last_used()

    async def _write_last_used(self) -> None:
        batch = self.tokens.take_last_used()
        if not batch:
            return
        try:
            await asyncio.to_thread(self.tokens.write_last_used, batch)
        except Exception as exc:  # lost on an outage: only a "last used" hint
            log.warning("recording token use failed: %s", type(exc).__name__)

    async def _listen_loop(self) -> None:
        backoff = 0.1
        conninfo = make_url(self.database_url).set(drivername="postgresql")
        dsn = conninfo.render_as_string(hide_password=False)
        while True:
            try:
                await self._listen(dsn)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", type(exc).__name__)
            self.connected.clear()
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(MAX_BACKOFF, backoff * 2)

    async def _listen(self, dsn: str) -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            for channel in CHANNELS:
                await conn.execute(f"LISTEN {channel.value}")
            await self.reload_all()  # notices sent while not listening are lost: re-read
            self.connected.set()
            async for notice in conn.notifies():
                await self.handle(notice.channel, notice.payload)
