"""Can a pending approval still be answered? Only while its promote run waits for it.

A run killed while paused stays PAUSED in Prefect forever, so Prefect's state alone cannot
tell; the run records its host and pid on the approval and refreshes a heartbeat while it
waits, and this module judges those.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from registry.domain import Approval, ApprovalStatus

HEARTBEAT_SECONDS = 5.0
# Six missed heartbeats: long enough for a busy database, short enough for a reviewer.
STALE_AFTER = timedelta(seconds=30)


def this_process() -> tuple[str, int]:
    """The host and pid a waiting run records."""
    return socket.gethostname(), os.getpid()


def process_alive(pid: int) -> bool:
    """True if a process with this pid runs on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but alive
    stat = Path(f"/proc/{pid}/stat")
    try:
        # The state letter follows the parenthesised command name, which may hold spaces.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no procfs: kill(0) is all we know


def unanswerable_reason(
    approval: Approval,
    now: datetime,
    *,
    host: str | None = None,
    alive: Callable[[int], bool] = process_alive,
) -> str | None:
    """Why nobody can answer `approval` any more, or None while its run waits for answers."""
    if approval.status is not ApprovalStatus.PENDING:
        return f"approval {approval.id} is already {approval.status}"
    if approval.expires_at is not None and now >= approval.expires_at:
        return f"approval {approval.id} expired at {approval.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    runner = approval.runner
    if runner is None:
        return None  # no runner recorded: only Prefect's state can tell
    where = f"process {runner.pid} on {runner.host}"
    if runner.host == (host or socket.gethostname()) and not alive(runner.pid):
        return f"the promote run waiting for it is dead ({where} is gone)"
    silence = now - runner.heartbeat_at
    if silence > STALE_AFTER:
        return (
            f"the promote run waiting for it ({where}) has not checked in for "
            f"{silence.total_seconds():.0f} s (it does every {HEARTBEAT_SECONDS:.0f} s)"
        )
    return None
