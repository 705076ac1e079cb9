"""Recording outcomes off the request path: journal on submit, store in batches in the background.

`submit` appends the encoded outcome to the local spool (page cache, no fsync, no database)
and returns: from then on the outcome survives kill -9 of the process. A background thread
reads the spool in batches (`batch_size` lines, or whatever arrived within
`flush_interval`), stores each batch with its rollups in one transaction, and advances the
spool's checkpoint. While the database is away the spool simply grows and the thread
retries with backoff; when it is back the backlog drains, without duplicates (request ids
are unique). A full spool refuses outcomes with `SpoolFullError` and says so in `status()`.
Durability: kill -9 loses nothing acknowledged; a power cut can lose what arrived since
the last sync (the thread fdatasyncs the spool once per cycle, about `flush_interval`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.outcome_spool import OutcomeSpool, SpoolBatch, SpoolError, SpoolFullError
from modelops.settings import Settings
from registry.database import make_engine, make_session_factory
from registry.errors import InvalidInputError
from registry.outcomes import (
    FORMAT,
    Outcome,
    StoreResult,
    apply_pending_feedback,
    decode_outcome,
    encode_outcome,
    store_outcome_lines,
)

log = logging.getLogger(__name__)

__all__ = [
    "OutcomeWriter",
    "SpoolFullError",
    "WriterClosedError",
    "WriterConfig",
    "WriterState",
    "WriterStatus",
]


class WriterClosedError(SpoolError):
    """`submit` after `close` (or before `start`)."""


class WriterState(StrEnum):
    RUNNING = "running"  # storing as outcomes arrive
    DEGRADED = "degraded"  # the database is unavailable: spooling, retrying
    SPOOL_FULL = "spool_full"  # outcomes are being refused
    CLOSED = "closed"


@dataclass(frozen=True)
class WriterConfig:
    spool_max_bytes: int = 1 << 30
    batch_size: int = 2000
    flush_interval: float = 0.1  # seconds
    close_timeout: float = 10.0  # how long close() keeps trying to drain into the database
    retry_max: float = 2.0  # longest wait between attempts while the database is away
    feedback_interval: float = 2.0  # how often feedback waiting for its outcome is applied
    adopt_interval: float = 30.0  # how often to look for spools of dead processes

    @classmethod
    def from_settings(cls, settings: Settings) -> WriterConfig:
        return cls(
            spool_max_bytes=settings.outcome_spool_max_bytes,
            batch_size=settings.outcome_batch_size,
            flush_interval=settings.outcome_flush_interval_ms / 1000,
        )

    @property
    def segment_bytes(self) -> int:
        # An eighth of the limit: committed segments are deleted whole, so at most about
        # one segment of committed lines is still on disk when the spool counts as full.
        return max(4096, min(32 << 20, self.spool_max_bytes // 8))


@dataclass(frozen=True)
class WriterStatus:
    """What /readyz and /metrics show. `backlog` is the queue depth: outcomes acknowledged
    and not yet in the database. Counters are since this writer started."""

    state: WriterState
    ready: bool
    database_available: bool
    backlog: int
    spool_bytes: int
    spool_limit_bytes: int
    submitted: int
    stored: int
    duplicates: int
    refused: int
    rejected: int
    last_error: str | None


class OutcomeWriter:
    """Create in the app's lifespan: `start()` … `close()`, or `with OutcomeWriter(...)`."""

    def __init__(self, engine: Engine, spool_dir: Path, config: WriterConfig | None = None) -> None:
        self.config = config or WriterConfig()
        self._engine = engine
        self._owns_engine = False
        self._sessions: sessionmaker[Session] = make_session_factory(engine)
        self._spool = OutcomeSpool(
            spool_dir,
            header=FORMAT,
            max_bytes=self.config.spool_max_bytes,
            segment_bytes=self.config.segment_bytes,
        )
        self._wake = threading.Event()
        self._drained = threading.Condition()
        self._thread: threading.Thread | None = None
        self._accepting = False
        self._closing = False
        self._database_available = True
        self._last_error: str | None = None
        self._stored = self._duplicates = 0
        self._deadline = float("inf")  # when close() stops waiting for the database

    @classmethod
    def from_settings(cls, settings: Settings) -> OutcomeWriter:
        """A writer with its own small engine, spooling under the data dir."""
        writer = cls(
            make_engine(settings.resolved_database_url),
            settings.outcome_spool_dir,
            WriterConfig.from_settings(settings),
        )
        writer._owns_engine = True
        return writer

    def start(self) -> None:
        """Open the spool (adopting any left by dead processes) and start storing."""
        self._spool.open()
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name="outcome-writer", daemon=True)
        self._thread.start()

    def close(self, timeout: float | None = None) -> bool:
        """Refuse new outcomes, store the backlog (for up to `timeout`, default
        `close_timeout`), release the spool. True when nothing was left in the spool."""
        self._accepting = False
        self._deadline = time.monotonic() + (
            self.config.close_timeout if timeout is None else timeout
        )
        self._closing = True
        self._wake.set()
        drained = True
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            drained = self._spool.backlog == 0
            if not drained:
                log.warning(
                    "outcome writer: %d outcomes stay in the spool; the next start stores them",
                    self._spool.backlog,
                )
            self._spool.close()
        if self._owns_engine:
            self._engine.dispose()
        return drained

    def __enter__(self) -> OutcomeWriter:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the request path ------------------------------------------------------------------

    def submit(self, outcome: Outcome) -> None:
        """Acknowledge an outcome: journaled when this returns. No database round trip.
        Raises `SpoolFullError` (counted in `status().refused`) or `WriterClosedError`."""
        if not self._accepting:
            raise WriterClosedError("the outcome writer is not running")
        self._spool.append(encode_outcome(outcome))
        # A full batch wakes the thread early, unless it is backing off from a failure.
        if self._database_available and self._spool.backlog % self.config.batch_size == 0:
            self._wake.set()

    def status(self) -> WriterStatus:
        spool = self._spool
        if not self._accepting or self._thread is None or not self._thread.is_alive():
            state = WriterState.CLOSED
        elif spool.full:
            state = WriterState.SPOOL_FULL
        elif not self._database_available:
            state = WriterState.DEGRADED
        else:
            state = WriterState.RUNNING
        return WriterStatus(
            state=state,
            ready=state in (WriterState.RUNNING, WriterState.DEGRADED),
            database_available=self._database_available,
            backlog=spool.backlog,
            spool_bytes=spool.bytes,
            spool_limit_bytes=spool.max_bytes,
            submitted=spool.appended,
            stored=self._stored,
            duplicates=self._duplicates,
            refused=spool.refused,
            rejected=spool.rejected,
            last_error=self._last_error,
        )

    def flush(self, timeout: float) -> bool:
        """Wait until the backlog is stored (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        with self._drained:
            while self._spool.backlog:
                self._wake.set()
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None:
                    return False
                self._drained.wait(min(left, 0.05))
        return True

    # -- the background thread ---------------------------------------------------------

    def _run(self) -> None:
        timers = {"feedback": time.monotonic(), "adopt": time.monotonic()}
        retry = 0.0
        while True:
            self._wake.wait(retry or self.config.flush_interval)
            self._wake.clear()
            try:
                retry = self._drain(retry)
                self._housekeeping(timers)
            except OSError as exc:  # the spool's disk; the thread must live on
                log.error("outcome writer: spool I/O failed (%s); retrying", exc.strerror)
                self._last_error = f"spool I/O failed ({exc.strerror})"
                retry = self.config.retry_max
            if self._closing and (not self._spool.backlog or time.monotonic() > self._deadline):
                return

    def _drain(self, retry: float) -> float:
        """Store batches while there are any; returns the wait before the next attempt."""
        while (batch := self._spool.next_batch(self.config.batch_size)) is not None:
            try:
                self._store(batch)
            except Exception as exc:  # never let the thread die; the spool keeps everything
                self._unavailable(exc)
                return min(self.config.retry_max, max(0.05, retry * 2))
            self._spool.commit(batch)
            with self._drained:
                self._drained.notify_all()
        return 0.0

    def _store(self, batch: SpoolBatch) -> None:
        try:
            with self._sessions.begin() as session:
                result = store_outcome_lines(session, batch.lines)
        except InvalidInputError:
            result = self._store_checked(batch.lines)
        self._stored += result.inserted
        self._duplicates += result.duplicates
        if not self._database_available:
            log.warning("outcome writer: the database is back; storing the spooled backlog")
        self._database_available, self._last_error = True, None

    def _store_checked(self, lines: list[bytes]) -> StoreResult:
        """A batch the database refused: store its lines one by one, reject the bad ones."""
        stored = duplicates = 0
        bad: list[bytes] = []
        for line in lines:
            try:
                decode_outcome(line)
                with self._sessions.begin() as session:
                    result = store_outcome_lines(session, [line])
            except InvalidInputError:
                bad.append(line)
                continue
            stored, duplicates = stored + result.inserted, duplicates + result.duplicates
        if bad:
            log.error("outcome writer: %d damaged outcome lines set aside in the spool", len(bad))
            self._spool.reject(bad)
        return StoreResult(inserted=stored, duplicates=duplicates)

    def _unavailable(self, exc: Exception) -> None:
        if self._database_available:
            log.warning(
                "outcome writer: cannot store outcomes (%s); spooling until the database is back",
                type(exc).__name__,
            )
        self._database_available = False
        self._last_error = f"database unavailable ({type(exc).__name__})"

    def _housekeeping(self, timers: dict[str, float]) -> None:
        self._spool.sync()
        now = time.monotonic()
        if self._database_available and now - timers["feedback"] >= self.config.feedback_interval:
            timers["feedback"] = now
            try:
                with self._sessions.begin() as session:
                    apply_pending_feedback(session)
            except Exception as exc:
                self._unavailable(exc)
        if now - timers["adopt"] >= self.config.adopt_interval:
            timers["adopt"] = now
            self._spool.adopt_orphans()
