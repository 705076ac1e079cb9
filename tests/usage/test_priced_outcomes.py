"""The gateway prices what it serves and what consumers report, with the same prices:
integer micro-USD and the id of the price used."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import openai

from registry.orm import utcnow
from registry.usage.price_spec import PriceSpec
from tests.gateway.conftest import Served
from tests.gateway.support import (
    Recorded,
    World,
    running_gateway,
    settings_for,
    stored_outcomes,
    wait_for,
)
from tests.usage.conftest import CHAT_PRICE, add_prices


def _micro(input_tokens: int, cached: int, output: int) -> int:
    """$2 / $0.50 / $8 per 1M tokens: in pico-USD per token 2e6, 5e5, 8e6; half up."""
    pico = (input_tokens - cached) * 2_000_000 + cached * 500_000 + output * 8_000_000
    return (pico + 500_000) // 1_000_000


def test_a_served_chat_is_priced_by_its_tokens_with_the_key_that_answered(priced: Served) -> None:
    client = openai.OpenAI(base_url=priced.v1, api_key=priced.world.token)
    answer = client.chat.completions.create(
        model="assistant", messages=[{"role": "user", "content": "price this request please"}]
    )
    assert answer.usage is not None
    wait_for(lambda: len(stored_outcomes(priced.world.url)) == 1, 10, "the outcome is stored")
    [row] = stored_outcomes(priced.world.url).values()
    assert (row.input_tokens, row.output_tokens) == (
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens,
    )
    assert row.cost_micro_usd == _micro(row.input_tokens, 0, row.output_tokens) > 0
    assert row.price_id is not None and row.provider_key_id is not None


def _report(request_id: str, at: datetime, **extra: object) -> dict[str, object]:
    return {
        "request_id": request_id,
        "endpoint": "assistant",
        "version": 1,
        "latency_ms": 10,
        "success": True,
        "at": at.isoformat(),
        **extra,
    }


def test_reported_outcomes_are_priced_as_served_ones_and_a_new_price_only_after_it_starts(
    world: World,
) -> None:
    now = utcnow()
    change = now - timedelta(hours=1)  # a second price, in force for the last hour
    add_prices(world, "chatbot", CHAT_PRICE)
    add_prices(
        world,
        "chatbot",
        PriceSpec(effective_from=change, input_per_1m=4, cached_input_per_1m=1, output_per_1m=16),
    )
    auth = {"authorization": f"Bearer {world.token}"}
    tokens = {"input_tokens": 1_000_001, "cached_input_tokens": 400_000, "output_tokens": 333}
    with running_gateway(settings_for(world), Recorded()) as url:
        batch = [
            _report("before-change", change - timedelta(seconds=1), **tokens),
            _report("at-change", change, **tokens),
        ]
        response = httpx.post(f"{url}/v1/outcomes", json={"outcomes": batch}, headers=auth)
        assert response.status_code == 200, response.text
        refused = httpx.post(
            f"{url}/v1/outcomes",
            json={"outcomes": [_report("mine", now, cost_micro_usd=1)]},
            headers=auth,
        )
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "outcomes[0].cost_micro_usd"
        too_cached = _report("x", now, input_tokens=1, cached_input_tokens=2)
        refused = httpx.post(f"{url}/v1/outcomes", json={"outcomes": [too_cached]}, headers=auth)
        assert refused.json()["error"]["param"] == "outcomes[0].cached_input_tokens"
        wait_for(lambda: len(stored_outcomes(world.url)) == 2, 10, "both outcomes are stored")
    rows = stored_outcomes(world.url)
    before, after = rows["before-change"], rows["at-change"]
    # 600,001 x $2 + 400,000 x $0.50 + 333 x $8 per 1M = $1.200002 + $0.2 + $0.002664
    assert before.cost_micro_usd == _micro(1_000_001, 400_000, 333) == 1_402_666
    # twice the prices: $2.805332 exactly
    assert after.cost_micro_usd == 2_805_332
    assert before.price_id is not None and after.price_id is not None
    assert before.price_id < after.price_id
    assert before.cached_input_tokens == 400_000
