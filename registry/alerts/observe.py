"""What each rule sees at the end of a window: one observation per label set, breaching or
not. Statistics come from rollups (`window_stats`), never from raw outcomes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.alerts.conditions import burn_rate, describe_value, metric_value
from registry.alerts.rules import AlertRule, Target, targets
from registry.alerts.tables import AlertEventRow
from registry.catalog_alerts import BurnPairSpec, format_duration
from registry.domain import Team
from registry.keys.domain import KeyStatus
from registry.keys.tables import ProviderKeyRow
from registry.outcomes import WindowStats, window_stats
from registry.tables import ProviderRow

# How the key pool words a key disabled by an HTTP 401 (adapters' ProviderError text).
UNAUTHORIZED = re.compile(r"\bHTTP 401\b")


@dataclass(frozen=True)
class Observation:
    """A rule's condition for one label set at one instant, with the numbers behind it."""

    rule: AlertRule
    labels: dict[str, str]
    breaching: bool
    severity: str
    value: float | None
    detail: str


@dataclass(frozen=True)
class Window:
    """The instant evaluated, and the previous one (event rules look at what came between)."""

    end: datetime
    previous_end: datetime


def observe(session: Session, team: Team, rules: list[AlertRule], at: Window) -> list[Observation]:
    found: list[Observation] = []
    for rule in rules:
        found += OBSERVERS[rule.spec.kind](session, team, rule, at)
    return found


def _base_labels(rule: AlertRule) -> dict[str, str]:
    return {"alertname": rule.name, "model": rule.model}


Stats = dict[int, WindowStats]  # by version number


def _stats(session: Session, team: Team, target: Target, end: datetime, seconds: int) -> Stats:
    since = end - timedelta(seconds=seconds)
    by_id = window_stats(session, team, target.endpoint_id, since, end)
    return {target.versions[vid]: stats for vid, stats in by_id.items() if vid in target.versions}


def _threshold(session: Session, team: Team, rule: AlertRule, at: Window) -> list[Observation]:
    spec, found = rule.spec, []
    window = int(spec.window or 0)
    for target in targets(session, team, rule):
        for version, stats in sorted(_stats(session, team, target, at.end, window).items()):
            value, sample = metric_value(str(spec.metric), stats)
            breaching = value is not None and sample >= spec.min_samples and _crosses(rule, value)
            labels = _base_labels(rule) | {"endpoint": target.endpoint, "version": str(version)}
            detail = describe_value(rule, value, sample)
            found.append(Observation(rule, labels, breaching, spec.severity, value, detail))
    return found


def _crosses(rule: AlertRule, value: float) -> bool:
    if rule.spec.above is not None:
        return value > rule.spec.above
    return value < float(rule.spec.below or 0)


def _burn_rate(session: Session, team: Team, rule: AlertRule, at: Window) -> list[Observation]:
    found = []
    for target in targets(session, team, rule):
        windows = {s for pair in rule.spec.burn_pairs for s in (pair.long, pair.short)}
        stats = {s: _stats(session, team, target, at.end, s) for s in sorted(windows)}
        versions = sorted({v for by_version in stats.values() for v in by_version})
        for version, pair in ((v, p) for v in versions for p in rule.spec.burn_pairs):
            found.append(_burn_pair(rule, target, version, pair, stats))
    return found


def _burn_pair(
    rule: AlertRule, target: Target, version: int, pair: BurnPairSpec, stats: dict[int, Stats]
) -> Observation:
    """A pair fires only when both windows burn faster than its factor; the short window
    (inside the long one) must hold min_samples requests."""
    objective = float(rule.spec.objective or 0)
    long_stats, short_stats = stats[pair.long].get(version), stats[pair.short].get(version)
    long_burn = burn_rate(long_stats, objective)
    short_burn = burn_rate(short_stats, objective)
    short_n = short_stats.requests if short_stats else 0
    breaching = short_n >= rule.spec.min_samples and min(long_burn, short_burn) > pair.factor
    name = f"{format_duration(pair.long)}/{format_duration(pair.short)}"
    labels = _base_labels(rule) | {
        "endpoint": target.endpoint,
        "version": str(version),
        "window": name,
    }
    long_window, short_window = format_duration(pair.long), format_duration(pair.short)
    detail = (
        f"error budget of {objective:.4g} burning {long_burn:.3g}x over {long_window} and "
        f"{short_burn:.3g}x over {short_window} (n={short_n} in the short window); fires "
        f"above {pair.factor:g}x in both"
    )
    severity = pair.severity or rule.spec.severity
    return Observation(rule, labels, breaching, severity, min(long_burn, short_burn), detail)


