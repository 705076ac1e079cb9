"""PostgreSQL only: key caches LISTENing on `modelops_keys` hear of every change they must
honour, once it commits and never after a rollback, and a notice never carries a secret."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from registry import notifications
from registry.keys import KeyOutcome, rotate_master
from registry.keys.pool_reads import PoolReader
from registry.notifications import Channel, KeyNotice
from registry.teams import TeamRepository
from tests.registry.test_keys_secrets import USED, _exercise, _forms
from tests.registry.test_keys_support import RING_2, PoolFactory, ring

Listener = psycopg.Connection[tuple[object, ...]]
LISTEN_TIMEOUT = 30  # an upper bound: the marker arrives as soon as it commits
END = "end-of-test-marker"


@pytest.fixture
def factory(pg_url: str) -> Iterator[PoolFactory]:
    made = PoolFactory(pg_url)
    yield made
    made.close()


@pytest.fixture
def listener(pg_url: str) -> Iterator[Listener]:
    conninfo = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"LISTEN {Channel.KEYS.value}")
        yield conn


def _heard(conn: Listener, factory: PoolFactory) -> list[tuple[str, str]]:
    """Every notice sent so far, in commit order: read up to a marker sent after them all."""
    with factory.engine.begin() as sender:
        sender.execute(select(func.pg_notify(Channel.KEYS.value, END)))
    heard = []
    for notice in conn.notifies(timeout=LISTEN_TIMEOUT):
        if notice.payload == END:
            return heard
        heard.append((notice.channel, notice.payload))
    raise AssertionError(f"the end marker was not heard within {LISTEN_TIMEOUT}s")


def _notices(conn: Listener, factory: PoolFactory) -> list[KeyNotice]:
    heard = _heard(conn, factory)
    parsed = [notifications.parse(channel, payload) for channel, payload in heard]
    assert all(isinstance(notice, KeyNotice) for notice in parsed)
    return [notice for notice in parsed if isinstance(notice, KeyNotice)]


def _actions(notices: list[KeyNotice]) -> list[tuple[int | None, str | None, str]]:
    return [(n.key_id, n.model, n.action) for n in notices]


def test_operator_actions_and_cooling_failures_are_heard_with_ids_only(
    factory: PoolFactory, listener: Listener
) -> None:
    a, b = factory.add_keys([("a", 1), ("b", 0)])
    with factory.pool() as pool:
        pool.disable(a)
        pool.enable(a)
        pool.record_failure(a, KeyOutcome.RATE_LIMITED, retry_after=5, reason="429")
        pool.record_failure(b, KeyOutcome.MODEL_SCOPED, reason="500", model="gpt-x")
        pool.record_failure(b, KeyOutcome.KEY_SCOPED, reason="401")
    with factory.sessions.begin() as session:
        team = TeamRepository(session).ensure("alpha")
        provider_id = PoolReader(session, team).provider_id("openai")
    notices = _notices(listener, factory)
    assert _actions(notices) == [
        (a, None, "add"),
        (b, None, "add"),
        (a, None, "disable"),
        (a, None, "enable"),
        (a, None, "cool"),
        (None, "gpt-x", "cool_model"),
        (b, None, "disable"),
    ]
    assert {(n.team_id, n.provider_id) for n in notices} == {(team.id, provider_id)}


def test_failures_that_cool_nothing_send_nothing_and_a_rollback_is_never_heard(
    factory: PoolFactory, listener: Listener
) -> None:
    [a] = factory.add_keys([("a", 0)])
    _heard(listener, factory)
    with factory.pool() as pool:
        pool.record_failure(a, KeyOutcome.TRANSIENT, reason="blip")
        pool.record_failure(a, KeyOutcome.REQUEST_SCOPED, reason="400")
        pool.record_failure(a, KeyOutcome.TIMED_OUT, reason="slow")  # one: below the threshold
    with pytest.raises(RuntimeError), factory.pool() as pool:
        pool.disable(a)
        raise RuntimeError("the caller's transaction fails after the change")
    assert _heard(listener, factory) == []


def test_rotation_tells_caches_to_reread_each_rewrapped_key(
    factory: PoolFactory, listener: Listener
) -> None:
    ids = factory.add_keys([("a", 0), ("b", 0)])
    _heard(listener, factory)
    rotate_master(factory.sessions, ring(RING_2))
    assert _actions(_notices(listener, factory)) == [(key_id, None, "rewrap") for key_id in ids]


def test_no_notice_carries_a_secret_a_label_or_a_reason(
    factory: PoolFactory, listener: Listener
) -> None:
    errors: list[str] = []
    _exercise(factory, errors)  # add, use, fail with the key echoed, disable, rotate
    payloads = [payload for _, payload in _heard(listener, factory)]
    assert len(payloads) >= 8
    for payload in payloads:
        assert set(json.loads(payload)) <= {
            "kind", "team_id", "provider_id", "key_id", "model", "action",
        }  # fmt: skip
        for secret in USED:
            for form in [*_forms(secret), secret[-4:]]:
                assert form not in payload
        assert "key-0" not in payload and "Incorrect API key" not in payload


def test_key_notices_parse_back_and_other_kinds_do_not_pass_for_them() -> None:
    notice = KeyNotice(team_id=1, provider_id=2, key_id=3, action="cool")
    assert notifications.parse(Channel.KEYS, notice.model_dump_json()) == notice
    model = KeyNotice(team_id=1, provider_id=2, model="gpt-x", action="cool_model")
    assert notifications.parse(Channel.KEYS, model.model_dump_json()) == model
    assert notifications.parse(Channel.KEYS, '{"kind": "key", "action": "explode"}') is None
    assert notifications.parse(Channel.TOKENS, notice.model_dump_json()) is None
