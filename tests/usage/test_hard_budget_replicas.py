"""A hard budget stops traffic across two gateway replicas within the stated overshoot:
what they admit together is at least the limit and at most the limit plus one request's
cost per replica per request in flight (README, "Budgets"). Refusals are OpenAI-shaped
429s that name the budget."""

from __future__ import annotations

import threading
from decimal import Decimal

import httpx
import openai
import pytest

from registry.database import Database
from registry.usage.budgets import BudgetRepository
from registry.usage.price_spec import PriceSpec
from tests.gateway.support import (
    Recorded,
    World,
    running_gateway,
    settings_for,
    stored_outcomes,
    wait_for,
)
from tests.usage.conftest import CHAT_PRICE, add_prices

LIMIT = 4_000_000  # $4.00 a day
QUESTION = [{"role": "user", "content": "how much does this cost"}]


def _drive(url: str, token: str, admitted: list[int], refused: list[httpx.Response]) -> None:
    """One client at a time against one replica, until it is refused."""
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}) as client:
        for _ in range(1000):
            response = client.post(
                "/v1/chat/completions", json={"model": "assistant", "messages": QUESTION}
            )
            if response.status_code == 429:
                refused.append(response)
                return
            assert response.status_code == 200, response.text
            admitted.append(1)
    raise AssertionError("never refused")


def test_two_replicas_stop_within_the_stated_overshoot(world: World) -> None:
    replicas = 2
    # $10,000 per 1M input tokens, $20,000 output: a request costs about $0.1-0.2.
    pricey = PriceSpec(
        effective_from=CHAT_PRICE.effective_from,
        input_per_1m=Decimal(10_000),
        output_per_1m=Decimal(20_000),
    )
    add_prices(world, "chatbot", pricey)
    database = Database.open(world.url)
    with database.transaction() as session:
        BudgetRepository(session, world.team).set("team-day", LIMIT, "day", "hard", None, "ann")
    database.close()
    admitted: list[list[int]] = [[] for _ in range(replicas)]
    refused: list[list[httpx.Response]] = [[] for _ in range(replicas)]
    settings = settings_for(world)
    with running_gateway(settings, Recorded()) as a, running_gateway(settings, Recorded()) as b:
        threads = [
            threading.Thread(target=_drive, args=(url, world.token, admitted[i], refused[i]))
            for i, url in enumerate((a, b))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        client = openai.OpenAI(base_url=f"{a}/v1", api_key=world.token, max_retries=0)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="assistant", messages=QUESTION)  # type: ignore[arg-type]
        other_team = httpx.post(  # team B has no budget: still served
            f"{b}/v1/chat/completions",
            json={"model": "b-chat", "messages": QUESTION},
            headers={"authorization": f"Bearer {world.b_token}"},
        )
        assert other_team.status_code == 200
    served = sum(len(x) for x in admitted) + 1  # and team B's
    wait_for(lambda: len(stored_outcomes(world.url)) == served, 20, "every outcome is stored")
    rows = stored_outcomes(world.url).values()
    costs = [row.cost_micro_usd for row in rows if row.team_id == world.team.id]
    spent, most = sum(costs), max(costs)
    # Each replica served someone before the limit was reached, and both were refused.
    assert all(admitted) and all(len(r) == 1 for r in refused)
    in_flight = 1  # each replica had one client, so one request in flight at a time
    assert LIMIT <= spent <= LIMIT + replicas * in_flight * most, (spent, most, served)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "budget_exceeded" and error["type"] == "insufficient_quota"
    assert "budget 'team-day' is spent" in error["message"]
    assert int(caught.value.response.headers["retry-after"]) > 0
