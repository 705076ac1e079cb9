"""The outcome writer never loses an acknowledged outcome: not while the database is away,
not when the spool fills (it refuses, and says so), not on kill -9, not on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.outcome_writer import (
    OutcomeWriter,
    SpoolFullError,
    WriterClosedError,
    WriterConfig,
    WriterState,
)
from modelops.settings import Settings
from registry.database import make_engine
from registry.outcomes import FeedbackStatus, Outcome, record_feedback
from tests.gateway.conftest import child, wait_until
from tests.registry.test_outcomes_support import TEAM, make_outcomes, sessions_for

APP = "modelops-outcome-writer-test"
FAST = WriterConfig(batch_size=200, flush_interval=0.02, retry_max=0.2, feedback_interval=0.05)


def with_app_name(url: str) -> str:
    """The writer's connections carry a name, so an outage can terminate exactly them."""
    if url.startswith("sqlite"):
        return url
    named = make_url(url).update_query_dict({"application_name": APP})
    return named.render_as_string(hide_password=False)


@contextmanager
def running(url: str, spool: Path, config: WriterConfig = FAST) -> Iterator[OutcomeWriter]:
    engine = make_engine(with_app_name(url))
    writer = OutcomeWriter(engine, spool, config)
    writer.start()
    try:
        yield writer
    finally:
        writer.close(timeout=30)
        engine.dispose()


class Outage:
    """`ALTER DATABASE … ALLOW_CONNECTIONS false` and the writer's backends terminated."""

    def __init__(self, url: str) -> None:
        self.name = make_url(url).database
        admin_url = make_url(url).set(database="postgres")
        self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def begin(self) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND application_name = :app"
                ),
                {"name": self.name, "app": APP},
            )

    def end(self) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))

    def close(self) -> None:
        self.end()
        self._admin.dispose()


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def outage(pg_url: str) -> Iterator[Outage]:
    outage = Outage(pg_url)
    yield outage
    outage.close()


def stored_ids(url: str) -> set[str]:
    with sessions_for(url) as sessions, sessions.begin() as session:
        return set(session.scalars(text("SELECT request_id FROM outcomes")))


def rollup_requests(url: str) -> int:
    with sessions_for(url) as sessions, sessions.begin() as session:
        return int(
            session.scalar(text("SELECT coalesce(sum(requests), 0) FROM outcome_rollups")) or 0
        )


def ids(outcomes: list[Outcome]) -> set[str]:
    return {o.request_id for o in outcomes}


def test_every_submitted_outcome_is_stored_once(db_url: str, spool: Path) -> None:
    outcomes = make_outcomes(3000)
    with running(db_url, spool) as writer:
        for outcome in outcomes:
            writer.submit(outcome)
        writer.submit(outcomes[0])  # a repeat is stored once
        assert writer.flush(timeout=60)
        status = writer.status()
    assert (status.state, status.ready, status.backlog) == (WriterState.RUNNING, True, 0)
    assert (status.submitted, status.stored, status.duplicates) == (3001, 3000, 1)
    assert stored_ids(db_url) == ids(outcomes)
    assert rollup_requests(db_url) == 3000
    assert list(spool.glob("*.seg")) == []


def test_an_outage_in_the_middle_loses_nothing(pg_url: str, spool: Path, outage: Outage) -> None:
    outcomes = make_outcomes(6000, prefix="outage")
    submitted = 0

    def submit_all() -> None:
        nonlocal submitted
        for outcome in outcomes:
            writer.submit(outcome)
            submitted += 1
            if submitted % 20 == 0:
                time.sleep(0.002)  # pace the load: the outage must fall in the middle

    with running(pg_url, spool) as writer:
        load = threading.Thread(target=submit_all)
        load.start()
        wait_until(lambda: writer.status().stored >= 500, what="outcomes stored before the outage")
        outage.begin()
        wait_until(lambda: not writer.status().database_available, what="the writer to notice")
        during = submitted
        wait_until(lambda: submitted >= during + 1000, what="outcomes submitted during the outage")
        assert writer.status().state is WriterState.DEGRADED and writer.status().ready
        outage.end()
        load.join()
        assert writer.flush(timeout=120)
        status = writer.status()
    assert status.submitted == submitted == 6000
    assert stored_ids(pg_url) == ids(outcomes)
    assert rollup_requests(pg_url) == 6000


def test_a_full_spool_refuses_says_so_and_recovers(
    pg_url: str, spool: Path, outage: Outage
) -> None:
    outage.begin()
    config = WriterConfig(spool_max_bytes=48_000, flush_interval=0.02, retry_max=0.2)
    outcomes = make_outcomes(2000, prefix="full")
    with running(pg_url, spool, config) as writer:
        acknowledged = []
        with pytest.raises(SpoolFullError):
            for outcome in outcomes:
                writer.submit(outcome)
                acknowledged.append(outcome)
        status = writer.status()
        assert (status.state, status.ready, status.refused) == (WriterState.SPOOL_FULL, False, 1)
        assert status.backlog == len(acknowledged) == status.submitted
        assert status.spool_bytes <= status.spool_limit_bytes == 48_000
        wait_until(lambda: writer.status().last_error is not None, what="a failed attempt")
        outage.end()
        wait_until(lambda: writer.status().backlog == 0, timeout=60, what="the backlog to drain")
        assert writer.status().state is WriterState.RUNNING
        writer.submit(outcomes[-1])
        assert writer.flush(timeout=60)
    assert stored_ids(pg_url) == ids([*acknowledged, outcomes[-1]])


