"""Checks on what operators type (labels, secrets) and scrubbing secrets out of free text."""

from __future__ import annotations

import re

from registry.errors import InvalidInputError

MIN_SECRET_CHARS = 8  # below this the last four shown in listings would give away too much
MAX_SECRET_CHARS = 4096
MAX_LABEL_CHARS = 64
# Shapes of provider keys and bearer tokens, for keys other than the one being reported
# (a provider may echo any credential; adapters scrub too, this is the last line).
_KEY_SHAPES = re.compile(
    r"\b(?:sk|gsk|hf|xai|r8|whsec|whsk|whpk)[-_][A-Za-z0-9_\-*.]{4,}"
    r"|\bAIza[0-9A-Za-z_\-]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9_\-.~+/=*]+"
)


def check_label(label: str) -> str:
    label = label.strip()
    if not label or len(label) > MAX_LABEL_CHARS or not label.isprintable():
        raise InvalidInputError(
            f"label must be 1 to {MAX_LABEL_CHARS} printable characters", field="label"
        )
    return label


def check_secret(secret: str, *, label: str) -> str:
    """The secret stripped of surrounding whitespace; errors never quote it."""
    secret = secret.strip()
    if not secret:
        raise InvalidInputError(
            "the key is empty; pipe it on stdin or name --from-env", field="key"
        )
    if len(secret) < MIN_SECRET_CHARS or len(secret) > MAX_SECRET_CHARS:
        raise InvalidInputError(
            f"the key has {len(secret)} characters; expected {MIN_SECRET_CHARS} to "
            f"{MAX_SECRET_CHARS}",
            field="key",
        )
    if not _header_safe(secret):
        raise InvalidInputError(_why_not_header_safe(secret), field="key")
    if secret in label:
        raise InvalidInputError(
            "the label contains the key itself; labels are shown", field="label"
        )
    return secret


def _header_safe(secret: str) -> bool:
    # Imported here: the adapters package costs a quarter second to import, which read
    # commands (`keys list`) should not pay; only adding a key needs the rule.
    from adapters.http import is_header_safe

    return is_header_safe(secret)


def _why_not_header_safe(secret: str) -> str:
    allowed = "a key may hold only printable ASCII: letters, digits and punctuation, no spaces"
    if any(char.isspace() or not char.isprintable() for char in secret):
        found = "whitespace or control characters; paste the key alone (no 'Bearer ' prefix)"
    else:
        found = "characters outside ASCII, such as a typographic dash or quote from copying"
    return f"{allowed}; this one holds {found}. Nothing was stored"


def scrub(text: str, secret: str = "", last4: str = "", *, limit: int = 1000) -> str:
    """`text` fit to store: the key's own secret becomes `…last4`, anything else shaped like a
    key becomes `[redacted]`, and the result is cut to `limit` characters."""
    if secret:
        text = text.replace(secret, f"…{last4}")
    return _KEY_SHAPES.sub("[redacted]", text)[:limit]
