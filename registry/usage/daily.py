"""Daily usage: folded from the same outcome lines, in the same transaction, as the minute
rollups (`registry.outcomes.store`), so it is exactly as complete as they are and never
needs a scan of `outcomes`; read by team, grouped by model, endpoint, version or key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from registry.domain import Team
from registry.endpoints.tables import EndpointRow
from registry.errors import InvalidInputError
from registry.keys.tables import ProviderKeyRow
from registry.sums import add_sums
from registry.tables import ModelRow, ModelVersionRow
from registry.usage.tables import DailyUsageRow

DailyKey = tuple[int, date, int, int, int]  # team, day, endpoint, version, key (0: none)
KEY_COLUMNS = ("team_id", "day", "endpoint_id", "model_version_id", "provider_key_id")
SUM_COLUMNS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cost_micro_usd",
)
NO_KEY = 0
_NULL = b"\\N"
_FIELDS = 18


class UsageBy(StrEnum):
    MODEL = "model"
    ENDPOINT = "endpoint"
    VERSION = "version"
    KEY = "key"


class DailyDelta:
    """What a set of outcome lines adds to `daily_usage`."""

    def __init__(self) -> None:
        self.sums: dict[DailyKey, list[int]] = {}

    def add_lines(self, lines: Iterable[bytes]) -> None:
        raw: dict[tuple[bytes, ...], list[int]] = {}
        try:
            for line in lines:
                f = line.split(b"\t")
                if len(f) != _FIELDS:
                    raise ValueError("not an outcome line")
                group = (f[1], f[4][:10], f[2], f[3], f[17])
                sums = raw.get(group)
                if sums is None:
                    sums = raw[group] = [0] * len(SUM_COLUMNS)
                sums[0] += 1
                if f[7] != b"t":
                    sums[1] += 1
                sums[2] += int(f[9])
                sums[3] += int(f[10])
                sums[4] += int(f[11])
                sums[5] += int(f[12])
            for (team, day, endpoint, version, key), sums in raw.items():
                key_id = key.rstrip(b"\n")
                folded = (
                    int(team),
                    date.fromisoformat(day.decode()),
                    int(endpoint),
                    int(version),
                    NO_KEY if key_id == _NULL else int(key_id),
                )
                into = self.sums.setdefault(folded, [0] * len(SUM_COLUMNS))
                for i, value in enumerate(sums):
                    into[i] += value
        except ValueError as exc:
            raise InvalidInputError(f"an outcome line is damaged ({exc})", field="line") from None

    def apply(self, session: Session) -> None:
        """Upsert the sums in the caller's transaction (added, in key order)."""
        add_sums(
            session,
            cast(Table, DailyUsageRow.__table__),
            KEY_COLUMNS,
            SUM_COLUMNS,
            ((*key, *sums) for key, sums in self.sums.items()),
        )


@dataclass(frozen=True)
class UsageRecord:
    """One row of a usage report: a day and a group (`by`), and what it added up to."""

    day: date
    group: str  # model name, endpoint name, "model vN", or "provider/label" ("-": no key)
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_micro_usd: int


def daily_usage(
    session: Session, team: Team, since: date, until: date, by: UsageBy = UsageBy.MODEL
) -> list[UsageRecord]:
    """The team's usage per UTC day in [since, until] (both included), grouped `by`."""
    if until < since:
        raise InvalidInputError(f"until ({until}) is before since ({since})", field="until")
    u = DailyUsageRow
    group = _group_column(by)
    sums = [func.sum(getattr(u, name)) for name in SUM_COLUMNS]
    query = (
        select(u.day, *group, *sums)
        .join(ModelVersionRow, ModelVersionRow.id == u.model_version_id)
        .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
        .join(EndpointRow, EndpointRow.id == u.endpoint_id)
        .outerjoin(ProviderKeyRow, ProviderKeyRow.id == u.provider_key_id)
        .where(u.team_id == team.id, u.day >= since, u.day <= until)
        .group_by(u.day, *group)
        .order_by(u.day, *group)
    )
    return [_record(row, len(group)) for row in session.execute(query)]


def _group_column(by: UsageBy) -> list[InstrumentedAttribute[Any]]:
    if by is UsageBy.MODEL:
        return [ModelRow.name]
    if by is UsageBy.ENDPOINT:
        return [EndpointRow.name]
    if by is UsageBy.VERSION:
        return [ModelRow.name, ModelVersionRow.version]
    return [ProviderKeyRow.id, ProviderKeyRow.label]


def _record(row: Sequence[object], width: int) -> UsageRecord:
    day, names, sums = row[0], row[1 : 1 + width], row[1 + width :]
    if width == 2 and isinstance(names[1], int) and isinstance(names[0], str):
        group = f"{names[0]} v{names[1]}"
    elif width == 2:
        group = "-" if names[0] is None else f"{names[1]} (key {names[0]})"
    else:
        group = str(names[0])
    values = [int(cast(int, value or 0)) for value in sums]
    return UsageRecord(cast(date, day), group, *values)
