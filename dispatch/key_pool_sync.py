"""Following other processes' changes to the key pool: LISTEN on `modelops_keys` over a
dedicated psycopg connection, reconnecting with backoff, and full re-reads as the safety net:
every `refresh_seconds` while listening, every `unheard_seconds` while not (SQLite, or the
connection is down), and once after each (re)connect, since notices sent meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from registry import notifications
from registry.notifications import Channel, KeyNotice

log = logging.getLogger("dispatch.key_pool_view")
APPLICATION_NAME = "modelops-key-pool-view"  # how the LISTEN connection shows in pg_stat_activity
MAX_HEARD = 10_000  # past this many unread notices, one full re-read is cheaper
FIRST_BACKOFF_SECONDS = 0.1


@dataclass(frozen=True)
class ViewTiming:
    """How often a KeyPoolView writes usage and re-reads the pool (seconds)."""

    flush_seconds: float = 1.0  # batched usage counters are written this often
    refresh_seconds: float = 30.0  # full re-read while LISTEN works (the safety net)
    unheard_seconds: float = 1.0  # full re-read while not listening: changes within ~1 s
    heartbeat_seconds: float = 1.0  # a quiet LISTEN connection is checked this often
    max_reconnect_seconds: float = 5.0  # the cap of the reconnect backoff

    def __post_init__(self) -> None:
        for name in ("flush_seconds", "refresh_seconds", "unheard_seconds", "heartbeat_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ViewTiming.{name} must be positive, got {getattr(self, name)}")


class PoolFollower:
    """Calls `reread(notices)` for the keys other processes changed and `refresh()` for a
    full re-read; both run one at a time, from one task. `dsn` None: never listen (SQLite)."""

    def __init__(
        self,
        dsn: str | None,
        timing: ViewTiming,
        *,
        reread: Callable[[list[KeyNotice]], Awaitable[None]],
        refresh: Callable[[], Awaitable[None]],
    ) -> None:
        self._dsn = dsn
        self._timing = timing
        self._reread = reread
        self._refresh = refresh
        self.listening = asyncio.Event()  # set while LISTEN is live
        self._wake = asyncio.Event()
        self._heard: list[KeyNotice] = []
        self._full_due = False
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._sync_loop(), name="key-pool-sync")]
        if self._dsn is not None:
            self._tasks.append(asyncio.create_task(self._listen_loop(), name="key-pool-listen"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.listening.clear()

    def request_full(self) -> None:
        self._full_due = True
        self._wake.set()

    def hear(self, channel: str, payload: str) -> None:
        notice = notifications.parse(channel, payload)
        if not isinstance(notice, KeyNotice) or len(self._heard) >= MAX_HEARD:
            self.request_full()  # unreadable (a newer sender?) or too many: re-read it all
            return
        self._heard.append(notice)
        self._wake.set()

    # -- re-reading ----------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        clock = asyncio.get_running_loop().time
        last_full = clock()
        while True:
            period = (
                self._timing.refresh_seconds
                if self.listening.is_set()
                else self._timing.unheard_seconds
            )
            await self._woken(last_full + period - clock())
            if self._full_due or clock() >= last_full + period:
                self._full_due, self._heard = False, []
                last_full = clock()
                await self._guarded(self._refresh)
            elif self._heard:
                heard, self._heard = self._heard, []
                await self._guarded(self._reread, heard)

    async def _woken(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, delay)):
                await self._wake.wait()
        self._wake.clear()

    async def _guarded(self, step: Callable[..., Awaitable[None]], *args: Any) -> None:
        try:
            await step(*args)
        except Exception as exc:  # the database is away: keep serving from memory
            log.warning("re-reading the key pool failed (%s); retrying", type(exc).__name__)
            self._full_due = True
            await asyncio.sleep(self._timing.unheard_seconds)

    # -- listening -----------------------------------------------------------------------

    async def _listen_loop(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            try:
                await self._listen()
            except Exception as exc:
                log.warning(
                    "LISTEN %s lost (%s); re-reading every %gs until it is back",
                    Channel.KEYS.value,
                    type(exc).__name__,
                    self._timing.unheard_seconds,
                )
            if self.listening.is_set():
                backoff = FIRST_BACKOFF_SECONDS  # it had worked: reconnect soon
            self.listening.clear()
            self._wake.set()  # the sync loop switches to re-reading every unheard_seconds
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(self._timing.max_reconnect_seconds, backoff * 2)

    async def _listen(self) -> None:
        assert self._dsn is not None
        heartbeat = self._timing.heartbeat_seconds
        async with asyncio.timeout(max(5.0, heartbeat)):
            conn = await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, application_name=APPLICATION_NAME
            )
        async with conn:
            await conn.execute(f"LISTEN {Channel.KEYS.value}")
            self.listening.set()
            self.request_full()  # what changed while not listening was never heard
            while True:
                async for notice in conn.notifies(timeout=heartbeat):
                    self.hear(notice.channel, notice.payload)
                async with asyncio.timeout(heartbeat):  # a silently dead link fails here
                    await conn.execute("SELECT 1")
