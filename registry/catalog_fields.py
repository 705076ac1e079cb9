"""What every catalog spec shares: the strict base model, and the checks whose errors name
what was given and what is allowed (with a near miss suggested)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict

NAME_RULE = "use lowercase letters, digits and '-', starting with a letter or digit"


class Spec(BaseModel):
    # Infinity and NaN have no JSON form, so the database could not store them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    """` (did you mean 'x'?)` for a near miss among `choices`, else nothing."""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_of(what: str, allowed: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            hint = did_you_mean(value, allowed)
            raise ValueError(
                f"{value!r} is not a known {what}{hint}; allowed: {', '.join(allowed)}"
            )
        return value

    return check


def matching(pattern: str, rule: str) -> Callable[[str], str]:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not allowed: {rule}")
        return value

    return check
