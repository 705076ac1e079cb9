"""RFC 6238 time-based one-time codes as authenticator apps make them: SHA-1, 6 digits, 30 s.

The arithmetic is the `cryptography` package's; this module owns the acceptance window.
"""

from __future__ import annotations

import base64
import os
import re

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

STEP_SECONDS = 30
DIGITS = 6
# Codes of the neighbouring steps count too (RFC 6238 §5.2): clocks drift, people type slowly.
WINDOW_STEPS = 1
SECRET_BYTES = 20  # 160 bits, the length RFC 4226 §4 recommends for HMAC-SHA-1
ISSUER = "modelops"
CODE_PATTERN = re.compile(r"^[0-9]{6}$")


def new_secret() -> str:
    """A fresh secret, base32 without padding (what authenticator apps take)."""
    return base64.b32encode(os.urandom(SECRET_BYTES)).decode().rstrip("=")


def _totp(secret: str) -> TOTP:
    padded = secret + "=" * (-len(secret) % 8)
    return TOTP(base64.b32decode(padded), DIGITS, SHA1(), STEP_SECONDS)


def time_step(at: float) -> int:
    return int(at // STEP_SECONDS)


def code_at(secret: str, at: float) -> str:
    """The code an authenticator app shows at Unix time `at`."""
    return _totp(secret).generate(at).decode()


def matching_step(secret: str, code: str, at: float) -> int | None:
    """The time step whose code `code` is, within ±WINDOW_STEPS of `at`, else None."""
    if not CODE_PATTERN.fullmatch(code):
        return None
    totp, now = _totp(secret), time_step(at)
    window = range(max(0, now - WINDOW_STEPS), now + WINDOW_STEPS + 1)
    nearest_first = sorted(window, key=lambda step: abs(step - now))
    for step in nearest_first:
        try:
            totp.verify(code.encode(), step * STEP_SECONDS)  # constant-time comparison
        except InvalidToken:
            continue
        return step
    return None


def provisioning_uri(secret: str, *, team: str, name: str) -> str:
    """The otpauth:// URI an authenticator app scans (Key Uri Format)."""
    return _totp(secret).get_provisioning_uri(f"{name}@{team}", ISSUER)
