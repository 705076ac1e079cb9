"""Envelope encryption: round trips, row binding, versioned masters, nothing secret in reprs."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest
from pydantic import SecretStr

from registry.keys import (
    KeyDecryptionError,
    MasterKeyMissingError,
    MasterKeyNotInRingError,
    MasterKeyring,
    new_master_key,
)
from registry.keys.crypto import KeyBinding, fingerprint, rewrap, seal, unseal
from tests.registry.test_keys_support import MASTER_1, MASTER_2, MASTER_3, RING_1, RING_2, ring

SECRET = "sk-test-crypto-0123456789abcdef"
ROW = KeyBinding(team_id=1, provider_id=2, key_id=3)


def test_sealed_secret_opens_to_the_same_plaintext() -> None:
    sealed = seal(SECRET, ROW, ring(RING_1))
    assert unseal(sealed, ROW, ring(RING_1)).get_secret_value() == SECRET
    assert SECRET.encode() not in sealed.ciphertext + sealed.wrapped_dek


def test_each_seal_uses_a_fresh_data_key_and_nonce() -> None:
    first, second = seal(SECRET, ROW, ring(RING_1)), seal(SECRET, ROW, ring(RING_1))
    assert first.ciphertext != second.ciphertext
    assert first.wrapped_dek != second.wrapped_dek
    assert first.nonce != second.nonce


@pytest.mark.parametrize(
    "other",
    [
        KeyBinding(team_id=9, provider_id=2, key_id=3),
        KeyBinding(team_id=1, provider_id=9, key_id=3),
        KeyBinding(team_id=1, provider_id=2, key_id=9),
    ],
)
def test_a_ciphertext_moved_to_another_row_does_not_open(other: KeyBinding) -> None:
    sealed = seal(SECRET, ROW, ring(RING_1))
    with pytest.raises(KeyDecryptionError) as caught:
        unseal(sealed, other, ring(RING_1))
    assert SECRET not in str(caught.value)


def test_swapping_the_secret_ciphertext_between_rows_does_not_open() -> None:
    other = KeyBinding(team_id=1, provider_id=2, key_id=4)
    mine, theirs = seal(SECRET, ROW, ring(RING_1)), seal("sk-other-0000000000", other, ring(RING_1))
    forged = replace(mine, ciphertext=theirs.ciphertext, nonce=theirs.nonce)
    with pytest.raises(KeyDecryptionError, match="ciphertext does not authenticate"):
        unseal(forged, ROW, ring(RING_1))


def test_new_seals_use_the_newest_master_and_old_ones_still_open() -> None:
    old = seal(SECRET, ROW, ring(RING_1))
    new = seal(SECRET, ROW, ring(RING_2))
    assert (old.kek_version, new.kek_version) == ("v1", "v2")
    assert unseal(old, ROW, ring(RING_2)).get_secret_value() == SECRET


def test_rewrap_moves_the_data_key_and_leaves_the_ciphertext_alone() -> None:
    old = seal(SECRET, ROW, ring(RING_1))
    moved = rewrap(old, ROW, ring(RING_2))
    assert (moved.ciphertext, moved.nonce) == (old.ciphertext, old.nonce)
    assert moved.kek_version == "v2" and moved.wrapped_dek != old.wrapped_dek
    assert unseal(moved, ROW, ring(f"v2:{MASTER_2}")).get_secret_value() == SECRET


def test_a_row_wrapped_by_a_dropped_master_says_to_add_it_back() -> None:
    sealed = seal(SECRET, ROW, ring(RING_1))
    with pytest.raises(MasterKeyNotInRingError) as caught:
        unseal(sealed, ROW, ring(f"v3:{MASTER_3}"))
    message = str(caught.value)
    assert "key 3 is wrapped with master v1" in message
    assert "not in MODELOPS_MASTER_KEY" in message and "add it back" in message
    assert MASTER_1 not in message and MASTER_3 not in message


def test_rows_find_their_master_by_fingerprint_when_bare_keys_renumber() -> None:
    # "new,old" numbers the bare keys v2,v1; after rotation "new" alone becomes v1.
    sealed = seal(SECRET, ROW, ring(f"{MASTER_2},{MASTER_1}"))
    assert sealed.kek_version == "v2"
    assert unseal(sealed, ROW, ring(MASTER_2)).get_secret_value() == SECRET


def test_the_same_key_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="same key twice"):
        ring(f"v2:{MASTER_1},v1:{MASTER_1}")


def test_an_unset_master_key_says_how_to_make_one() -> None:
    for value in (None, SecretStr("  ")):
        with pytest.raises(MasterKeyMissingError, match="modelops keys new-master"):
            MasterKeyring.from_setting(value)


def test_new_master_keys_are_32_random_urlsafe_bytes() -> None:
    first, second = new_master_key(), new_master_key()
    assert first != second
    assert len(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))) == 32
    assert ring(first).newest.version == "v1"


def test_reprs_never_show_key_material() -> None:
    keyring = ring(RING_2)
    sealed = seal(SECRET, ROW, keyring)
    shown = repr(keyring) + repr(keyring.newest) + repr(sealed)
    for material in (MASTER_1, MASTER_2, SECRET):
        assert material not in shown
    assert repr(sealed.ciphertext) not in shown
    assert fingerprint(keyring.newest.key) in repr(keyring)
