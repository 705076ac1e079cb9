"""Human text the registry stores (names of people, reasons, comments, descriptions).

Text is refused on the way in when it carries control characters (a stored ESC sequence
could clear the screen of whoever reads the ledger), and shown escaped on the way out.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what is shown.
_OTHER_CONTROLS = r"\x7f-\x9f\u202a-\u202e\u2066-\u2069"
CONTROL_CHARACTER = re.compile(rf"[\x00-\x1f{_OTHER_CONTROLS}]")
# Multi-line text (a description) may also hold tabs and line feeds (not \r).
CONTROL_CHARACTER_BUT_LAYOUT = re.compile(rf"[\x00-\x08\x0b-\x1f{_OTHER_CONTROLS}]")


def visible(text: str, *, keep_newlines: bool = True) -> str:
    """`text` with every control character written as its escape (`\\x1b`, `\\u202e`)."""
    pattern = CONTROL_CHARACTER_BUT_LAYOUT if keep_newlines else CONTROL_CHARACTER
    return pattern.sub(lambda match: _escape(match.group()), text)


def _escape(character: str) -> str:
    return repr(character)[1:-1]


def check_single_line(value: str) -> str:
    """`value`, unless it holds a control character (a line break included)."""
    return _refuse(CONTROL_CHARACTER, value, "single-line text")


def check_multi_line(value: str) -> str:
    """`value`, unless it holds a control character other than a line break or a tab."""
    return _refuse(CONTROL_CHARACTER_BUT_LAYOUT, value, "text (line breaks and tabs allowed)")


def _refuse(pattern: re.Pattern[str], value: str, what: str) -> str:
    found = pattern.search(value)
    if found is not None:
        raise ValueError(
            f"contains the control character {_escape(found.group())} at position "
            f"{found.start()}; only printable {what} is allowed"
        )
    return value


# Lengths go before the check in each type: given after it, pydantic words them
# as "items after validation".
SingleLine = Annotated[str, AfterValidator(check_single_line)]
MultiLine = Annotated[str, AfterValidator(check_multi_line)]

# The shapes the registry stores; lengths match the columns.
PersonName = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(check_single_line)]
Reason = Annotated[str, Field(min_length=1, max_length=4000), AfterValidator(check_single_line)]
Comment = Annotated[str, Field(max_length=2000), AfterValidator(check_single_line)]
