"""The heartbeat a promote run keeps on its approval while it waits, so that a dead run
(kill -9 while paused) can be told apart from a slow reviewer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from sqlalchemy.exc import SQLAlchemyError

from registry.approval_liveness import HEARTBEAT_SECONDS
from registry.approvals import ApprovalRepository
from registry.errors import RegistryError
from registry.orm import utcnow
from tasks.context import unit_of_work

log = logging.getLogger("tasks.approval_watch")


def refresh_heartbeat(approval_id: int) -> bool:
    """One beat; False once the approval is settled. A plain function, not a task: one task
    run every few seconds of a day-long wait would bury the run's real work."""
    with unit_of_work() as (session, team):
        return ApprovalRepository(session, team).heartbeat(approval_id, utcnow())


@asynccontextmanager
async def heartbeat(approval_id: int, every: float = HEARTBEAT_SECONDS) -> AsyncIterator[None]:
    """Beat every `every` seconds for as long as the block runs (the pause included)."""
    beating = asyncio.create_task(_beat(approval_id, every))
    try:
        yield
    finally:
        beating.cancel()
        with suppress(asyncio.CancelledError):
            await beating


async def _beat(approval_id: int, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            if not await asyncio.to_thread(refresh_heartbeat, approval_id):
                return
        except (RegistryError, SQLAlchemyError) as exc:
            # A missed beat is not fatal: the next one may land; readers allow several misses.
            log.warning("approval %s: heartbeat not recorded (%s)", approval_id, type(exc).__name__)