def test_close_stores_the_backlog_before_it_returns(db_url: str, spool: Path) -> None:
    slow = WriterConfig(batch_size=100_000, flush_interval=60)  # only close() flushes
    outcomes = make_outcomes(2500, prefix="close")
    engine = make_engine(db_url)
    writer = OutcomeWriter(engine, spool, slow)
    writer.start()
    for outcome in outcomes:
        writer.submit(outcome)
    assert writer.status().stored == 0
    assert writer.close() is True
    with pytest.raises(WriterClosedError):
        writer.submit(outcomes[0])
    assert writer.status().state is WriterState.CLOSED
    engine.dispose()
    assert stored_ids(db_url) == ids(outcomes)
    assert list(spool.iterdir()) == []


def test_feedback_waiting_for_its_outcome_is_applied_by_the_writer(
    db_url: str, spool: Path
) -> None:
    [outcome] = [o for o in make_outcomes(20) if o.quality is None][:1]
    with sessions_for(db_url) as sessions:
        with sessions.begin() as session:
            status = record_feedback(session, TEAM, outcome.request_id, quality=0.5)
        assert status is FeedbackStatus.PENDING
        with running(db_url, spool) as writer:
            writer.submit(outcome)

            def applied() -> bool:
                with sessions.begin() as session:
                    found = session.scalar(text("SELECT sum(quality_n) FROM outcome_rollups"))
                    return bool(found)

            wait_until(applied, what="the writer's feedback sweep")


def read_acks(process: subprocess.Popen[str], until: int | None = None) -> int:
    """Read "ack N" lines (until N + 1 = `until`, or to the end); returns how many
    outcomes the child has reported acknowledged. Always reads through `process.stdout`,
    whose buffer may already hold lines the pipe no longer has."""
    acked = 0
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("ack "):
            acked = int(line.split()[1]) + 1
            if acked == until:
                break
    return acked


def test_kill_9_loses_nothing_acknowledged(pg_url: str, spool: Path) -> None:
    """Bound: every acknowledged outcome survives; at most the one being journaled when the
    signal landed (acknowledged but not yet reported) may appear besides."""
    process = child("-m", "tests.gateway.writer_child", pg_url, str(spool), "kill", "100000")
    read_acks(process, until=3000)
    process.send_signal(signal.SIGKILL)
    acked = max(3000, read_acks(process))
    assert process.wait(timeout=30) == -9
    with running(pg_url, spool) as writer:  # adopts the dead process's spool
        assert writer.flush(timeout=60)
    found = stored_ids(pg_url)
    acknowledged = {f"kill-{i}" for i in range(acked)}
    assert acknowledged <= found <= acknowledged | {f"kill-{acked}"}
    assert rollup_requests(pg_url) == len(found)
    assert list(spool.glob("*.seg")) == []


def test_sigterm_stores_the_backlog_before_exit(pg_url: str, spool: Path) -> None:
    process = child("-m", "tests.gateway.writer_child", pg_url, str(spool), "term", "1500")
    assert read_acks(process, until=1500) == 1500
    process.send_signal(signal.SIGTERM)
    assert process.stdout is not None and process.stderr is not None
    out = process.stdout.read()
    assert process.wait(timeout=60) == 0, process.stderr.read()
    assert out.splitlines()[-1] == "closed 1500 0"
    assert stored_ids(pg_url) == {f"term-{i}" for i in range(1500)}
    assert list(spool.glob("*.seg")) == []


def test_processes_sharing_a_spool_directory_keep_their_own_files(pg_url: str, spool: Path) -> None:
    """Two worker processes, database unreachable: each journals into its own files under
    its own lock; once both are dead, one new writer adopts and stores both."""
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    workers = [
        child("-m", "tests.gateway.writer_child", unreachable, str(spool), name, "800")
        for name in ("a", "b")
    ]
    for worker in workers:
        assert read_acks(worker, until=800) == 800
    owners = {path.name.split(".")[0] for path in spool.glob("*.seg")}
    locks = {path.name.split(".")[0] for path in spool.glob("*.lock")}
    assert len(owners) == 2 and owners == locks
    for worker in workers:
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=30) == -9
    with running(pg_url, spool) as writer:
        assert writer.flush(timeout=60)
    expected = {f"{name}-{i}" for name in ("a", "b") for i in range(800)}
    assert stored_ids(pg_url) == expected
    assert rollup_requests(pg_url) == 1600


def test_settings_put_the_spool_under_the_data_dir(sqlite_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=sqlite_url,
        data_dir=tmp_path / "data",
        outcome_batch_size=50,
        outcome_flush_interval_ms=20,
        outcome_spool_max_bytes=2 << 20,
    )
    writer = OutcomeWriter.from_settings(settings)
    assert writer.config == WriterConfig(
        spool_max_bytes=2 << 20, batch_size=50, flush_interval=0.02
    )
    outcomes = make_outcomes(120, prefix="settings")
    with writer:
        for outcome in outcomes:
            writer.submit(outcome)
        assert list((tmp_path / "data" / "outcome-spool").glob("*.seg"))
        assert writer.flush(timeout=30)
    assert stored_ids(sqlite_url) == ids(outcomes)
