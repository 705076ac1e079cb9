"""A process submitting outcomes through the writer, printing each acknowledgement.

    python -m tests.gateway.writer_child DATABASE_URL SPOOL_DIR PREFIX COUNT

Prints "ack N" after outcome N is acknowledged. On SIGTERM it closes the writer (which
stores the backlog) and prints "closed SUBMITTED BACKLOG"; kill -9 just stops it.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

from gateway.outcome_writer import OutcomeWriter, WriterConfig
from registry.database import make_engine
from tests.registry.test_outcomes_support import make_outcomes


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(url: str, spool_dir: str, prefix: str, count: int) -> None:
    signal.signal(signal.SIGTERM, _stop)
    engine = make_engine(url)
    writer = OutcomeWriter(engine, Path(spool_dir), WriterConfig(batch_size=200, retry_max=0.2))
    outcomes = make_outcomes(count, prefix=prefix)
    try:
        with writer:
            for i, outcome in enumerate(outcomes):
                writer.submit(outcome)
                print(f"ack {i}", flush=True)
            signal.pause()
    finally:
        status = writer.status()
        print(f"closed {status.submitted} {status.backlog}", flush=True)
        engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
