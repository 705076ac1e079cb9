"""Prices: which one is in force, what an outcome costs (exactly, in micro-USD), and the
catalog's prices kept append-only in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from registry.database import Database
from registry.errors import InvalidInputError
from registry.tables import ModelRow, ProviderRow
from registry.teams import TeamRepository
from registry.usage.price_spec import PriceSpec
from registry.usage.prices import NewPrice, load_prices, plan_prices, write_prices
from registry.usage.pricing import Metered, Price, cost_of, price_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 3, 1, tzinfo=UTC)


def _price(pid: int, at: datetime, versions: set[int] | None = None, **pico: int) -> Price:
    frozen = None if versions is None else frozenset(versions)
    return Price(id=pid, model_id=1, versions=frozen, effective_from=at, **pico)


def _expected_micro(usd: Fraction) -> int:
    """Independent: exact USD as a fraction, to micro-USD rounded half up."""
    micro = usd * 1_000_000
    return int(micro + Fraction(1, 2)) if micro >= 0 else int(micro)


@pytest.mark.parametrize(
    ("tokens", "cached", "output"),
    [(1000, 0, 250), (1_234_567, 1_000_000, 3), (7, 7, 0), (999_999, 1, 1), (1, 0, 1)],
)
def test_a_cost_is_the_price_table_times_the_tokens_exactly(
    tokens: int, cached: int, output: int
) -> None:
    # $0.15 / $0.075 / $0.60 per 1M tokens (gpt-4o-mini's list prices).
    spec = PriceSpec(
        effective_from=T0, input_per_1m=0.15, cached_input_per_1m=0.075, output_per_1m=0.60
    )
    price = _price(1, T0, input_pico=150_000, cached_input_pico=75_000, output_pico=600_000)
    usd = (
        Fraction(tokens - cached) * Fraction(str(spec.input_per_1m)) / 10**6
        + Fraction(cached) * Fraction(str(spec.cached_input_per_1m)) / 10**6
        + Fraction(output) * Fraction(str(spec.output_per_1m)) / 10**6
    )
    cost = cost_of(price, Metered(tokens, output, cached))
    assert cost.micro_usd == _expected_micro(usd)
    assert cost.price_id == 1


def test_cached_tokens_cost_the_cached_price_and_without_one_the_input_price() -> None:
    discounted = _price(1, T0, input_pico=2_000_000, cached_input_pico=500_000)
    undeclared = _price(2, T0, input_pico=2_000_000)
    used = Metered(input_tokens=1_000_000, cached_input_tokens=600_000)
    # 400k x $2/1M + 600k x $0.50/1M = $0.80 + $0.30
    assert cost_of(discounted, used).micro_usd == 1_100_000
    # Never free by omission: cached tokens at the input price.
    assert cost_of(undeclared, used).micro_usd == 2_000_000


def test_async_units_are_priced_per_request_image_and_second() -> None:
    price = _price(
        3, T0, per_request_pico=10_000_000_000, per_image_pico=40_000_000_000,
        per_second_pico=123_456_789,
    )  # fmt: skip
    cost = cost_of(price, Metered(images=3, seconds=2.5))
    usd = Fraction(1, 100) + 3 * Fraction(4, 100) + Fraction(5, 2) * Fraction(123_456_789, 10**12)
    assert cost.micro_usd == _expected_micro(usd) == 130_309


def test_a_price_applies_from_its_effective_time_on_and_never_before() -> None:
    old = _price(1, T0, input_pico=1_000_000)
    new = _price(2, T1, input_pico=3_000_000)
    second = timedelta(seconds=1)
    assert price_for([old, new], 1, T1 - second) is old
    assert price_for([old, new], 1, T1) is new
    assert price_for([old, new], 1, T0 - second) is None
    assert cost_of(price_for([old, new], 1, T0 - second), Metered(10**6)).micro_usd == 0


def test_a_price_naming_the_version_beats_one_for_every_version_at_the_same_moment() -> None:
    every = _price(1, T0, input_pico=1)
    v2 = _price(2, T0, {2}, input_pico=2)
    later = _price(3, T1, input_pico=3)
    assert price_for([v2, every], 2, T0) is v2
    assert price_for([every, v2], 1, T0) is every
    assert price_for([every, v2, later], 2, T1) is later  # the latest covering price wins


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"input_per_1m": 0.1234567}, "at most 6 decimal places"),
        ({"input_per_1m": -1}, "greater than or equal to 0"),
        ({"per_image": True}, "not true/false"),
        ({"effective_from": "2026-01-01T00:00:00"}, "UTC offset"),
        ({"versions": [1, 1]}, "listed twice"),
        ({"input_per_1k": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_price_entries_are_refused_naming_the_rule(entry: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        PriceSpec.model_validate({"effective_from": "2026-01-01T00:00:00Z", **entry})


def _seed_model(database: Database) -> None:
    with database.transaction() as session:
        team = TeamRepository(session).ensure("team-a")
        provider = ProviderRow(name="openai", kind="openai", options={}, source_file="p.yaml")
        session.add(provider)
        session.flush()
        session.add(
            ModelRow(
                team_id=team.id, name="chatbot", provider_id=provider.id, base_model="gpt",
                category="chat", description="", cost={}, policy={}, rollout={},
                source_file="models/chatbot.yaml",
            )
        )  # fmt: skip


def _spec(at: datetime, usd: str) -> PriceSpec:
    return PriceSpec(effective_from=at, input_per_1m=Decimal(usd))


def test_synced_prices_are_append_only(db_url: str) -> None:
    database = Database.open(db_url)
    _seed_model(database)
    now = datetime(2026, 2, 1, tzinfo=UTC)
    first = [_spec(T0, "0.15")]  # a model's first price may be backdated
    with database.transaction() as session:
        write_prices(session, plan_prices(session, [("team-a", "chatbot", first)], now))
    refusals = [
        ([_spec(T0, "0.20")], "changed after it was synced"),
        ([_spec(T0, "0.15"), _spec(now - timedelta(days=1), "0.3")], "takes effect before now"),
    ]
    for specs, says in refusals:
        with database.transaction() as session, pytest.raises(InvalidInputError, match=says):
            plan_prices(session, [("team-a", "chatbot", specs)], now)
    later = [_spec(T0, "0.15"), _spec(T1, "0.30")]
    with database.transaction() as session:
        new = plan_prices(session, [("team-a", "chatbot", later)], now)
        assert [p.spec.effective_from for p in new] == [T1]
        write_prices(session, new)
        assert plan_prices(session, [("team-a", "chatbot", later)], now) == []
    with database.transaction() as session:
        [prices] = load_prices(session).values()
    assert [(p.effective_from, p.input_pico) for p in prices] == [(T0, 150_000), (T1, 300_000)]
    database.close()


def test_postgresql_refuses_to_rewrite_a_price(pg_url: str) -> None:
    database = Database.open(pg_url)
    _seed_model(database)
    with database.transaction() as session:
        write_prices(session, [NewPrice("team-a", "chatbot", _spec(T0, "1"))])
    for statement in ("UPDATE prices SET input_pico = 0", "DELETE FROM prices"):
        with pytest.raises(Exception, match="append-only"), database.transaction() as session:
            session.execute(text(statement))
    database.close()
