"""Pricing one outcome: the price in force for a version at a moment, and its cost.

Pure and cheap (the gateway prices every request with it, from prices it holds in memory).
Cost is integer arithmetic in pico-USD, rounded once, half up, to integer micro-USD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

PICO_PER_MICRO = 10**6
ALL_VERSIONS = "*"


@dataclass(frozen=True, slots=True)
class Price:
    """One price row: pico-USD per token or per unit, from `effective_from` on."""

    id: int
    model_id: int
    versions: frozenset[int] | None  # None: every version of the model
    effective_from: datetime
    input_pico: int = 0
    cached_input_pico: int | None = None  # None: cached input costs what input costs
    output_pico: int = 0
    per_request_pico: int = 0
    per_second_pico: int = 0
    per_image_pico: int = 0

    def covers(self, version: int) -> bool:
        return self.versions is None or version in self.versions


@dataclass(frozen=True, slots=True)
class Metered:
    """What one request consumed. `input_tokens` includes `cached_input_tokens`."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    seconds: float = 0.0
    images: int = 0


@dataclass(frozen=True, slots=True)
class Cost:
    micro_usd: int
    price_id: int | None  # None: no price covered the version at that moment


FREE = Cost(0, None)


def price_for(prices: Sequence[Price], version: int, at: datetime) -> Price | None:
    """The latest price covering `version` that took effect at or before `at`; of two that
    took effect at the same moment, the one naming the version beats the one for all."""
    best: Price | None = None
    for price in prices:
        if price.effective_from > at or not price.covers(version):
            continue
        if (
            best is None
            or price.effective_from > best.effective_from
            or (price.effective_from == best.effective_from and price.versions is not None)
        ):
            best = price
    return best


def cost_of(price: Price | None, used: Metered) -> Cost:
    """Exactly: sum of units times pico prices, then one rounding (half up) to micro-USD."""
    if price is None:
        return FREE
    cached = min(used.cached_input_tokens, used.input_tokens)
    cached_rate = price.input_pico if price.cached_input_pico is None else price.cached_input_pico
    pico = (
        (used.input_tokens - cached) * price.input_pico
        + cached * cached_rate
        + used.output_tokens * price.output_pico
        + price.per_request_pico
        + used.images * price.per_image_pico
    )
    # Seconds are kept to the millisecond, so the sum is in thousandths of a pico-USD.
    milli_pico = pico * 1000 + round(used.seconds * 1000) * price.per_second_pico
    unit = PICO_PER_MICRO * 1000
    return Cost((milli_pico + unit // 2) // unit, price.id)


def price_outcome(prices: Sequence[Price], version: int, at: datetime, used: Metered) -> Cost:
    return cost_of(price_for(prices, version, at), used)


def parse_versions(text: str) -> frozenset[int] | None:
    return None if text == ALL_VERSIONS else frozenset(int(v) for v in text.split(","))
