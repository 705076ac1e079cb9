"""Prices in the database: written from the catalog (append-only), read by whoever prices.

A synced price is never changed or removed: outcomes name the price they were costed
with, so an entry dropped from the catalog stays in force until a later one replaces it.
A new price may take effect only from the moment it is synced on (so it never reprices
the past), except a model's very first prices, which may be backdated.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import InvalidInputError
from registry.tables import ModelRow, TeamRow
from registry.usage.price_spec import PriceSpec, token_pico, unit_pico
from registry.usage.pricing import Price, parse_versions
from registry.usage.tables import PriceRow


@dataclass(frozen=True)
class NewPrice:
    team: str
    model: str
    spec: PriceSpec

    @property
    def label(self) -> str:
        key = self.spec.versions_key
        which = "all versions" if key == "*" else f"versions {key}"
        return f"{self.model} from {self.spec.effective_from.isoformat()}, {which}"


def load_prices(
    session: Session, model_ids: Collection[int] | None = None
) -> dict[int, tuple[Price, ...]]:
    """Every price of the models (all models when None), by model id, oldest first."""
    query = select(PriceRow).order_by(PriceRow.model_id, PriceRow.effective_from, PriceRow.id)
    if model_ids is not None:
        if not model_ids:
            return {}
        query = query.where(PriceRow.model_id.in_(model_ids))
    found: dict[int, list[Price]] = {}
    for row in session.scalars(query):
        found.setdefault(row.model_id, []).append(_price(row))
    return {model_id: tuple(prices) for model_id, prices in found.items()}


def plan_prices(
    session: Session, models: Iterable[tuple[str, str, list[PriceSpec]]], now: datetime
) -> list[NewPrice]:
    """The catalog prices (team, model, specs) not in the database yet; raises
    `InvalidInputError` naming the price when the catalog would rewrite history."""
    stored = _stored(session)
    problems: list[str] = []
    new: list[NewPrice] = []
    for team, model, specs in models:
        have = stored.get((team, model), {})
        for spec in specs:
            key = (spec.effective_from, spec.versions_key)
            entry = NewPrice(team, model, spec)
            if key in have:
                if have[key] != _amounts(spec):
                    problems.append(f"{team}/{entry.label}: changed after it was synced")
                continue
            if have and spec.effective_from < now:
                problems.append(
                    f"{team}/{entry.label}: takes effect before now ({now.isoformat()}), "
                    "which would reprice outcomes already costed"
                )
            new.append(entry)
    if problems:
        raise InvalidInputError(
            "prices are append-only (outcomes name the price they used); nothing was written:\n  "
            + "\n  ".join(problems)
            + "\nput changed prices back as they were, and add a new entry with a later "
            "effective_from instead",
            field="prices",
        )
    return new


def write_prices(session: Session, new: Iterable[NewPrice]) -> None:
    ids = {
        (team, name): (team_id, model_id)
        for model_id, name, team_id, team in session.execute(
            select(ModelRow.id, ModelRow.name, ModelRow.team_id, TeamRow.name).join(
                TeamRow, TeamRow.id == ModelRow.team_id
            )
        )
    }
    for entry in new:
        team_id, model_id = ids[(entry.team, entry.model)]
        spec = entry.spec
        session.add(
            PriceRow(
                team_id=team_id,
                model_id=model_id,
                versions=spec.versions_key,
                effective_from=spec.effective_from,
                **_amounts_of(spec),
            )
        )
    session.flush()


Amounts = tuple[int, int | None, int, int, int, int]


def _amounts_of(spec: PriceSpec) -> dict[str, int | None]:
    cached = spec.cached_input_per_1m
    return {
        "input_pico": token_pico(spec.input_per_1m, "input_per_1m"),
        "cached_input_pico": None if cached is None else token_pico(cached, "cached_input_per_1m"),
        "output_pico": token_pico(spec.output_per_1m, "output_per_1m"),
        "per_request_pico": unit_pico(spec.per_request, "per_request"),
        "per_second_pico": unit_pico(spec.per_second, "per_second"),
        "per_image_pico": unit_pico(spec.per_image, "per_image"),
    }


def _amounts(spec: PriceSpec) -> Amounts:
    a = _amounts_of(spec)
    return (
        int(a["input_pico"] or 0),
        a["cached_input_pico"],
        int(a["output_pico"] or 0),
        int(a["per_request_pico"] or 0),
        int(a["per_second_pico"] or 0),
        int(a["per_image_pico"] or 0),
    )


def _stored(session: Session) -> dict[tuple[str, str], dict[tuple[datetime, str], Amounts]]:
    query = (
        select(PriceRow, ModelRow.name, TeamRow.name)
        .join(ModelRow, ModelRow.id == PriceRow.model_id)
        .join(TeamRow, TeamRow.id == PriceRow.team_id)
    )
    stored: dict[tuple[str, str], dict[tuple[datetime, str], Amounts]] = {}
    for row, model, team in session.execute(query):
        stored.setdefault((team, model), {})[(row.effective_from, row.versions)] = (
            row.input_pico,
            row.cached_input_pico,
            row.output_pico,
            row.per_request_pico,
            row.per_second_pico,
            row.per_image_pico,
        )
    return stored


def _price(row: PriceRow) -> Price:
    return Price(
        id=row.id,
        model_id=row.model_id,
        versions=parse_versions(row.versions),
        effective_from=row.effective_from,
        input_pico=row.input_pico,
        cached_input_pico=row.cached_input_pico,
        output_pico=row.output_pico,
        per_request_pico=row.per_request_pico,
        per_second_pico=row.per_second_pico,
        per_image_pico=row.per_image_pico,
    )
