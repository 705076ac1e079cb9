"""The catalog's `prices:` entries of a model: what its versions cost from a moment on.

Amounts are US dollars written as decimals and kept exactly: per 1M input, cached input
and output tokens, and per request, per second or per image for the async categories.
They are stored as integer pico-USD per token (or per unit), so pricing is integer math.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

PICO_PER_USD = 10**12
TOKENS_PER_PRICE = 10**6  # token prices are per 1M tokens
MAX_USD = Decimal(1_000_000)  # per 1M tokens or per unit; anything above is a typo
TOKEN_FIELDS = ("input_per_1m", "cached_input_per_1m", "output_per_1m")
UNIT_FIELDS = ("per_request", "per_second", "per_image")
MAX_VERSIONS = 64


def _exact(value: object) -> object:
    """YAML numbers arrive as floats: take the decimal their shortest repr spells."""
    if isinstance(value, bool):
        raise ValueError("a price is a number of US dollars, not true/false")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | str):
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number of US dollars") from None
    return value


Usd = Annotated[Decimal, BeforeValidator(_exact), Field(ge=0, le=MAX_USD, allow_inf_nan=False)]


def token_pico(usd_per_1m: Decimal, field: str) -> int:
    """Pico-USD per token of a price per 1M tokens: exact, or a ValueError naming `field`."""
    return _whole(usd_per_1m * PICO_PER_USD / TOKENS_PER_PRICE, field, "6 decimal places")


def unit_pico(usd: Decimal, field: str) -> int:
    return _whole(usd * PICO_PER_USD, field, "12 decimal places")


def _whole(pico: Decimal, field: str, precision: str) -> int:
    if pico != pico.to_integral_value():
        raise ValueError(f"{field} has more precision than is kept: at most {precision}")
    return int(pico)


class PriceSpec(BaseModel):
    """One price of a model from `effective_from` on, for `versions` (all when absent).

    `cached_input_per_1m` prices the cached part of the input (which `input_tokens`
    includes); absent, cached tokens cost what other input tokens cost, never nothing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    effective_from: datetime
    versions: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = Field(
        default=None, min_length=1, max_length=MAX_VERSIONS
    )
    input_per_1m: Usd = Decimal(0)
    cached_input_per_1m: Usd | None = None
    output_per_1m: Usd = Decimal(0)
    per_request: Usd = Decimal(0)
    per_second: Usd = Decimal(0)
    per_image: Usd = Decimal(0)

    @field_validator("effective_from")
    @classmethod
    def _aware(cls, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError("effective_from needs a UTC offset, such as 2026-01-01T00:00:00Z")
        return at.astimezone(UTC)

    @field_validator("versions")
    @classmethod
    def _distinct(cls, versions: list[int] | None) -> list[int] | None:
        if versions is not None and len(set(versions)) != len(versions):
            raise ValueError(f"versions are listed twice: {versions}")
        return None if versions is None else sorted(versions)

    @field_validator(*TOKEN_FIELDS)
    @classmethod
    def _token_precision(cls, usd: Decimal | None, info: object) -> Decimal | None:
        if usd is not None:
            token_pico(usd, getattr(info, "field_name", "price"))
        return usd

    @field_validator(*UNIT_FIELDS)
    @classmethod
    def _unit_precision(cls, usd: Decimal, info: object) -> Decimal:
        unit_pico(usd, getattr(info, "field_name", "price"))
        return usd

    @property
    def versions_key(self) -> str:
        """`*` for every version, else the version numbers joined by commas (sorted)."""
        return "*" if self.versions is None else ",".join(str(v) for v in self.versions)
