"""The key pool: provider API keys of a team, envelope-encrypted, selected and cooled in SQL.

Modules: `crypto` (AES-GCM envelope, master keyring), `tables` (rows), `repository`
(operator actions), `pool` (acquire and outcomes), `rotation` (master-key re-wrap).
"""

from __future__ import annotations

from registry.keys.cooldowns import CooldownPolicy
from registry.keys.crypto import MasterKeyring, new_master_key
from registry.keys.domain import (
    KeyEvent,
    KeyEventKind,
    KeyOutcome,
    KeyStatus,
    LeasedKey,
    ModelCooldown,
    ProviderKey,
    RecordedFailure,
)
from registry.keys.errors import (
    KeyDecryptionError,
    KeyDisabledError,
    MasterKeyMissingError,
    MasterKeyNotInRingError,
    NoKeyAvailableError,
)
from registry.keys.pool import KeyPool
from registry.keys.repository import KeyRepository
from registry.keys.rotation import RotationReport, UnreadableKey, rotate_master, verify_keys

__all__ = [
    "CooldownPolicy",
    "KeyDecryptionError",
    "KeyDisabledError",
    "KeyEvent",
    "KeyEventKind",
    "KeyOutcome",
    "KeyPool",
    "KeyRepository",
    "KeyStatus",
    "LeasedKey",
    "MasterKeyMissingError",
    "MasterKeyNotInRingError",
    "MasterKeyring",
    "ModelCooldown",
    "NoKeyAvailableError",
    "ProviderKey",
    "RecordedFailure",
    "RotationReport",
    "UnreadableKey",
    "new_master_key",
    "rotate_master",
    "verify_keys",
]
