"""Runtime settings: the one place that reads MODELOPS_* environment variables.

Built in entry points only (`Settings()` in the CLI, `create_app(settings)` in
the gateway), never at import time.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATA_DIR = Path(".modelops")
SUPPORTED_DRIVERS = ("sqlite", "postgresql+psycopg")
MASTER_KEY_BYTES = 32
_URLSAFE_BASE64 = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_NEW_MASTER_HINT = "make one with `modelops keys new-master`"


class ConfigurationError(Exception):
    """The environment names something unusable; the message names the variable."""


class Settings(BaseSettings):
    """modelops configuration, validated when built so a bad value fails at start."""

    model_config = SettingsConfigDict(env_prefix="MODELOPS_", extra="ignore", frozen=True)

    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means SQLite under the data dir.",
    )
    catalog_dir: Path = Path("catalog")
    team: str = Field(
        default="default", min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$"
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="Comma-separated urlsafe-base64 32-byte keys, newest first; "
        "optionally 'v2:<key>,v1:<key>' to name versions.",
    )
    data_dir: Path = DEFAULT_DATA_DIR
    gateway_max_body_bytes: int = Field(
        default=4 << 20, ge=1024, description="Largest request body the gateway reads (413 above)."
    )
    gateway_refresh_seconds: float = Field(
        default=30.0,
        gt=0,
        description="The gateway re-reads routes and tokens this often, besides LISTEN/NOTIFY.",
    )
    gateway_call_budget_seconds: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="Time one gateway request may spend on its provider, every attempt and "
        "wait included; unset: dispatch's call budget.",
    )
    gateway_shadow_queue: int = Field(
        default=1000, ge=1, description="Shadow requests waiting at most; more are dropped."
    )
    outcome_spool_max_bytes: int = Field(
        default=1 << 30,
        ge=1 << 20,
        description="Local spool of outcomes not yet in the database; when full, the "
        "gateway refuses to record more and /readyz says so.",
    )
    outcome_batch_size: int = Field(default=2000, ge=1, le=100_000)
    public_url: str = Field(
        default="",
        max_length=512,
        pattern=r"^(https?://[\x21-\x7e]+)?$",
        description="The gateway's address as providers reach it, for their webhooks "
        "(`<public_url>/v1/webhooks/<provider>`); empty: generation jobs are polled only.",
    )
    outcome_flush_interval_ms: int = Field(default=100, ge=1, le=60_000)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not value:
            return value
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(
                f"is not a database URL ({exc}); expected e.g. "
                "postgresql+psycopg://user@host:5432/db or sqlite:///path.db"
            ) from None
        if url.drivername not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"driver {url.drivername!r} is not supported; use one of: "
                + ", ".join(SUPPORTED_DRIVERS)
            )
        return value

    @field_validator("master_key")
    @classmethod
    def _check_master_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parse_master_keys(value.get_secret_value())
        return value

    @property
    def outcome_spool_dir(self) -> Path:
        return self.data_dir / "outcome-spool"

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'modelops.db').resolve()}"


_KEY_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")


def parse_master_keys(raw: str) -> list[tuple[str, bytes]]:
    """Parse `MODELOPS_MASTER_KEY` into (version, 32-byte key) pairs, newest first.

    Entries are `version:key` or a bare key; bare keys are numbered so that the
    first entry is the newest (`v<N>` … `v1`). Messages never show a key.
    """
    entries = [item.strip() for item in raw.split(",") if item.strip()]
    parsed: list[tuple[str, bytes]] = []
    for position, entry in enumerate(entries):
        version, sep, encoded = entry.partition(":")
        if not sep:
            version, encoded = f"v{len(entries) - position}", entry
        elif not _KEY_VERSION.fullmatch(version):
            # Not echoed: a mangled entry may hold part of a key.
            raise ValueError(
                f"entry {position + 1} has a version label that is not letters, digits, '.', "
                "'_' or '-' (at most 32, e.g. v2); write entries as v2:<key>,v1:<key>"
            )
        parsed.append((version, _decode_master_key(version, encoded)))
    versions = [version for version, _ in parsed]
    if len(set(versions)) != len(versions):
        raise ValueError(f"master key versions repeat: {', '.join(versions)}")
    return parsed


def _decode_master_key(version: str, encoded: str) -> bytes:
    """Strict urlsafe base64 of 32 bytes: `urlsafe_b64decode` alone skips stray characters."""
    if not _URLSAFE_BASE64.fullmatch(encoded):
        raise ValueError(
            f"key {version} is not urlsafe base64 (only A-Z, a-z, 0-9, '-', '_' and trailing "
            f"'=' are allowed); {_NEW_MASTER_HINT}"
        )
    try:
        key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"key {version} is not urlsafe base64; {_NEW_MASTER_HINT}") from None
    if len(key) != MASTER_KEY_BYTES:
        raise ValueError(
            f"key {version} decodes to {len(key)} bytes; each master key must be "
            f"{MASTER_KEY_BYTES} random bytes in urlsafe base64 ({_NEW_MASTER_HINT})"
        )
    if base64.urlsafe_b64encode(key).decode().rstrip("=") != encoded.rstrip("="):
        # Unused trailing bits set: some other text that happens to decode to 32 bytes.
        raise ValueError(f"key {version} is not canonical urlsafe base64; {_NEW_MASTER_HINT}")
    return key
