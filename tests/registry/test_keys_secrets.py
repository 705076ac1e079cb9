"""A key's plaintext never lands in a database row, a log line or an exception message."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, inspect, text

from registry.errors import RegistryError
from registry.keys import KeyOutcome, rotate_master, verify_keys
from tests.registry.test_keys_support import MASTER_3, RING_2, SECRETS, PoolFactory, ring

USED = SECRETS[:3]


def _forms(secret: str) -> list[str]:
    """The plaintext as text, hex and base64: any of them in a column would be a leak."""
    raw = secret.encode()
    return [
        secret,
        raw.hex(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    ]


def _every_cell_as_text(engine: Engine) -> list[str]:
    """Every column of every table, cast to text by the database itself."""
    as_text = "quote({})" if engine.dialect.name == "sqlite" else "CAST({} AS TEXT)"
    inspector = inspect(engine)
    columns = [
        (table, column["name"])
        for table in inspector.get_table_names()
        for column in inspector.get_columns(table)
    ]
    cells: list[str] = []
    with engine.connect() as conn:
        for table, column in columns:
            expression = as_text.format(f'"{column}"')
            query = text(f'SELECT {expression} FROM "{table}"')
            cells.extend(str(value) for value in conn.scalars(query) if value is not None)
    assert ("provider_keys", "ciphertext") in columns and ("key_events", "detail") in columns
    return cells


def _exercise(factory: PoolFactory, errors: list[str]) -> None:
    """Add, use, fail, disable, rotate: every path that touches a key."""
    ids = factory.add_keys([(f"key-{i}", i) for i in range(len(USED))])
    echoed = f"401 Incorrect API key provided: {USED[0]}"

    def expect_error(action: Callable[[], object]) -> None:
        with pytest.raises(RegistryError) as caught:
            action()
        errors.extend([str(caught.value), repr(caught.value)])

    with factory.pool() as pool:
        lease = pool.acquire("openai", model="gpt")
        errors.append(repr(lease) + str(lease) + lease.model_dump_json())
        pool.record_success(lease.key_id, latency_ms=12.0, model="gpt")
        pool.record_failure(ids[0], KeyOutcome.RATE_LIMITED, retry_after=5, reason=echoed)
        pool.record_failure(ids[1], KeyOutcome.MODEL_SCOPED, reason=echoed + USED[1], model="m")
        pool.record_failure(ids[2], KeyOutcome.TRANSIENT, reason=USED[2])
        pool.record_failure(ids[0], KeyOutcome.KEY_SCOPED, reason=echoed)
        expect_error(lambda: pool.get_key_by_id(ids[0]))
        expect_error(lambda: pool.add("openai", "key-1", USED[1], 0))
        expect_error(lambda: pool.add("openai", f"x{USED[1]}", USED[1], 0))
        expect_error(lambda: pool.add("openai", "spaced", f"Bearer {USED[1]}", 0))
        pool.disable(ids[1], "rotating")
        pool.disable(ids[2], "rotating")
        expect_error(lambda: pool.acquire("openai"))
        errors.extend(str(key) for key in pool.list())
    factory.keyring = ring(f"v3:{MASTER_3}")
    with factory.pool() as pool:
        expect_error(lambda: pool.get_key_by_id(ids[1], allow_disabled=True))
    report = rotate_master(factory.sessions, ring(RING_2))
    errors.append(report.model_dump_json())
    with factory.sessions() as session:
        errors.append(repr(verify_keys(session, ring(f"v3:{MASTER_3}"))))


def test_plaintext_never_reaches_rows_logs_or_errors(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # statements and parameters
    factory = PoolFactory(db_url)
    errors: list[str] = []
    try:
        _exercise(factory, errors)
        cells = _every_cell_as_text(factory.engine)
    finally:
        factory.close()
    assert any("provider_keys" in record.getMessage() for record in caplog.records)
    assert any("disabled" in record.getMessage() for record in caplog.records)
    haystacks = {"database": "\n".join(cells), "logs": caplog.text, "errors": "\n".join(errors)}
    assert len(errors) > 8
    for secret in USED:
        for form in _forms(secret):
            for where, haystack in haystacks.items():
                assert form not in haystack, f"key {secret[-4:]} found in {where}"
    # The scan did see the rows: labels and last fours are there, by design.
    assert "key-0" in haystacks["database"] and USED[0][-4:] in haystacks["database"]
