"""Shadow traffic off the response path: a bounded queue drained by a few workers. A full
queue drops the mirror (and counts it) rather than slow or grow without bound."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("gateway.shadow")
ShadowJob = Callable[[], Awaitable[None]]


class ShadowQueue:
    def __init__(self, size: int, on_drop: Callable[[], None], workers: int = 2) -> None:
        self._queue: asyncio.Queue[ShadowJob] = asyncio.Queue(maxsize=size)
        self._on_drop = on_drop
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []

    def offer(self, job: ShadowJob) -> bool:
        """Queue a mirror; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self._on_drop()
            return False
        return True

    def depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

    async def close(self, timeout: float = 5.0) -> None:
        """Let queued mirrors finish for up to `timeout`, then stop the workers."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await job()
            except Exception as exc:  # a mirror's failure is recorded by the job; never raised
                log.warning("shadow request failed: %s", type(exc).__name__)
            finally:
                self._queue.task_done()
