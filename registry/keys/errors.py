"""Errors of the key pool, under the registry's tree (see `registry.errors`).

RegistryError
├── InvalidInputError
│   ├── MasterKeyMissingError     MODELOPS_MASTER_KEY is unset but a key must be sealed or opened
│   └── MasterKeyNotInRingError   a row is wrapped with a master key the ring no longer holds
├── NoKeyAvailableError           every key is cooling, disabled or already tried (`first_free_at`)
├── KeyDisabledError              a pinned key (a job's creator) is disabled
└── KeyDecryptionError            a ciphertext does not authenticate (wrong master, tampering)

Messages name keys by id, label and last four characters only, never the secret.
"""

from __future__ import annotations

from datetime import datetime

from registry.errors import InvalidInputError, RegistryError

MASTER_KEY_FIELD = "MODELOPS_MASTER_KEY"


class MasterKeyMissingError(InvalidInputError):
    """No master key is configured, so no key can be sealed or opened."""

    def __init__(self) -> None:
        super().__init__(
            f"{MASTER_KEY_FIELD} is not set; provider keys are encrypted under it. Make one with "
            f"`modelops keys new-master` and export it as {MASTER_KEY_FIELD}",
            field=MASTER_KEY_FIELD,
        )


class MasterKeyNotInRingError(InvalidInputError):
    """The master key that wrapped a row is not among the configured ones."""

    def __init__(self, key_id: int, version: str, fingerprint: str, known: list[str]) -> None:
        super().__init__(
            f"key {key_id} is wrapped with master {version} (fingerprint {fingerprint}) which is "
            f"not in {MASTER_KEY_FIELD} (it holds {', '.join(known)}); add it back, after the "
            "newest, and run `modelops keys rotate-master`",
            field=MASTER_KEY_FIELD,
        )
        self.key_id = key_id
        self.version = version


class NoKeyAvailableError(RegistryError):
    """No key of the provider may be used now.

    `first_free_at` is when the first cooling key (or the cooling model) frees up, or None
    when waiting will not help (every key is disabled, or there are none).
    `model_cooling_until` is set when the requested model itself is cooling on the provider.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        first_free_at: datetime | None,
        model_cooling_until: datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.first_free_at = first_free_at
        self.model_cooling_until = model_cooling_until

    def retry_after_seconds(self, now: datetime) -> float | None:
        """Seconds until something frees up (for a Retry-After header), or None if never."""
        if self.first_free_at is None:
            return None
        return max(0.0, (self.first_free_at - now).total_seconds())


class KeyDisabledError(RegistryError):
    """A key asked for by id is disabled."""

    @classmethod
    def pinned(cls, key_id: int, label: str, last4: str, reason: str | None) -> KeyDisabledError:
        """The refusal of a job's creator key: what is wrong and the command that fixes it."""
        return cls(
            f"key {key_id} ({label} …{last4}) is disabled ({reason}); jobs it created cannot "
            f"be polled or cancelled until `modelops keys enable {key_id}`"
        )


class KeyDecryptionError(RegistryError):
    """A ciphertext or wrapped data key failed authentication."""
