"""The gateway tests' world (two teams, a fake OpenAI upstream), with prices for `chatbot`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from registry.database import Database
from registry.usage.price_spec import PriceSpec
from registry.usage.prices import NewPrice, write_prices
from tests.gateway.conftest import Served, trained_local, world  # noqa: F401  (fixtures)
from tests.gateway.support import Recorded, World, running_gateway, settings_for

# $2 per 1M input tokens, $0.50 cached, $8 output: from 2026-01-01 on.
CHAT_PRICE = PriceSpec(
    effective_from=datetime(2026, 1, 1, tzinfo=UTC),
    input_per_1m=Decimal(2),
    cached_input_per_1m=Decimal("0.5"),
    output_per_1m=Decimal(8),
)


def add_prices(world: World, model: str, *specs: PriceSpec) -> None:  # noqa: F811
    database = Database.open(world.url)
    with database.transaction() as session:
        write_prices(session, [NewPrice("team-a", model, spec) for spec in specs])
    database.close()


@pytest.fixture
def priced(world: World) -> Iterator[Served]:  # noqa: F811
    add_prices(world, "chatbot", CHAT_PRICE)
    sink = Recorded()
    with running_gateway(settings_for(world), sink) as url:
        yield Served(url, sink, world)
