"""Daily usage is folded with the rollups, so it equals a recomputation from raw outcomes
after out-of-order and late outcomes, a retried batch, and a spool replayed after kill -9;
the reconcile check finds a difference when there is one."""

from __future__ import annotations

import random
import signal
from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from registry.errors import InvalidInputError
from registry.outcomes import Outcome, store_outcomes
from registry.usage.daily import NO_KEY, DailyDelta
from registry.usage.reconcile import reconcile_day
from registry.usage.tables import DailyUsageRow
from tests.gateway.conftest import child
from tests.gateway.test_outcome_writer import read_acks, running, stored_ids
from tests.registry.test_outcomes_support import T0, TEAM, make_outcomes, sessions_for


def _load(n: int, seed: int) -> list[Outcome]:
    """Outcomes over three days and three keys (and none), shuffled: out of order."""
    rng = random.Random(seed)
    outcomes = [
        replace(
            o,
            at=o.at - timedelta(days=rng.randrange(3), minutes=rng.randrange(600)),
            provider_key_id=rng.choice([None, 11, 12, 13]),
        )
        for o in make_outcomes(n, seed=seed, prefix=f"load{seed}")
    ]
    rng.shuffle(outcomes)
    return outcomes


def _expected(outcomes: list[Outcome]) -> dict[tuple[date, int, int, int], list[int]]:
    """Independently, in plain Python: the daily sums of each (day, endpoint, version, key)."""
    sums: dict[tuple[date, int, int, int], list[int]] = defaultdict(lambda: [0] * 6)
    for o in {o.request_id: o for o in outcomes}.values():
        key = (o.at.date(), o.endpoint_id, o.model_version_id, o.provider_key_id or NO_KEY)
        row = sums[key]
        for i, value in enumerate(
            (1, 0 if o.success else 1, o.input_tokens, o.output_tokens,
             o.cached_input_tokens, o.cost_micro_usd)
        ):  # fmt: skip
            row[i] += value
    return dict(sums)


def _folded(url: str) -> dict[tuple[date, int, int, int], list[int]]:
    with sessions_for(url) as sessions, sessions.begin() as session:
        rows = session.query(DailyUsageRow).all()
        return {
            (r.day, r.endpoint_id, r.model_version_id, r.provider_key_id): [
                r.requests, r.errors, r.input_tokens, r.output_tokens,
                r.cached_input_tokens, r.cost_micro_usd,
            ]
            for r in rows
        }  # fmt: skip


def test_daily_usage_equals_the_raw_recomputation_after_a_messy_load(
    pg_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    # A writer killed with -9: what it stored but had not checkpointed is replayed.
    process = child("-m", "tests.gateway.writer_child", pg_url, str(spool), "kill", "100000")
    read_acks(process, until=2000)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -9
    load = _load(4000, seed=1)
    late = [replace(o, at=o.at - timedelta(hours=30)) for o in _load(500, seed=2)]
    with running(pg_url, spool) as writer:  # adopts the dead writer's spool
        for outcome in load + late:
            writer.submit(outcome)
        for outcome in load[:700]:  # a consumer retrying a batch: stored once
            writer.submit(outcome)
        assert writer.flush(timeout=120)
    with sessions_for(pg_url) as sessions, sessions.begin() as session:
        store_outcomes(session, late[:100])  # a replayed batch, straight to the store
    ids = stored_ids(pg_url)
    killed = sorted(i for i in ids if i.startswith("kill-"))
    assert len(killed) >= 2000
    assert {o.request_id for o in load + late} <= ids
    # The killed writer's outcomes, rebuilt the way it made them, complete the expectation.
    every = load + late + make_outcomes(len(killed), prefix="kill")
    expected = _expected(every)
    assert _folded(pg_url) == expected
    days = sorted({day for day, *_ in expected})
    assert len(days) >= 4  # three days of load, and late outcomes before them
    with sessions_for(pg_url) as sessions, sessions.begin() as session:
        checks = [reconcile_day(session, TEAM, day) for day in days]
    assert all(check.equal for check in checks), [c.differences[:3] for c in checks]
    assert sum(check.requests for check in checks) == len(ids)


def test_reconcile_reports_each_counter_that_differs(db_url: str) -> None:
    outcomes = make_outcomes(50)
    with sessions_for(db_url) as sessions:
        with sessions.begin() as session:
            store_outcomes(session, outcomes)
            assert reconcile_day(session, TEAM, T0.date()).equal
        with sessions.begin() as session:
            session.execute(
                text("UPDATE daily_usage SET requests = requests + 1, cost_micro_usd = 0 "
                     "WHERE model_version_id = 2")
            )  # fmt: skip
            check = reconcile_day(session, TEAM, T0.date())
    cost = sum(o.cost_micro_usd for o in outcomes if o.model_version_id == 2)
    assert not check.equal
    assert sorted((d.column, d.folded - d.recomputed) for d in check.differences) == [
        ("cost_micro_usd", -cost),
        ("requests", 1),
    ]


def test_a_damaged_line_is_refused_by_the_daily_fold() -> None:
    with pytest.raises(InvalidInputError, match="damaged"):
        DailyDelta().add_lines([b"not\tan\toutcome\n"])
