"""Approver identity: RFC 6238 codes, the acceptance window, one use per code, enrolment."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from registry.approvers.repository import ApproverRepository
from registry.approvers.tables import ApproverEnrolmentRow
from registry.approvers.totp import STEP_SECONDS, code_at, matching_step
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.errors import InvalidInputError
from registry.keys.errors import KeyDecryptionError, MasterKeyMissingError
from tests.registry.seed import seed_model
from tests.support.approvers import ring

# RFC 6238 Appendix B, SHA-1 rows: the 20-byte ASCII seed "12345678901234567890" and the
# published 8-digit codes; a 6-digit code is the same HOTP value mod 10^6 (RFC 4226 §5.3),
# i.e. the last six digits.
RFC_6238_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_6238_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)  # on a step boundary (1796126400 / 30)


@pytest.mark.parametrize(("unix_time", "published"), RFC_6238_SHA1)
def test_codes_match_the_rfc_6238_test_vectors(unix_time: int, published: str) -> None:
    assert code_at(RFC_6238_SECRET, unix_time) == published[-6:]


def test_a_code_counts_in_its_step_and_one_step_either_side_only() -> None:
    step_59 = 59 // STEP_SECONDS  # step 1
    code = "287082"
    for offset in (-1, 0, 1):
        at = 59 + offset * STEP_SECONDS
        assert matching_step(RFC_6238_SECRET, code, at) == step_59
    for offset in (-2, 2):
        assert matching_step(RFC_6238_SECRET, code, 59 + offset * STEP_SECONDS) is None
    assert matching_step(RFC_6238_SECRET, "28708", 59) is None
    full_width = "".join(chr(ord(d) - ord("0") + 0xFF10) for d in code)
    assert matching_step(RFC_6238_SECRET, full_width, 59) is None


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def team_sessions(db_url: str) -> Iterator[tuple[sessionmaker[Session], Team]]:
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_model(session, "alpha")
    yield sessions, team
    engine.dispose()


def _enrol(sessions: sessionmaker[Session], team: Team, name: str, **kwargs: bool) -> str:
    with sessions.begin() as session:
        new = ApproverRepository(session, team, ring(), clock=Clock(T0)).enroll(name, **kwargs)
    return new.secret.get_secret_value()


def _prove(
    sessions: sessionmaker[Session], team: Team, name: str, code: str, at: datetime
) -> str | None:
    with sessions.begin() as session:
        return ApproverRepository(session, team, ring(), clock=Clock(at)).prove(name, code).refusal


def test_a_code_is_accepted_once_and_only_for_its_reviewer(team_sessions) -> None:  # type: ignore[no-untyped-def]
    sessions, team = team_sessions
    alice, bob = _enrol(sessions, team, "alice"), _enrol(sessions, team, "bob")
    now = T0 + timedelta(seconds=5)
    assert _prove(sessions, team, "bob", code_at(alice, now.timestamp()), now) == (
        "wrong or out-of-date code for 'bob'"
    )
    assert _prove(sessions, team, "bob", code_at(bob, now.timestamp()), now) is None
    replay = _prove(
        sessions, team, "bob", code_at(bob, now.timestamp()), now + timedelta(seconds=20)
    )
    assert replay == "that code of 'bob' was already used; wait for the next one"
    # The previous step's code is inside the window, but older than one already used.
    earlier = code_at(bob, (now - timedelta(seconds=STEP_SECONDS)).timestamp())
    assert "already used" in (_prove(sessions, team, "bob", earlier, now) or "")
    later = now + timedelta(seconds=STEP_SECONDS)
    assert _prove(sessions, team, "bob", code_at(bob, later.timestamp()), later) is None
    assert (
        _prove(sessions, team, "mallory", "123456", now)
        == "'mallory' is not enrolled as an approver"
    )


def test_the_window_is_one_step_either_side_with_an_injected_clock(team_sessions) -> None:  # type: ignore[no-untyped-def]
    sessions, team = team_sessions
    secret = _enrol(sessions, team, "carol")
    issued = T0 + timedelta(seconds=STEP_SECONDS * 10 + 1)
    code = code_at(secret, issued.timestamp())
    too_late = issued + timedelta(seconds=2 * STEP_SECONDS)
    assert (
        _prove(sessions, team, "carol", code, too_late) == "wrong or out-of-date code for 'carol'"
    )
    assert _prove(sessions, team, "carol", code, issued - timedelta(seconds=2 * STEP_SECONDS)) == (
        "wrong or out-of-date code for 'carol'"
    )
    assert _prove(sessions, team, "carol", code, issued + timedelta(seconds=STEP_SECONDS)) is None


def test_re_enrolling_needs_replace_and_kills_the_old_secret(team_sessions) -> None:  # type: ignore[no-untyped-def]
    sessions, team = team_sessions
    old = _enrol(sessions, team, "bob")
    with pytest.raises(InvalidInputError, match="pass --replace"):
        _enrol(sessions, team, "bob")
    new = _enrol(sessions, team, "bob", replace=True)
    assert new != old
    now = T0 + timedelta(seconds=3)
    assert _prove(sessions, team, "bob", code_at(old, now.timestamp()), now) is not None
    assert _prove(sessions, team, "bob", code_at(new, now.timestamp()), now) is None
    with sessions.begin() as session:
        listed = ApproverRepository(session, team).list(include_replaced=True)
    assert [(e.name, e.replaced_at is not None) for e in listed] == [("bob", True), ("bob", False)]


def test_the_secret_is_stored_only_sealed_and_bound_to_its_row(team_sessions) -> None:  # type: ignore[no-untyped-def]
    sessions, team = team_sessions
    alice, bob = _enrol(sessions, team, "alice"), _enrol(sessions, team, "bob")
    with sessions.begin() as session:
        rows = {row.name: row for row in session.scalars(select(ApproverEnrolmentRow))}
        raw = base64.b32decode(alice + "=" * (-len(alice) % 8))
        for column in ("ciphertext", "nonce", "wrapped_dek", "dek_nonce"):
            value = getattr(rows["alice"], column)
            assert alice.encode() not in value and raw not in value
        # Copy bob's sealed secret onto alice's row: it must not open as alice's.
        for column in ("ciphertext", "nonce", "wrapped_dek", "dek_nonce"):
            setattr(rows["alice"], column, getattr(rows["bob"], column))
    now = T0 + timedelta(seconds=1)
    with pytest.raises(KeyDecryptionError, match="approver 'alice'"):
        _prove(sessions, team, "alice", code_at(bob, now.timestamp()), now)


def test_enrolling_without_a_master_key_names_the_variable(team_sessions) -> None:  # type: ignore[no-untyped-def]
    sessions, team = team_sessions
    with pytest.raises(MasterKeyMissingError, match="MODELOPS_MASTER_KEY"), sessions.begin() as s:
        ApproverRepository(s, team).enroll("dave")


def test_two_answers_racing_with_one_code_pass_once(pg_url: str) -> None:
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_model(session, "alpha")
    secret = _enrol(sessions, team, "bob")
    now = T0 + timedelta(seconds=7)
    code = code_at(secret, now.timestamp())
    start = threading.Barrier(4)
    refusals: list[str | None] = []

    def answer() -> None:
        start.wait()
        refusals.append(_prove(sessions, team, "bob", code, now))

    threads = [threading.Thread(target=answer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert (
        sorted(refusals, key=str)
        == [None] + ["that code of 'bob' was already used; wait for the next one"] * 3
    )
