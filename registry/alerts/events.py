"""What flows report for people to hear about: a promotion, a rollout's or an A/B test's
verdict. `emit` records it in the caller's transaction (so it exists exactly when the change
it reports does); the monitor (or `tasks.monitor_delivery.notify_event`) sends the notices,
and event rules turn matching events into alerts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from registry.alerts.domain import AlertEvent, Severity
from registry.alerts.tables import AlertEventRow
from registry.catalog_alerts import EVENT_KINDS
from registry.catalog_fields import did_you_mean
from registry.domain import Team
from registry.errors import InvalidInputError, translate_database_errors
from registry.orm import utcnow

LABEL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
MAX_LABELS = 16
MAX_LABEL_VALUE = 256
MAX_ANNOTATION = 2000


def emit(
    session: Session,
    team: Team,
    kind: str,
    severity: Severity | str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
    *,
    at: datetime | None = None,
) -> AlertEvent:
    """Record an event of `kind` (see catalog_spec.EVENT_KINDS). Labels identify what it
    is about (`model`, `endpoint`, `version`, `rollout`…; event rules match on `model` and
    `endpoint`); annotations say it to people (`summary`, `description`)."""
    if kind not in EVENT_KINDS:
        raise InvalidInputError(
            f"{kind!r} is not a known event{did_you_mean(kind, EVENT_KINDS)}; "
            f"events: {', '.join(EVENT_KINDS)}",
            field="kind",
        )
    try:
        level = Severity(severity)
    except ValueError:
        allowed = ", ".join(Severity)
        message = f"severity {severity!r} is not one of {allowed}"
        raise InvalidInputError(message, field="severity") from None
    row = AlertEventRow(
        team_id=team.id,
        kind=kind,
        severity=level.value,
        labels=_checked(labels, "labels", MAX_LABEL_VALUE),
        annotations=_checked(annotations or {}, "annotations", MAX_ANNOTATION),
        occurred_at=at or utcnow(),
    )
    with translate_database_errors(f"recording event {kind}"):
        session.add(row)
        session.flush()
    return AlertEvent(
        id=row.id,
        kind=row.kind,
        severity=level,
        labels=dict(row.labels),
        annotations=dict(row.annotations),
        occurred_at=row.occurred_at,
    )


def _checked(values: Mapping[str, str], field: str, limit: int) -> dict[str, str]:
    if len(values) > MAX_LABELS:
        raise InvalidInputError(f"{field}: at most {MAX_LABELS} entries", field=field)
    checked = {}
    for name, value in values.items():
        if not isinstance(name, str) or not LABEL_NAME.fullmatch(name):
            raise InvalidInputError(
                f"{field}: {name!r} is not a name (lowercase letters, digits and _)", field=field
            )
        text = str(value)
        if len(text) > limit or not text.replace("\n", " ").isprintable():
            raise InvalidInputError(
                f"{field}.{name}: at most {limit} printable characters", field=field
            )
        checked[name] = text
    return checked
