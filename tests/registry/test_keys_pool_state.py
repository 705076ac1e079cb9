"""The pool held in memory picks what `KeyPool.acquire` picks from the same state (priority,
least recently used, cooldowns, disabled and excluded keys, model cooldowns), and refuses
with the same error; what the database says later is taken in without going backwards."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from registry.domain import Team
from registry.keys import (
    KeyDisabledError,
    KeyOutcome,
    KeyStatus,
    LeasedKey,
    NoKeyAvailableError,
    RecordedFailure,
)
from registry.keys.cooldowns import cool_model
from registry.keys.crypto import KeyBinding, seal
from registry.keys.pool_reads import KeyRecord, PoolReader, read_pairs
from registry.keys.pool_state import ScopeState
from registry.keys.tables import ProviderKeyRow
from registry.teams import TeamRepository
from tests.registry.test_keys_support import RING_1, SECRETS, T0, PoolFactory, ring

MODELS = ("gpt-a", "gpt-b", None)
STEPS = 60


@pytest.fixture
def factory(db_url: str) -> Iterator[PoolFactory]:
    made = PoolFactory(db_url)
    yield made
    made.close()


def _load(factory: PoolFactory) -> ScopeState:
    with factory.sessions.begin() as session:
        team = TeamRepository(session).ensure("alpha")
        provider_id = PoolReader(session, team).provider_id("openai")
        records = read_pairs(session, [(team.id, provider_id)])
    scope = ScopeState(team, "openai", provider_id)
    scope.replace(records.keys, records.models, since=0)
    return scope


def _scramble(factory: PoolFactory, rng: random.Random, ids: list[int]) -> None:
    """Random statuses, deadlines around T0, usage times (some never used), model cooldowns."""
    K = ProviderKeyRow
    with factory.sessions.begin() as session:
        for key_id in ids:
            status = rng.choice([KeyStatus.ACTIVE, KeyStatus.COOLING, KeyStatus.DISABLED])
            until = T0 + timedelta(seconds=rng.uniform(-20, 40)) if rng.random() < 0.6 else None
            used = T0 - timedelta(seconds=rng.uniform(0, 100)) if rng.random() < 0.7 else None
            values = {"status": status.value, "cooldown_until": until, "last_used_at": used}
            session.execute(update(K).where(K.id == key_id).values(**values))
        team = TeamRepository(session).ensure("alpha")
        provider_id = PoolReader(session, team).provider_id("openai")
        for model in ("gpt-a", "gpt-b"):
            delay = rng.uniform(-10, 30)
            cool_model(
                session, (team.id, provider_id, model), now=T0, reason="5xx",
                delay=lambda _failures, d=delay: max(0.0, d),
            )  # fmt: skip


def _from_database(
    factory: PoolFactory, now: datetime, model: str | None, exclude: set[int]
) -> LeasedKey | NoKeyAvailableError:
    factory.clock.now = now
    try:
        with factory.pool() as pool:
            return pool.acquire("openai", model=model, exclude=exclude)
    except NoKeyAvailableError as exc:
        return exc


def _outcome(found: LeasedKey | NoKeyAvailableError) -> tuple[object, ...]:
    if isinstance(found, NoKeyAvailableError):
        return ("none", str(found), found.first_free_at, found.model_cooling_until)
    return ("key", found.key_id, found.label, found.priority, found.cooldown_until)


@pytest.mark.parametrize("seed", range(4))
def test_memory_picks_what_the_database_picks_step_after_step(
    factory: PoolFactory, seed: int
) -> None:
    rng = random.Random(seed)
    ids = factory.add_keys([(f"k{i}", rng.choice([0, 1, 1, 2])) for i in range(6)])
    _scramble(factory, rng, ids)
    scope = _load(factory)
    keyring = ring(RING_1)
    kinds = set()
    for step in range(STEPS):
        now = T0 + timedelta(seconds=step)  # distinct times, as real clocks give
        model = rng.choice(MODELS)
        exclude = set(rng.sample(ids, rng.choice([0, 0, 1, 2])))
        expected = _from_database(factory, now, model, exclude)
        try:
            found: LeasedKey | NoKeyAvailableError = scope.pick(
                keyring, now=now, model=model, exclude=exclude
            )
        except NoKeyAvailableError as exc:
            found = exc
        assert _outcome(found) == _outcome(expected), f"step {step}"
        kinds.add(_outcome(found)[0])
        if isinstance(found, LeasedKey) and isinstance(expected, LeasedKey):
            assert found.credential == expected.credential
    assert kinds == {"key", "none"}  # both answers were compared, not one of them only


def test_a_key_used_at_the_same_instant_as_another_goes_behind_it() -> None:
    """Where the database falls back to id order on equal times, memory keeps true LRU."""
    scope = _scope_of([(1, 0), (2, 0)])
    picks = [scope.pick(ring(RING_1), now=T0, model=None, exclude=set()).key_id for _ in range(4)]
    assert picks == [1, 2, 1, 2]


def test_what_the_database_says_later_never_moves_a_deadline_back(factory: PoolFactory) -> None:
    [key] = factory.add_keys([("only", 0)])
    scope = _load(factory)
    recorded = RecordedFailure(
        key_id=key,
        outcome=KeyOutcome.RATE_LIMITED,
        key_status=KeyStatus.COOLING,
        key_cooldown_until=T0 + timedelta(seconds=30),
    )
    scope.apply_failure(recorded, None, generation=5)
    stale = _load(factory).keys[key].record  # read before the failure was written
    scope.apply_keys([stale], since=4)
    [held] = scope.held(T0)
    assert (held.status, held.cooldown_until) == (KeyStatus.COOLING, T0 + timedelta(seconds=30))
    scope.apply_keys([stale], since=5)  # a read begun after the write has the last word
    assert scope.held(T0)[0].cooldown_until == T0 + timedelta(seconds=30)  # still never back


def test_a_status_read_before_this_process_disabled_the_key_does_not_revive_it(
    factory: PoolFactory,
) -> None:
    [key] = factory.add_keys([("only", 0)])
    scope = _load(factory)
    stale = scope.keys[key].record
    disabled = RecordedFailure(
        key_id=key, outcome=KeyOutcome.KEY_SCOPED, key_status=KeyStatus.DISABLED
    )
    scope.apply_failure(disabled, None, generation=3)
    scope.apply_keys([stale], since=2)
    with pytest.raises(NoKeyAvailableError, match="1 disabled"):
        scope.pick(ring(RING_1), now=T0, model=None, exclude=set())
    with pytest.raises(KeyDisabledError, match=f"keys enable {key}"):
        scope.pinned(key, ring(RING_1), now=T0)


def _scope_of(spec: list[tuple[int, int]]) -> ScopeState:
    """Keys (id, priority) sealed for team 1 on provider 1, never used."""
    scope = ScopeState(Team(id=1, name="alpha"), "openai", 1)
    scope.replace([_record(key_id, priority) for key_id, priority in spec], [], since=0)
    return scope


def _record(key_id: int, priority: int) -> KeyRecord:
    return KeyRecord(
        key_id=key_id,
        team_id=1,
        provider_id=1,
        label=f"k{key_id}",
        last4=SECRETS[key_id][-4:],
        priority=priority,
        status=KeyStatus.ACTIVE.value,
        cooldown_until=None,
        disabled_reason=None,
        last_used_at=None,
        sealed=seal(SECRETS[key_id], KeyBinding(1, 1, key_id), ring(RING_1)),
    )
