"""Shared setup for the key pool tests (no tests here): master keys, providers, a clock."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.keys import CooldownPolicy, KeyPool, MasterKeyring
from registry.tables import ProviderRow
from registry.teams import TeamRepository

# Fixed, obviously fake master keys so failures are reproducible.
MASTER_1 = base64.urlsafe_b64encode(bytes(range(32))).decode()
MASTER_2 = base64.urlsafe_b64encode(bytes(range(32, 64))).decode()
MASTER_3 = base64.urlsafe_b64encode(bytes(range(64, 96))).decode()
SECRETS = [f"sk-test-{letter * 24}{index:04d}" for index, letter in enumerate("abcdefghijkl")]
PROVIDERS = ("openai", "anthropic")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def ring(raw: str) -> MasterKeyring:
    return MasterKeyring.from_setting(SecretStr(raw))


RING_1 = f"v1:{MASTER_1}"
RING_2 = f"v2:{MASTER_2},v1:{MASTER_1}"


@dataclass
class FakeClock:
    """A clock tests move by hand, so cooldown expiry never depends on wall time."""

    now: datetime = T0
    calls: list[datetime] = field(default_factory=list)

    def __call__(self) -> datetime:
        self.calls.append(self.now)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def seed_providers(session: Session, names: tuple[str, ...] = PROVIDERS) -> None:
    for name in names:
        if session.scalar(select(ProviderRow).where(ProviderRow.name == name)) is None:
            session.add(
                ProviderRow(name=name, kind=name, options={}, source_file=f"providers/{name}.yaml")
            )
    session.flush()


class PoolFactory:
    """Opens a KeyPool per transaction, like a real caller would."""

    def __init__(
        self,
        url: str,
        *,
        keyring: str | None = RING_1,
        clock: FakeClock | None = None,
        policy: CooldownPolicy | None = None,
    ) -> None:
        self.engine = make_engine(url)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)
        self.keyring = None if keyring is None else ring(keyring)
        self.clock = clock or FakeClock()
        self.policy = policy or CooldownPolicy(uniform=lambda: 1.0)
        with self.sessions.begin() as session:
            seed_providers(session)

    @contextmanager
    def pool(self, team: str = "alpha") -> Iterator[KeyPool]:
        with self.sessions.begin() as session:
            owner: Team = TeamRepository(session).ensure(team)
            yield KeyPool(session, owner, self.keyring, policy=self.policy, clock=self.clock)

    def add_keys(self, spec: list[tuple[str, int]], *, team: str = "alpha") -> list[int]:
        """Add keys labelled as given with their priorities; returns their ids."""
        with self.pool(team) as pool:
            return [
                pool.add("openai", label, SECRETS[index], priority).id
                for index, (label, priority) in enumerate(spec)
            ]

    def close(self) -> None:
        self.engine.dispose()


# -- processes sharing one pool (importable by spawned children) ------------------------


@dataclass
class RecordingClock:
    """The wall clock, remembering what it last told the pool (the acquisition's "now")."""

    last: datetime = T0

    def __call__(self) -> datetime:
        self.last = datetime.now(UTC)
        return self.last


Acquisition = tuple[int, int, str]  # key id, the key's request_count after it, now (ISO)


def hammer_pool(
    url: str, seed: int, cycles: int, start: Any
) -> tuple[list[Acquisition], list[str]]:
    """Acquire and report outcomes `cycles` times; returns acquisitions and violations seen
    in-transaction (the leased row re-read under its lock: it must have been usable)."""
    from registry.keys import NoKeyAvailableError
    from registry.keys.tables import ProviderKeyRow as K

    rng = random.Random(seed)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    keyring, clock = ring(RING_1), RecordingClock()
    with sessions.begin() as session:
        team = TeamRepository(session).ensure("alpha")
    acquisitions: list[Acquisition] = []
    violations: list[str] = []
    start.wait()
    for _ in range(cycles):
        with sessions.begin() as session:
            try:
                lease = KeyPool(session, team, keyring, clock=clock).acquire("openai")
            except NoKeyAvailableError:
                continue
            now = clock.last
            row = session.execute(
                select(K.status, K.cooldown_until, K.request_count).where(K.id == lease.key_id)
            ).one()
            if row.status == "disabled" or (row.cooldown_until and row.cooldown_until > now):
                violations.append(f"key {lease.key_id} leased at {now} in state {row}")
            acquisitions.append((lease.key_id, row.request_count, now.isoformat()))
        with sessions.begin() as session:
            _report_outcome(KeyPool(session, team, keyring, clock=clock), lease.key_id, rng)
    engine.dispose()
    return acquisitions, violations


def _report_outcome(pool: KeyPool, key_id: int, rng: random.Random) -> None:
    """Mostly successes; short rate limits so keys cycle in and out of cooling."""
    from registry.keys import KeyOutcome

    outcome = rng.choices(
        [None, KeyOutcome.RATE_LIMITED, KeyOutcome.KEY_SCOPED, KeyOutcome.TRANSIENT],
        weights=[60, 30, 3, 7],
    )[0]
    if outcome is None:
        pool.record_success(key_id, latency_ms=1.0)
    else:
        retry_after = rng.uniform(0.001, 0.03)
        pool.record_failure(key_id, outcome, retry_after=retry_after, reason="sim")


def toggle_keys(url: str, seed: int, start: Any, stop: Any) -> int:
    """An operator disabling and enabling keys at random until `stop`; returns the count."""
    rng = random.Random(seed)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = TeamRepository(session).ensure("alpha")
        ids = [key.id for key in KeyPool(session, team).list("openai")]
    start.wait()
    toggles = 0
    while not stop.is_set() or toggles < 20:
        with sessions.begin() as session:
            pool = KeyPool(session, team)
            key_id = rng.choice(ids)
            if rng.random() < 0.5:
                pool.disable(key_id, "controller")
            else:
                pool.enable(key_id)
        toggles += 1
    engine.dispose()
    return toggles
