"""Envelope encryption of provider keys: AES-256-GCM under a per-key data key (DEK),
the DEK wrapped by a versioned master key (KEK) from MODELOPS_MASTER_KEY.

Rows find their master key by fingerprint, not by version label, because bare keys in
MODELOPS_MASTER_KEY are numbered by position and renumber when an old one is dropped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from modelops.settings import parse_master_keys
from registry.keys.errors import KeyDecryptionError, MasterKeyMissingError, MasterKeyNotInRingError

KEY_BYTES = 32
NONCE_BYTES = 12  # 96-bit nonces: random ones are safe for far more than 2**32 seals per key
_FINGERPRINT_INFO = b"modelops/master-key-fingerprint/v1"


@dataclass(frozen=True)
class MasterKey:
    version: str
    fingerprint: str
    key: bytes = field(repr=False)


def fingerprint(key: bytes) -> str:
    """A public, stable 16-hex-digit name for a master key (an HMAC, so it reveals nothing)."""
    return hmac.new(key, _FINGERPRINT_INFO, hashlib.sha256).hexdigest()[:16]


class MasterKeyring:
    """Every configured master key, newest first; the newest wraps all new data keys."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise MasterKeyMissingError()
        self._keys = [MasterKey(version, fingerprint(key), key) for version, key in keys]
        for master in self._keys:
            if len(master.key) != KEY_BYTES:
                raise ValueError(f"master key {master.version} is not {KEY_BYTES} bytes")
        by_fingerprint = {master.fingerprint: master for master in self._keys}
        if len(by_fingerprint) != len(self._keys):
            raise ValueError("MODELOPS_MASTER_KEY lists the same key twice under two versions")
        self._by_fingerprint = by_fingerprint

    @classmethod
    def from_setting(cls, value: SecretStr | None) -> MasterKeyring:
        """Build from `Settings.master_key`; raises MasterKeyMissingError when it is unset."""
        if value is None or not value.get_secret_value().strip():
            raise MasterKeyMissingError()
        return cls(parse_master_keys(value.get_secret_value()))

    @property
    def newest(self) -> MasterKey:
        return self._keys[0]

    @property
    def keys(self) -> list[MasterKey]:
        return list(self._keys)

    @property
    def versions(self) -> list[str]:
        return [master.version for master in self._keys]

    def find(self, fingerprint: str) -> MasterKey | None:
        return self._by_fingerprint.get(fingerprint)

    def __repr__(self) -> str:
        names = ", ".join(f"{m.version}:{m.fingerprint}" for m in self._keys)
        return f"MasterKeyring({names})"


class SecretBinding(Protocol):
    """The row a sealed secret belongs to: its id (for messages) and the associated data
    that ties the ciphertext and the wrapped DEK to that row."""

    @property
    def key_id(self) -> int: ...

    def secret_aad(self) -> bytes: ...

    def dek_aad(self) -> bytes: ...


@dataclass(frozen=True)
class KeyBinding:
    """The row a ciphertext belongs to; authenticated as associated data so that
    ciphertexts and wrapped DEKs cannot be moved between rows, teams or providers."""

    team_id: int
    provider_id: int
    key_id: int

    def secret_aad(self) -> bytes:
        return (
            f"modelops/provider-key/v1|team={self.team_id}"
            f"|provider={self.provider_id}|key={self.key_id}"
        ).encode()

    def dek_aad(self) -> bytes:
        return f"modelops/dek/v1|team={self.team_id}|key={self.key_id}".encode()


@dataclass(frozen=True)
class SealedSecret:
    ciphertext: bytes = field(repr=False)
    nonce: bytes = field(repr=False)
    wrapped_dek: bytes = field(repr=False)
    dek_nonce: bytes = field(repr=False)
    kek_version: str
    kek_fingerprint: str


def seal(secret: str, binding: SecretBinding, ring: MasterKeyring) -> SealedSecret:
    """Encrypt `secret` under a fresh DEK, and wrap the DEK with the newest master key."""
    dek = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(dek).encrypt(nonce, secret.encode(), binding.secret_aad())
    return _wrap(dek, binding, ring, ciphertext=ciphertext, nonce=nonce)


def unseal(sealed: SealedSecret, binding: SecretBinding, ring: MasterKeyring) -> SecretStr:
    dek = _unwrap(sealed, binding, ring)
    try:
        plaintext = AESGCM(dek).decrypt(sealed.nonce, sealed.ciphertext, binding.secret_aad())
    except InvalidTag:
        raise KeyDecryptionError(
            f"key {binding.key_id}: its ciphertext does not authenticate (the row was altered "
            "or copied from another row)"
        ) from None
    return SecretStr(plaintext.decode())


def rewrap(sealed: SealedSecret, binding: SecretBinding, ring: MasterKeyring) -> SealedSecret:
    """Wrap the same DEK with the newest master key; the secret's ciphertext is untouched."""
    dek = _unwrap(sealed, binding, ring)
    return _wrap(dek, binding, ring, ciphertext=sealed.ciphertext, nonce=sealed.nonce)


def check(sealed: SealedSecret, binding: SecretBinding, ring: MasterKeyring) -> None:
    """Raise unless the row can be opened with the ring (the secret itself is discarded)."""
    unseal(sealed, binding, ring)


def _wrap(
    dek: bytes, binding: SecretBinding, ring: MasterKeyring, *, ciphertext: bytes, nonce: bytes
) -> SealedSecret:
    master = ring.newest
    dek_nonce = os.urandom(NONCE_BYTES)
    wrapped = AESGCM(master.key).encrypt(dek_nonce, dek, binding.dek_aad())
    return SealedSecret(
        ciphertext=ciphertext,
        nonce=nonce,
        wrapped_dek=wrapped,
        dek_nonce=dek_nonce,
        kek_version=master.version,
        kek_fingerprint=master.fingerprint,
    )


def _unwrap(sealed: SealedSecret, binding: SecretBinding, ring: MasterKeyring) -> bytes:
    master = ring.find(sealed.kek_fingerprint)
    if master is None:
        held = [f"{m.version} ({m.fingerprint})" for m in ring.keys]
        raise MasterKeyNotInRingError(
            binding.key_id, sealed.kek_version, sealed.kek_fingerprint, held
        )
    try:
        return AESGCM(master.key).decrypt(sealed.dek_nonce, sealed.wrapped_dek, binding.dek_aad())
    except InvalidTag:
        raise KeyDecryptionError(
            f"key {binding.key_id}: its data key does not unwrap with master {master.version} "
            "(the row was altered or copied from another row)"
        ) from None


def new_master_key() -> str:
    """A fresh master key: 32 random bytes, urlsafe base64 without padding."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip("=")
