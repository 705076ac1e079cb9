"""Why no key can be used right now, and when the first one frees up."""

from __future__ import annotations

from collections.abc import Sequence, Set
from datetime import datetime

from registry.keys.domain import KeyStatus, ModelCooldown
from registry.keys.errors import NoKeyAvailableError

KeyState = tuple[int, str, datetime | None]  # id, stored status, cooldown_until


def explain_unavailable(
    keys: Sequence[KeyState],
    *,
    team: str,
    provider: str,
    now: datetime,
    exclude: Set[int],
    model: ModelCooldown | None,
) -> NoKeyAvailableError:
    """The error for "nothing usable": counts by cause and the earliest time worth retrying.

    `first_free_at` is the earliest cooling key's deadline (keys already tried in this
    request do not count), pushed back to the model's deadline when the model is cooling;
    None when only an operator can help (no keys, or all disabled or tried).
    """
    disabled = [key_id for key_id, status, _ in keys if status == KeyStatus.DISABLED]
    usable = [(key_id, until) for key_id, status, until in keys if status != KeyStatus.DISABLED]
    tried = [key_id for key_id, _ in usable if key_id in exclude]
    deadlines = sorted(
        until for key_id, until in usable if key_id not in exclude and until and until > now
    )
    free = len(usable) - len(tried) - len(deadlines)  # > 0 when only the model is cooling
    first_free_at = now if free else (deadlines[0] if deadlines else None)
    parts = [_summary(len(keys), free, len(disabled), deadlines, len(tried), provider)]
    model_until = None
    if model is not None:
        model_until = model.cooldown_until
        first_free_at = None if first_free_at is None else max(first_free_at, model_until)
        parts.append(
            f"model {model.model!r} is cooling on {provider} until "
            f"{model_until.isoformat()} ({model.reason or 'provider overloaded'})"
        )
    return NoKeyAvailableError(
        f"no usable {provider} key in team {team!r}: " + "; ".join(parts),
        provider=provider,
        first_free_at=first_free_at,
        model_cooling_until=model_until,
    )


def _summary(
    total: int, free: int, disabled: int, deadlines: list[datetime], tried: int, provider: str
) -> str:
    if total == 0:
        return f"there are none; add one with `modelops keys add {provider} --label NAME`"
    counts = [f"{free} usable"] if free else []
    if deadlines:
        counts.append(f"{len(deadlines)} cooling (first free at {deadlines[0].isoformat()})")
    if disabled:
        counts.append(f"{disabled} disabled (`modelops keys enable ID` after fixing them)")
    if tried:
        counts.append(f"{tried} already tried by this request")
    return ", ".join(counts)