def _key_pool(session: Session, team: Team, rule: AlertRule, at: Window) -> list[Observation]:
    K = ProviderKeyRow
    keys = session.execute(
        select(K.label, K.last4, K.status, K.cooldown_until, K.disabled_reason)
        .join(ProviderRow, ProviderRow.id == K.provider_id)
        .where(K.team_id == team.id, ProviderRow.name == rule.provider)
        .order_by(K.label)
    ).all()
    labels = _base_labels(rule) | {"provider": rule.provider}
    if rule.spec.condition == "unauthorized":
        return [
            Observation(
                rule,
                labels | {"key": key.label},
                True,
                rule.spec.severity,
                None,
                f"{rule.provider} key {key.label} (…{key.last4}) was disabled: "
                f"{key.disabled_reason}",
            )
            for key in keys
            if key.status == KeyStatus.DISABLED and UNAUTHORIZED.search(key.disabled_reason or "")
        ]
    if not keys:
        return []
    disabled = sum(1 for key in keys if key.status == KeyStatus.DISABLED)
    cooling = sum(
        1
        for key in keys
        if key.status != KeyStatus.DISABLED and key.cooldown_until and key.cooldown_until > at.end
    )
    usable = len(keys) - disabled - cooling
    detail = (
        f"{usable} of {len(keys)} {rule.provider} keys usable "
        f"({cooling} cooling, {disabled} disabled)"
    )
    return [Observation(rule, labels, usable == 0, rule.spec.severity, float(usable), detail)]


def _event(session: Session, team: Team, rule: AlertRule, at: Window) -> list[Observation]:
    E = AlertEventRow
    rows = session.scalars(
        select(E)
        .where(E.team_id == team.id, E.kind.in_(rule.spec.events or []))
        .where(E.occurred_at > at.previous_end, E.occurred_at <= at.end)
        .order_by(E.id)
    )
    found: dict[tuple[tuple[str, str], ...], Observation] = {}
    for event in _of_rule(rows, rule):
        labels = _base_labels(rule) | {str(k): str(v) for k, v in event.labels.items()}
        labels |= {"alertname": rule.name, "event": event.kind}
        summary = str(event.annotations.get("summary") or event.kind)
        observation = Observation(rule, labels, True, rule.spec.severity, None, summary)
        found[tuple(sorted(labels.items()))] = observation
    return list(found.values())


def _of_rule(events: Iterable[AlertEventRow], rule: AlertRule) -> Iterator[AlertEventRow]:
    for event in events:
        if event.labels.get("model") != rule.model:
            continue
        if rule.spec.endpoint is not None and event.labels.get("endpoint") != rule.spec.endpoint:
            continue
        yield event


def _budget(session: Session, team: Team, rule: AlertRule, at: Window) -> list[Observation]:
    """Each budget over the rule's model (the model's own and the team's): breaching once
    `percent` of its current period's limit is spent (daily usage, registry.usage)."""
    from registry.usage.budgets import BudgetRepository, budget_status

    percent = float(rule.spec.percent or 100)
    found = []
    for budget in BudgetRepository(session, team).all():
        if not budget.applies_to(rule.model_id):
            continue
        status = budget_status(session, budget, at.end)
        spent = 100 * status.fraction
        found.append(
            Observation(
                rule=rule,
                labels={**_base_labels(rule), "budget": budget.name},
                breaching=spent >= percent,
                severity=rule.spec.severity,
                value=spent,
                detail=f"{spent:.1f}% of budget {budget.name} spent this {budget.period.value} "
                f"({status.spent_micro_usd / 1e6:.2f} of {budget.limit_micro_usd / 1e6:.2f} USD; "
                f"fires at {percent:g}%)",
            )
        )
    return found


Observer = Callable[[Session, Team, AlertRule, Window], list[Observation]]
OBSERVERS: dict[str, Observer] = {
    "threshold": _threshold,
    "burn_rate": _burn_rate,
    "key_pool": _key_pool,
    "event": _event,
    "budget": _budget,
}
