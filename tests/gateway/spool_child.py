"""A process that journals lines, commits some, and dies by kill -9 (for the spool tests).

python -m tests.gateway.spool_child DIR APPEND COMMIT [SEGMENT_BYTES]
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from gateway.outcome_spool import OutcomeSpool
from registry.outcomes import FORMAT


def main(directory: str, append: int, commit: int, segment_bytes: int = 1 << 20) -> None:
    spool = OutcomeSpool(
        Path(directory), header=FORMAT, max_bytes=1 << 30, segment_bytes=segment_bytes
    )
    spool.open()
    for i in range(append):
        spool.append(f"line-{i}\n".encode())
    committed = 0
    while committed < commit:
        batch = spool.next_batch(min(7, commit - committed))
        assert batch is not None
        spool.commit(batch)
        committed += len(batch.lines)
    print("ready", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main(sys.argv[1], *(int(arg) for arg in sys.argv[2:]))
